package provider_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

var (
	fuzzOnce  sync.Once
	fuzzUsher *testUsher
	fuzzID    string
	fuzzSec   string
)

// fuzzTarget is one Usher shared by every fuzz input (starting one per
// input would make fuzzing crawl).
func fuzzTarget(t *testing.T) *testUsher {
	fuzzOnce.Do(func() {
		fuzzUsher = startUsher(&testing.T{}, nil)
		fuzzID, fuzzSec = fuzzUsher.newClient(&testing.T{}, appRedirect, false)
	})
	if fuzzUsher == nil {
		t.Fatal("could not start Usher")
	}
	return fuzzUsher
}

// Whatever a client sends to the token endpoint, Usher answers with a
// 2xx or a 4xx RFC 6749 error, never a 5xx.
func FuzzTokenRequest(f *testing.F) {
	for _, seed := range []string{
		"grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcallback&code_verifier=x",
		"grant_type=refresh_token&refresh_token=urt_abc&scope=openid",
		"grant_type=client_credentials&scope=a%20b",
		"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=a.b.c",
		"grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token=x",
		"grant_type=password&username=a&password=b",
		"%zz=1&grant_type",
		"",
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, body string, auth bool) {
		u := fuzzTarget(t)
		req, err := http.NewRequest("POST", u.URL+"/oauth/token", strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth {
			req.SetBasicAuth(fuzzID, fuzzSec)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("token endpoint dropped the connection for %q: %v", body, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("token endpoint answered %d for %q", resp.StatusCode, body)
		}
	})
}

// Whatever arrives at /authorize, Usher answers with a redirect to a
// registered URI or a 4xx page, never a 5xx.
func FuzzAuthorizeRequest(f *testing.F) {
	for _, seed := range []string{
		"response_type=code&scope=openid&state=s&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
		"response_type=token&scope=openid",
		"response_type=code&scope=openid&prompt=none&max_age=-1",
		"response_type=code&scope=openid&max_age=99999999999999999999&ui_locales=xx-%%",
		"response_type=code id_token&response_mode=fragment&nonce=n",
		"request=a.b.c&request_uri=urn:x",
		"%00=%00",
	} {
		f.Add(seed, true)
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, query string, withClient bool) {
		u := fuzzTarget(t)
		if withClient {
			query += "&" + url.Values{"client_id": {fuzzID}, "redirect_uri": {appRedirect}}.Encode()
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, err := http.NewRequest("GET", u.URL+"/authorize?"+query, nil)
		if err != nil {
			return // not a request any client could send
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("authorize dropped the connection for %q: %v", query, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("authorize answered %d for %q", resp.StatusCode, query)
		}
		if loc := resp.Header.Get("Location"); resp.StatusCode == http.StatusFound && !strings.HasPrefix(loc, appRedirect) &&
			!strings.HasPrefix(loc, u.URL+"/login") {
			t.Fatalf("authorize redirected to %q for %q", loc, query)
		}
	})
}
