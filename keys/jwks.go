package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
)

func etagOf(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// ServeJWKS answers with the published public keys. The body is rendered
// once per change, cached by verifiers for JWKSMaxAge, and revalidated with
// its ETag.
func (m *Manager) ServeJWKS(w http.ResponseWriter, r *http.Request) {
	s := m.snap.Load()
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(m.opts.JWKSMaxAge.Seconds())))
	h.Set("ETag", s.etag)
	// Public keys are public: any origin may read them (SPAs verify too).
	h.Set("Access-Control-Allow-Origin", "*")
	if etagMatches(r.Header.Get("If-None-Match"), s.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(s.jwks)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(s.jwks)
}

// etagMatches implements If-None-Match's weak comparison over a list.
func etagMatches(header, etag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
