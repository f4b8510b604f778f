package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// routes mounts Usher's handlers in front of the library's: discovery and
// the JWKS (pre-rendered, cacheable), the hand-off to the sign-in flow, and
// wrappers that close what the library leaves open.
func (p *Provider) routes(mux *http.ServeMux, discovery *discovery) {
	interceptor := op.NewIssuerInterceptor(p.op.IssuerFromRequest)
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery(discovery))
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", p.serveDiscovery(discovery))
	mux.HandleFunc("GET /keys", p.opts.Keys.ServeJWKS)
	// The session is read once, for the provider's check and the flow's.
	mux.Handle("GET "+loginPath, interceptor.Handler(p.opts.Sessions.Middleware(http.HandlerFunc(p.authorizeContinue))))
	p.deviceRoutes(mux, interceptor)

	mux.Handle(p.op.AuthorizationEndpoint().Relative(), pageProtection(p.authorizeGuard(p.bindBrowser(p.op))))
	mux.Handle(p.op.AuthorizationEndpoint().Relative()+"/callback", pageProtection(p.requireBrowser(p.op)))
	mux.Handle(p.op.TokenEndpoint().Relative(), noStore(interceptor.Handler(p.clientGuard(atToken, p.tokenEndpoint(p.op)))))
	mux.Handle(p.op.UserinfoEndpoint().Relative(), noStore(userinfoGuard(bearerChallenge(p.op))))
	mux.Handle(p.op.IntrospectionEndpoint().Relative(), noStore(interceptor.Handler(p.clientGuard(atIntrospection, p.introspection(secretPostAsBasic(keepVerifiedPayload(p.op)))))))
	mux.Handle(p.op.EndSessionEndpoint().Relative(), formGuard(p.op))
	mux.Handle(p.op.RevocationEndpoint().Relative(), noStore(interceptor.Handler(p.clientGuard(atRevocation, keepRevocation(p.op)))))
	mux.Handle("POST /v1/tokens/{template}", cors.New(*p.corsOptions()).Handler(mintGuard(interceptor.HandlerFunc(p.mintEndpoint))))
	mux.Handle("OPTIONS /v1/tokens/{template}", cors.New(*p.corsOptions()).Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	mux.Handle("/", p.op)
}

// noStore marks responses that carry codes, tokens or user data as
// uncacheable (RFC 6749, section 5.1).
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setNoStore(w)
		next.ServeHTTP(w, r)
	})
}

func setNoStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
}

// secretPostAsBasic lets a resource server authenticate at introspection
// with client_secret_post, as discovery says every endpoint accepts: the
// library reads only HTTP Basic or an assertion there, so the form's
// credentials are moved into the header it reads (escaped as RFC 6749
// section 2.3.1 asks, which it undoes).
func secretPostAsBasic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err == nil && r.Header.Get("Authorization") == "" && r.PostForm.Get("client_assertion") == "" {
			if id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret"); id != "" && secret != "" {
				r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
				r.PostForm.Del("client_secret")
				r.Form.Del("client_secret")
			}
		}
		next.ServeHTTP(w, r)
	})
}

// formGuard answers a request whose query or form cannot be parsed with
// invalid_request, before the library turns it into a 500.
func formGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			httphelper.MarshalJSONWithStatus(w, oidc.ErrInvalidRequest().WithDescription("the request's parameters cannot be read"), http.StatusBadRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Provider) mac(purpose, s string) string {
	m := hmac.New(sha256.New, p.macKey)
	m.Write([]byte(purpose + "\x00" + s))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// clientCredentialsByAssertion is the client_credentials grant for a
// client that authenticates with a private_key_jwt assertion.
func (p *Provider) clientCredentialsByAssertion(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := p.authenticateClient(r)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	st := &opStorage{p: p}
	req, err := st.ClientCredentialsTokenRequest(ctx, c.c.ID, oidc.SpaceDelimitedArray(strings.Fields(r.PostForm.Get("scope"))))
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	resp, err := op.CreateClientCredentialsTokenResponse(ctx, req, p.op, c)
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	httphelper.MarshalJSON(w, resp)
}
