package httpx

import (
	"net/http"
	"strconv"
	"time"
)

// HSTS adds Strict-Transport-Security to every response, so a browser
// that has once reached Usher over https never again sends a cookie or a
// password over plain http, even when a link or a typed address says
// http. A zero maxAge adds nothing (and is how an operator turns it off).
func HSTS(maxAge time.Duration, next http.Handler) http.Handler {
	if maxAge <= 0 {
		return next
	}
	value := "max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", value)
		next.ServeHTTP(w, r)
	})
}
