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

// renderDiscovery builds the metadata once. It starts from the library's
// document and removes what Usher does not serve: the library always
// lists the implicit and JWT-bearer grants, and the device endpoint even
// when the device grant is not configured.
func (p *Provider) renderDiscovery(ctx context.Context) ([]byte, error) {
	d := op.CreateDiscoveryConfig(op.ContextWithIssuer(ctx, p.opts.Issuer), p.op, &opStorage{p: p})
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{string(oidc.ResponseModeQuery), string(oidc.ResponseModeFormPost)}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials}
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
	return json.Marshal(d)
}

// serveDiscovery answers both the OpenID Connect discovery path and the
// RFC 8414 authorization server metadata path with the same document.
func (p *Provider) serveDiscovery(body []byte) http.HandlerFunc {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", discoveryMaxAge)
		h.Set("ETag", etag)
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(body)
	}
}
