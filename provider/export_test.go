package provider

import (
	"context"
	"net/http"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// LibraryIntrospection is the introspection endpoint as it was before
// Usher answered its own JWT access tokens: the library answers every
// request clientGuard lets through.
func LibraryIntrospection(p *Provider) http.Handler {
	interceptor := op.NewIssuerInterceptor(p.op.IssuerFromRequest)
	return settleLibraryLogs(noStore(interceptor.Handler(p.clientGuard(atIntrospection, secretPostAsBasic(keepVerifiedPayload(p.op))))))
}

// OwnIntrospection is the introspection endpoint with Usher's fast path
// and no library behind it: a request the fast path would hand to the
// library is answered with status 599.
func OwnIntrospection(p *Provider) http.Handler {
	interceptor := op.NewIssuerInterceptor(p.op.IssuerFromRequest)
	handedOn := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(599) })
	return settleLibraryLogs(noStore(interceptor.Handler(p.clientGuard(atIntrospection, p.introspection(handedOn)))))
}

// AppendIntrospection exposes the fast path's encoder.
var AppendIntrospection = appendIntrospection

// VerifyOwnAccessToken verifies a token as the fast path does, with the
// clock moved by offset for the expiry check (the library checks expiry
// by the wall clock).
func VerifyOwnAccessToken(p *Provider, token string, offset time.Duration) error {
	v := op.NewAccessTokenVerifier(p.opts.Issuer, p.tokenKeys, op.WithSupportedAccessTokenSigningAlgorithms(p.opts.Keys.Algorithms()...))
	v.Offset = offset
	ctx, _ := withVerifiedPayload(context.Background())
	_, err := p.tokenKeys.verifyAccessToken(ctx, token, v)
	return err
}
