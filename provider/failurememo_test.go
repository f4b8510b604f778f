package provider_test

import (
	"net/http"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/usher-id/usher/internal/ushertest"
	"github.com/usher-id/usher/provider"
)

// Replicas spare themselves the failure count reads for keys they saw
// far below their limit within the last second; failures counted on one
// replica still block on another: at once where that replica did not
// know the key, and within the second where it did.
func TestClientFailuresAcrossReplicas(t *testing.T) {
	const perAddr = 4
	mod := func(o *provider.Options) {
		o.TokenFailuresPerAddress, o.TokenFailureWindow = perAddr, time.Minute
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	a := &testUsher{ushertest.Start(t, ushertest.Options{Provider: mod, TrustedProxies: proxies})}
	b := &testUsher{ushertest.Start(t, ushertest.Options{Store: a.Store, Provider: mod, TrustedProxies: proxies})}
	id, secret := serviceClient(t, a)
	cc := url.Values{"grant_type": {"client_credentials"}}
	request := func(u *testUsher, addr, secret string) int {
		t.Helper()
		status, _, _ := call(t, http.MethodPost, u.URL+"/oauth/token", cc, from(addr, basic(id, secret)))
		return status
	}

	// B has never seen 203.0.113.1 fail: it reads the count and refuses.
	for range perAddr {
		if status := request(a, "203.0.113.1", "usec_wrong"); status != http.StatusUnauthorized {
			t.Fatalf("failure on A: %d", status)
		}
	}
	if status := request(b, "203.0.113.1", secret); status != http.StatusTooManyRequests {
		t.Fatalf("right secret on B from an address blocked on A: %d, want 429", status)
	}

	// B served 203.0.113.2 a moment ago, so it knows the address is
	// clean; failures on A block there once B's knowledge is a second
	// old, and at once when B sees a failure itself.
	if status := request(b, "203.0.113.2", secret); status != http.StatusOK {
		t.Fatalf("clean address on B: %d", status)
	}
	for range perAddr {
		if status := request(a, "203.0.113.2", "usec_wrong"); status != http.StatusUnauthorized {
			t.Fatalf("failure on A: %d", status)
		}
	}
	b.Clock.Advance(time.Second)
	if status := request(b, "203.0.113.2", secret); status != http.StatusTooManyRequests {
		t.Fatalf("right secret on B a second after the address was blocked on A: %d, want 429", status)
	}

	if status := request(b, "203.0.113.3", secret); status != http.StatusOK {
		t.Fatalf("clean address on B: %d", status)
	}
	for range perAddr - 1 {
		if status := request(a, "203.0.113.3", "usec_wrong"); status != http.StatusUnauthorized {
			t.Fatalf("failure on A: %d", status)
		}
	}
	if status := request(b, "203.0.113.3", "usec_wrong"); status != http.StatusUnauthorized {
		t.Fatalf("last allowed failure, on B: %d", status)
	}
	if status := request(b, "203.0.113.3", secret); status != http.StatusTooManyRequests {
		t.Fatalf("right secret on B after its own failure reached the limit: %d, want 429", status)
	}
}
