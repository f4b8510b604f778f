package provider

import (
	"net/http"
	"strings"
)

// bearerChallenge adds the RFC 6750 WWW-Authenticate header the library
// leaves out when it refuses a request to a bearer-protected endpoint.
func bearerChallenge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&challengeWriter{ResponseWriter: w, hadToken: hasBearer(r)}, r)
	})
}

func hasBearer(r *http.Request) bool {
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return true
	}
	return r.Method == http.MethodPost && r.PostFormValue("access_token") != ""
}

type challengeWriter struct {
	http.ResponseWriter
	hadToken bool
}

// WriteHeader answers a refused token with 401 and a challenge: the
// library says 403 for a token that is revoked or expired, where RFC 6750
// wants 401 invalid_token.
func (c *challengeWriter) WriteHeader(status int) {
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		status = http.StatusUnauthorized
		v := `Bearer realm="usher"`
		if c.hadToken {
			v += `, error="invalid_token", error_description="the access token is invalid, expired or revoked"`
		}
		c.Header().Set("WWW-Authenticate", v)
	}
	c.ResponseWriter.WriteHeader(status)
}
