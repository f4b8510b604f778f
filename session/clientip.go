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

// AddressKey is the key that limits counted per address use for ip: an
// IPv4 address itself, an IPv6 address's /64, since one subscriber
// commonly holds a whole /64 and could otherwise spread guesses over it.
func AddressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
