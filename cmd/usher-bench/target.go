package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// requestTimeout bounds one HTTP request, so a stalled server cannot keep
// a scenario running much past its duration.
const requestTimeout = 30 * time.Second

// endpoints are the URLs the scenarios use, from the discovery document.
type endpoints struct {
	discovery, issuer, authorize, token, introspect, jwks string
}

// discover reads the discovery document and checks that every endpoint
// the scenarios use is on this machine too.
func discover(ctx context.Context, hc *http.Client, base string) (endpoints, error) {
	e := endpoints{discovery: base + "/.well-known/openid-configuration"}
	status, body, err := get(ctx, hc, e.discovery)
	if err != nil {
		return e, fmt.Errorf("discovery: %w", err)
	}
	if status != http.StatusOK {
		return e, fmt.Errorf("discovery: %s answered %d", e.discovery, status)
	}
	var doc struct {
		Issuer        string `json:"issuer"`
		Authorization string `json:"authorization_endpoint"`
		Token         string `json:"token_endpoint"`
		Introspection string `json:"introspection_endpoint"`
		JWKS          string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return e, fmt.Errorf("discovery: %s is not a discovery document: %w", e.discovery, err)
	}
	e.issuer, e.authorize, e.token, e.introspect, e.jwks = doc.Issuer, doc.Authorization, doc.Token, doc.Introspection, doc.JWKS
	for _, f := range []struct{ name, v string }{
		{"issuer", e.issuer}, {"authorization_endpoint", e.authorize}, {"token_endpoint", e.token},
		{"introspection_endpoint", e.introspect}, {"jwks_uri", e.jwks},
	} {
		if f.v == "" {
			return e, fmt.Errorf("discovery: the document has no %s", f.name)
		}
		if err := checkLoopbackURL(f.v); err != nil {
			return e, fmt.Errorf("discovery: %s: %w", f.name, err)
		}
	}
	return e, nil
}

// maxBody bounds what is read of an answer.
const maxBody = 1 << 20

func do(ctx context.Context, hc *http.Client, req *http.Request) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return resp, nil, fmt.Errorf("reading the answer: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body) // let the connection be reused
	return resp, body, nil
}

func get(ctx context.Context, hc *http.Client, u string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, body, err := do(ctx, hc, req)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// postForm posts form to u, authenticating as the client with
// client_secret_basic (id and secret form-encoded, as RFC 6749 asks).
func postForm(ctx context.Context, hc *http.Client, u, form, id, secret string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, body, err := do(ctx, hc, req)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, body, nil
}

// tokenResponse is the token endpoint's answer, success or error.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// token posts a token request and returns the answer, which must carry an
// access token.
func token(ctx context.Context, hc *http.Client, u, form, id, secret string) (*tokenResponse, error) {
	return parseToken(postForm(ctx, hc, u, form, id, secret))
}

// parseToken reads a token endpoint answer, which must carry an access
// token.
func parseToken(status int, body []byte, err error) (*tokenResponse, error) {
	if err != nil {
		return nil, err
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, fmt.Errorf("token endpoint answered %d with %q", status, snippet(body))
	}
	if status != http.StatusOK || tr.Error != "" {
		return nil, fmt.Errorf("token endpoint answered %d: %s: %s", status, tr.Error, tr.Description)
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("token endpoint answered %d without an access token", status)
	}
	return &tr, nil
}

func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
