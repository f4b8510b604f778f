package provider

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// discoveryMaxAge is how long clients may cache the metadata.
const discoveryMaxAge = "public, max-age=300"

// discovery holds the metadata pre-rendered twice: with and without the
// JWT bearer grant, which is listed only while some client may use it.
type discovery struct {
	plain, withBearer rendered
}

type rendered struct {
	body []byte
	etag string
}

func render(d *oidc.DiscoveryConfiguration) (rendered, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return rendered{}, err
	}
	sum := sha256.Sum256(body)
	return rendered{body: body, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}, nil
}

// renderDiscovery builds the metadata once. It starts from the library's
// document and removes what Usher does not serve: the library always
// lists the implicit and JWT bearer grants and the device endpoint.
func (p *Provider) renderDiscovery(ctx context.Context) (*discovery, error) {
	d := op.CreateDiscoveryConfig(op.ContextWithIssuer(ctx, p.opts.Issuer), p.op, &opStorage{p: p})
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFormPost)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials, oidc.GrantTypeTokenExchange}
	if p.deviceEnabled() {
		d.GrantTypesSupported = append(d.GrantTypesSupported, oidc.GrantTypeDeviceCode)
	} else {
		d.DeviceAuthorizationEndpoint = ""
	}
	d.CheckSessionIframe = ""
	d.RequestObjectSigningAlgValuesSupported = nil
	d.TokenEndpointAuthSigningAlgValuesSupported = []string{"RS256", "ES256", "PS256"} // what the library verifies client assertions with
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.ClaimsParameterSupported = false
	var out discovery
	var err error
	if out.plain, err = render(d); err != nil {
		return nil, err
	}
	d.GrantTypesSupported = append(d.GrantTypesSupported, oidc.GrantTypeBearer)
	if out.withBearer, err = render(d); err != nil {
		return nil, err
	}
	return &out, nil
}

// serveDiscovery answers both the OpenID Connect discovery path and the
// RFC 8414 authorization server metadata path with the same document.
func (p *Provider) serveDiscovery(d *discovery) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		doc := d.plain
		if _, bearer := p.facts(r.Context()); bearer {
			doc = d.withBearer
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", discoveryMaxAge)
		h.Set("ETag", doc.etag)
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Header.Get("If-None-Match") == doc.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(doc.body)
	}
}
