package session

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP is the address of the browser: the peer, or, when the peer is a
// trusted proxy, the nearest address in X-Forwarded-For that is not one.
// Without trusted proxies forwarded headers are ignored, since anyone can
// send them.
func (m *Manager) ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if !m.trusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if hop == "" {
			continue
		}
		if !m.trusted(hop) {
			return hop
		}
		host = hop
	}
	return host
}

func (m *Manager) trusted(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, n := range m.opts.TrustedProxies {
		if n.Contains(ip) {
			return true
		}
	}
	return false
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
