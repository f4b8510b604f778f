package httpx

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
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

// AddressKey is the part of a client address that per-address limits
// count. An IPv4 address counts alone; an IPv6 address counts by its /64,
// since one subscriber is routinely given a whole /64 and could otherwise
// draw a fresh budget for every request. What is not an address (an
// unparseable forwarded header) is returned as it is.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ip
	}
	a = a.WithZone("").Unmap()
	if a.Is4() {
		return a.String()
	}
	return netip.PrefixFrom(a, 64).Masked().String()
}
