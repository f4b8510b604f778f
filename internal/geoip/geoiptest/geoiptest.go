// Package geoiptest writes tiny MaxMind databases for tests, laid out as
// MaxMind's GeoLite2 City and Country files are.
package geoiptest

import (
	"net"
	"os"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Location is what a test database says of a network; empty fields are
// left out of the record.
type Location struct {
	City, Region, Country string
}

// Write writes a "GeoLite2-City" database to path, mapping each CIDR
// prefix in entries ("203.0.113.0/24", "2001:db8::/32") to its location.
// Reserved networks (loopback, private, documentation) may be mapped too.
func Write(t testing.TB, path string, entries map[string]Location) {
	t.Helper()
	WriteType(t, path, "GeoLite2-City", entries)
}

// WriteType is Write with another database type, such as
// "GeoLite2-Country" or "GeoLite2-ASN".
func WriteType(t testing.TB, path, databaseType string, entries map[string]Location) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: databaseType, Languages: []string{"en"},
		IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for prefix, loc := range entries {
		_, network, err := net.ParseCIDR(prefix)
		if err != nil {
			t.Fatalf("geoiptest: %v", err)
		}
		if err := tree.Insert(network, record(loc)); err != nil {
			t.Fatalf("geoiptest: insert %s: %v", prefix, err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// record builds MaxMind's layout: city.names.en,
// subdivisions[0].names.en, country.names.en and country.iso_code.
func record(loc Location) mmdbtype.Map {
	named := func(name string) mmdbtype.Map {
		return mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(name)}}
	}
	m := mmdbtype.Map{}
	if loc.City != "" {
		m["city"] = named(loc.City)
	}
	if loc.Region != "" {
		m["subdivisions"] = mmdbtype.Slice{named(loc.Region)}
	}
	if loc.Country != "" {
		c := named(loc.Country)
		if code, ok := isoCodes[loc.Country]; ok {
			c["iso_code"] = mmdbtype.String(code)
		}
		m["country"] = c
	}
	return m
}

// isoCodes are the codes of the countries tests tend to use.
var isoCodes = map[string]string{
	"Germany": "DE", "United States": "US", "France": "FR", "United Kingdom": "GB", "Japan": "JP",
	"Netherlands": "NL", "Canada": "CA", "Australia": "AU", "Brazil": "BR", "India": "IN",
}
