package provider_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usher-id/usher/keys"
)

// With EdDSA or ES256 as the signing algorithm the library must still
// accept its own tokens: JWT access tokens at userinfo and ID tokens as
// id_token_hint at end_session.
func TestNonRSAAlgorithms(t *testing.T) {
	for _, alg := range []string{"ES256", "EdDSA"} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			u := startUsherWith(t, nil, "", keys.Options{Algorithms: []string{alg}})
			user := u.newUser(t, "jane@example.com")
			f := newFlow(t, u, false)
			tok := f.login(t)
			idt, err := f.op.Verifier(&oidc.Config{ClientID: f.cfg.ClientID, SupportedSigningAlgs: []string{alg}}).Verify(ctx, tok.Extra("id_token").(string))
			if err != nil || idt.Subject != user.ID {
				t.Fatalf("verify %s ID token: %v", alg, err)
			}
			if ui, err := f.op.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil || ui.Subject != user.ID {
				t.Fatalf("userinfo with a %s access token: %+v %v", alg, ui, err)
			}
			resp, err := f.b.Client.Get(u.URL + "/end_session?" + url.Values{"id_token_hint": {tok.Extra("id_token").(string)}}.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !logoutForm.Match(body) {
				t.Fatalf("end_session with a %s id_token_hint: %d %s", alg, resp.StatusCode, body)
			}
		})
	}
}
