package keys_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
)

// TestJWKSPublicPartsOnly puts a retired, a current and a next key of every
// algorithm in the JWKS and checks each member of each key.
func TestJWKSPublicPartsOnly(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, allAlgs...))
	ctx := context.Background()
	for _, alg := range allAlgs {
		if _, err := m.Rotate(ctx, alg, true); err != nil { // current -> retired
			t.Fatal(err)
		}
		if _, err := m.Rotate(ctx, alg, false); err != nil { // a next key
			t.Fatal(err)
		}
	}
	recs := listKeys(t, store)
	states := map[string]string{}
	algOf := map[string]string{}
	for _, alg := range allAlgs {
		for _, st := range []string{storage.KeyNext, storage.KeyCurrent, storage.KeyRetired} {
			if n := len(byState(recs, alg, st)); n != 1 {
				t.Fatalf("%s: %d %s keys, want 1", alg, n, st)
			}
		}
	}
	for _, r := range recs {
		states[r.ID], algOf[r.ID] = r.State, r.Algorithm
	}

	w := serve(m, http.MethodGet)
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 9 {
		t.Fatalf("JWKS has %d keys, want 9", len(raw.Keys))
	}
	kty := map[string]string{"RS256": "RSA", "ES256": "EC", "EdDSA": "OKP"}
	seen := map[string]bool{}
	for _, k := range raw.Keys {
		kid, _ := k["kid"].(string)
		alg := algOf[kid]
		if alg == "" {
			t.Fatalf("JWKS key with unknown kid %q: %v", kid, k)
		}
		seen[kid] = true
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("%s key %s (%s) has private member %q", alg, kid, states[kid], private)
			}
		}
		if k["alg"] != alg || k["use"] != "sig" || k["kty"] != kty[alg] {
			t.Errorf("%s key %s (%s): alg %v use %v kty %v", alg, kid, states[kid], k["alg"], k["use"], k["kty"])
		}
	}
	if len(seen) != 9 {
		t.Fatalf("JWKS has %d distinct kids", len(seen))
	}
	// The parsed form agrees, and so does PublicKeys.
	for _, k := range fetchJWKS(t, m).Keys {
		if !k.IsPublic() || !k.Valid() {
			t.Errorf("key %s: public %v valid %v", k.KeyID, k.IsPublic(), k.Valid())
		}
	}
	pub := m.PublicKeys()
	if len(pub) != 9 {
		t.Fatalf("PublicKeys has %d keys", len(pub))
	}
	for _, k := range pub {
		if !k.IsPublic() {
			t.Errorf("PublicKeys: %s is not public", k.KeyID)
		}
	}
}

func TestJWKSHeaders(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	sealer := newSealer(t, masterKey(t))
	m := newManager(t, store, sealer, keys.Options{Algorithms: []string{"EdDSA"}, Now: c.Now})
	w := serve(m, http.MethodGet)
	h := w.Header()
	if w.Code != 200 {
		t.Fatalf("status %d", w.Code)
	}
	for name, want := range map[string]string{
		"Content-Type":                "application/json",
		"Cache-Control":               "public, max-age=900",
		"Access-Control-Allow-Origin": "*",
		"Content-Length":              strconv.Itoa(w.Body.Len()),
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if etag := h.Get("ETag"); !regexp.MustCompile(`^"[0-9a-f]{8,}"$`).MatchString(etag) {
		t.Errorf("ETag = %q, want a strong quoted tag", etag)
	}

	m2 := newManager(t, store, sealer, keys.Options{Algorithms: []string{"EdDSA"}, JWKSMaxAge: 10 * time.Minute, Now: c.Now})
	if got := serve(m2, http.MethodGet).Header().Get("Cache-Control"); got != "public, max-age=600" {
		t.Errorf("Cache-Control with JWKSMaxAge 10m = %q", got)
	}

	head := serve(m, http.MethodHead)
	if head.Code != 200 || head.Body.Len() != 0 || head.Header().Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
		t.Errorf("HEAD: status %d, %d body bytes, Content-Length %q", head.Code, head.Body.Len(), head.Header().Get("Content-Length"))
	}
}

func TestJWKSConditionalRequests(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, "ES256"))
	etag := serve(m, http.MethodGet).Header().Get("ETag")
	bare := etag[1 : len(etag)-1]
	for _, tc := range []struct {
		inm  string
		want int
	}{
		{etag, 304},
		{"W/" + etag, 304},
		{`"0123", ` + etag, 304},
		{`"0123",W/` + etag + `, "4567"`, 304},
		{"  " + etag + "  ", 304},
		{"*", 304},
		{"", 200},
		{`"0123456789abcdef01234567"`, 200},
		{bare, 200},
		{`"` + bare + `x"`, 200},
		{`W/"0123", "4567"`, 200},
	} {
		w := serve(m, http.MethodGet, "If-None-Match", tc.inm)
		if w.Code != tc.want {
			t.Errorf("If-None-Match %q: status %d, want %d", tc.inm, w.Code, tc.want)
			continue
		}
		if tc.want == 304 {
			if w.Body.Len() != 0 {
				t.Errorf("If-None-Match %q: 304 with %d body bytes", tc.inm, w.Body.Len())
			}
			if w.Header().Get("ETag") != etag || w.Header().Get("Cache-Control") == "" {
				t.Errorf("If-None-Match %q: 304 without ETag/Cache-Control: %v", tc.inm, w.Header())
			}
		} else if w.Body.Len() == 0 {
			t.Errorf("If-None-Match %q: 200 without a body", tc.inm)
		}
	}
}

func TestJWKSETagFollowsKeySet(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	opts := testOptions(c, "ES256", "EdDSA")
	m := newManager(t, store, newSealer(t, masterKey(t)), opts)
	ctx := context.Background()
	etags := map[string]string{}
	etagNow := func(step string) string {
		t.Helper()
		w := serve(m, http.MethodGet)
		e := w.Header().Get("ETag")
		for s, prev := range etags {
			if prev == e {
				t.Fatalf("%s: ETag %s is the one of %s", step, e, s)
			}
		}
		etags[step] = e
		return e
	}
	e0 := etagNow("start")
	maintain(t, m)
	if e := serve(m, http.MethodGet).Header().Get("ETag"); e != e0 {
		t.Fatal("ETag changed without a key change")
	}

	next, err := m.Rotate(ctx, "ES256", false)
	if err != nil {
		t.Fatal(err)
	}
	e1 := etagNow("next key")
	if w := serve(m, http.MethodGet, "If-None-Match", e0); w.Code != 200 || !hasKid(fetchJWKS(t, m), next.ID) {
		t.Fatalf("stale ETag: status %d", w.Code)
	}
	if w := serve(m, http.MethodGet, "If-None-Match", e1); w.Code != 304 {
		t.Fatalf("fresh ETag: status %d", w.Code)
	}

	c.Advance(publishAhead(opts))
	maintain(t, m) // promotes: same key set, only states change
	if hasKid(fetchJWKS(t, m), next.ID) == false || currentKid(t, m, "ES256") != next.ID {
		t.Fatal("next key not promoted")
	}

	c.Advance(retention(opts))
	maintain(t, m) // deletes the retired key
	etagNow("deleted")
}

// Replicas render the same JWKS, so a verifier revalidating against another
// replica gets a 304.
func TestJWKSETagSameOnReplicas(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	sealer := newSealer(t, masterKey(t))
	a := newManager(t, store, sealer, testOptions(c, allAlgs...))
	if _, err := a.Rotate(context.Background(), "ES256", true); err != nil {
		t.Fatal(err)
	}
	b := newManager(t, store, sealer, testOptions(c, allAlgs...))
	wa, wb := serve(a, http.MethodGet), serve(b, http.MethodGet)
	if wa.Header().Get("ETag") != wb.Header().Get("ETag") || wa.Body.String() != wb.Body.String() {
		t.Fatalf("replicas differ:\n%s %s\n%s %s", wa.Header().Get("ETag"), wa.Body, wb.Header().Get("ETag"), wb.Body)
	}
	if w := serve(b, http.MethodGet, "If-None-Match", wa.Header().Get("ETag")); w.Code != 304 {
		t.Fatalf("revalidation against the other replica: %d", w.Code)
	}
}

// TestJWKSOverHTTP is the relying party's view through a real HTTP server.
func TestJWKSOverHTTP(t *testing.T) {
	t.Parallel()
	store, c := openSQLite(t), newClock()
	m := newManager(t, store, newSealer(t, masterKey(t)), testOptions(c, allAlgs...))
	srv := httptest.NewServer(http.HandlerFunc(m.ServeJWKS))
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	for _, alg := range allAlgs {
		mustVerify(t, set, sign(t, m, c, alg, time.Hour), alg, c.Now())
	}

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	resp2, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusNotModified {
		t.Fatalf("conditional GET: %d", resp2.StatusCode)
	}
}
