package keys_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/usher-id/usher/keys"
)

// benchManager is a manager with a key of every algorithm, on SQLite.
func benchManager(b *testing.B) (*keys.Manager, *clock) {
	b.Helper()
	c := newClock()
	opts := testOptions(c, allAlgs...)
	opts.MaxTokenLifetime = 24 * time.Hour
	return newManager(b, openSQLite(b), newSealer(b, masterKey(b)), opts), c
}

func BenchmarkSign(b *testing.B) {
	m, c := benchManager(b)
	exp := c.Now().Add(time.Hour)
	payload := claims(c.Now(), exp)
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := m.Sign(alg, payload, exp); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawGoJose is the baseline: the same key and payload through a
// go-jose signer built by hand.
func BenchmarkRawGoJose(b *testing.B) {
	m, c := benchManager(b)
	payload := claims(c.Now(), c.Now().Add(time.Hour))
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			k, err := m.Current(alg)
			if err != nil {
				b.Fatal(err)
			}
			signer, err := jose.NewSigner(
				jose.SigningKey{Algorithm: jose.SignatureAlgorithm(alg), Key: jose.JSONWebKey{Key: k.Key(), KeyID: k.ID(), Algorithm: alg}},
				(&jose.SignerOptions{}).WithType("JWT"))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				jws, err := signer.Sign(payload)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.CompactSerialize(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	m, c := benchManager(b)
	set := fetchJWKS(b, m)
	for _, alg := range allAlgs {
		b.Run(alg, func(b *testing.B) {
			tok := sign(b, m, c, alg, time.Hour)
			key := set.Key(kidOf(b, tok))[0]
			algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
			b.ReportAllocs()
			for b.Loop() {
				jws, err := jose.ParseSigned(tok, algs)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := jws.Verify(key.Key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// nopWriter is a reusable http.ResponseWriter that keeps only the status.
type nopWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }
func (w *nopWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

func BenchmarkJWKS(b *testing.B) {
	m, _ := benchManager(b)
	etag := serve(m, http.MethodGet).Header().Get("ETag")
	for _, tc := range []struct {
		name, inm string
		want      int
	}{
		{"Full", "", http.StatusOK},
		{"NotModified", `W/"0000", ` + etag, http.StatusNotModified},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
			if tc.inm != "" {
				r.Header.Set("If-None-Match", tc.inm)
			}
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.code = http.StatusOK
				m.ServeJWKS(w, r)
			}
			if w.code != tc.want {
				b.Fatalf("status %d, want %d", w.code, tc.want)
			}
		})
	}
}
