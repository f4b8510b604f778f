package session

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	m := &Manager{opts: Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	tests := []struct {
		name, peer, forwarded, want string
	}{
		{"direct", "203.0.113.5:4000", "", "203.0.113.5"},
		{"untrusted peer's header is ignored", "203.0.113.5:4000", "198.51.100.1", "203.0.113.5"},
		{"through the balancer", "10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},
		{"spoofed hop before the real client", "10.1.2.3:4000", "1.2.3.4, 198.51.100.1", "198.51.100.1"},
		{"several balancers", "10.1.2.3:4000", "198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"only balancers", "10.1.2.3:4000", "10.9.9.9", "10.9.9.9"},
		{"garbage hop", "10.1.2.3:4000", "not-an-ip", "not-an-ip"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.peer
		if tt.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tt.forwarded)
		}
		if got := m.ClientIP(r); got != tt.want {
			t.Errorf("%s: clientIP = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestAddressKey(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.5":               "203.0.113.5",
		"::ffff:203.0.113.5":        "203.0.113.5",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":           "2001:db8:1:3::/64",
		"not-an-ip":                 "not-an-ip",
	} {
		if got := AddressKey(ip); got != want {
			t.Errorf("AddressKey(%q) = %q, want %q", ip, got, want)
		}
	}
	if AddressKey("2001:db8:1:2::1") == AddressKey("2001:db8:1:3::1") {
		t.Error("two /64s share a key")
	}
}
