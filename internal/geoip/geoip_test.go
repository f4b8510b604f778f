package geoip_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/usher-id/usher/internal/geoip"
	"github.com/usher-id/usher/internal/geoip/geoiptest"
)

func open(t *testing.T, path string) *geoip.Reader {
	t.Helper()
	r, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestLocate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geoiptest.Write(t, path, map[string]geoiptest.Location{
		"203.0.113.0/24":  {City: "Berlin", Region: "Land Berlin", Country: "Germany"},
		"198.51.100.0/24": {City: "Austin", Region: "Texas", Country: "United States"},
		"192.0.2.0/24":    {Country: "Germany"},
		"81.2.69.0/24":    {City: "Hamburg", Region: "Hamburg", Country: "Germany"},
		"2001:db8::/32":   {City: "Paris", Region: "Île-de-France", Country: "France"},
		"127.0.0.0/8":     {City: "Loopback", Country: "Nowhere"},
		"10.0.0.0/8":      {City: "Private", Country: "Nowhere"},
		"fc00::/7":        {City: "Private", Country: "Nowhere"},
	})
	r := open(t, path)
	for ip, want := range map[string]string{
		"203.0.113.7":        "Berlin, Land Berlin, Germany",
		"198.51.100.20":      "Austin, Texas, United States",
		"192.0.2.1":          "Germany",
		"81.2.69.160":        "Hamburg, Germany", // the region is the city
		"2001:db8::1":        "Paris, Île-de-France, France",
		"::ffff:203.0.113.7": "Berlin, Land Berlin, Germany",
		" 203.0.113.7 ":      "Berlin, Land Berlin, Germany",
		"8.8.8.8":            "", // not in the database
		"2a00::1":            "",
		"127.0.0.1":          "", // loopback and private, even when listed
		"::1":                "",
		"10.1.2.3":           "",
		"fd00::1":            "",
		"169.254.1.1":        "",
		"0.0.0.0":            "",
		"":                   "",
		"not an address":     "",
		"203.0.113.7:443":    "",
		"203.0.113.0/24":     "",
		"999.1.1.1":          "",
		"\x00":               "",
	} {
		if got := r.Locate(ip); got != want {
			t.Errorf("Locate(%q) = %q, want %q", ip, got, want)
		}
	}
}

func TestLocateCountryDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	geoiptest.WriteType(t, path, "GeoLite2-Country", map[string]geoiptest.Location{
		"203.0.113.0/24": {Country: "Germany"},
	})
	r := open(t, path)
	if got := r.Locate("203.0.113.7"); got != "Germany" {
		t.Errorf("Locate = %q, want Germany", got)
	}
}

func TestLocateConcurrentAndClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	geoiptest.Write(t, path, map[string]geoiptest.Location{"203.0.113.0/24": {City: "Berlin", Country: "Germany"}})
	r, err := geoip.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if got := r.Locate("203.0.113.7"); got != "Berlin, Germany" && got != "" {
					t.Errorf("Locate = %q", got)
					return
				}
			}
		})
	}
	wg.Go(func() { r.Close() })
	wg.Wait()
	if got := r.Locate("203.0.113.7"); got != "" {
		t.Errorf("Locate after Close = %q, want \"\"", got)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	notMMDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notMMDB, []byte("this is not a MaxMind database\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.mmdb")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	asn := filepath.Join(dir, "asn.mmdb")
	geoiptest.WriteType(t, asn, "GeoLite2-ASN", map[string]geoiptest.Location{"203.0.113.0/24": {Country: "Germany"}})
	for _, tc := range []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "missing.mmdb"), "no such file"},
		{"not mmdb", notMMDB, "is not a MaxMind database"},
		{"empty", empty, "is not a MaxMind database"},
		{"folder", dir, "is not a MaxMind database"},
		{"other type", asn, `is a "GeoLite2-ASN" database; want a City or Country one`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := geoip.Open(tc.path)
			if err == nil {
				r.Close()
				t.Fatal("Open succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error = %q, want one line containing %q", msg, tc.want)
			}
		})
	}
}

func FuzzLocate(f *testing.F) {
	path := filepath.Join(f.TempDir(), "city.mmdb")
	geoiptest.Write(f, path, map[string]geoiptest.Location{"203.0.113.0/24": {City: "Berlin", Country: "Germany"}})
	r, err := geoip.Open(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { r.Close() })
	for _, s := range []string{"203.0.113.7", "::1", "", "fe80::1%eth0", "1.2.3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ip string) { r.Locate(ip) })
}
