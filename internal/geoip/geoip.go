// Package geoip turns a network address into an approximate place ("Berlin,
// Germany") for people to read, from a MaxMind GeoLite2 or GeoIP2 City or
// Country database file the operator provides. Usher never looks addresses
// up over the network.
package geoip

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strings"
	"sync"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Reader looks addresses up in one database file. It is safe for
// concurrent use, Close included: after Close, Locate finds nothing.
type Reader struct {
	mu sync.RWMutex
	db *maxminddb.Reader // nil once closed
}

// Open opens a City or Country database.
func Open(path string) (*Reader, error) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("geoip: %s: no such file", path)
		}
		return nil, fmt.Errorf("geoip: %w", err)
	}
	db, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("geoip: %s is not a MaxMind database (.mmdb): %w", path, err)
	}
	if t := db.Metadata.DatabaseType; !strings.Contains(t, "City") && !strings.Contains(t, "Country") {
		_ = db.Close()
		return nil, fmt.Errorf("geoip: %s is a %q database; want a City or Country one", path, t)
	}
	return &Reader{db: db}, nil
}

// record holds the fields of a City or Country record that Locate uses.
type record struct {
	City struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"city"`
	Subdivisions []struct {
		Names names `maxminddb:"names"`
	} `maxminddb:"subdivisions"`
	Country struct {
		Names   names  `maxminddb:"names"`
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
}

type names struct {
	EN string `maxminddb:"en"`
}

// Locate describes where ip is, in English, as "City, Region, Country"
// shortened to what the database knows ("Berlin, Germany", "Germany");
// a part equal to the one before it is left out (the region "Berlin" of
// the city Berlin, the country Singapore of the city Singapore).
// It returns "" for anything it cannot place: text that is not an
// address, private, loopback and other local addresses, and addresses
// the database does not list.
func (r *Reader) Locate(ip string) (place string) {
	addr, err := netip.ParseAddr(strings.TrimSpace(ip))
	if err != nil {
		return ""
	}
	addr = addr.Unmap().WithZone("")
	if !addr.IsGlobalUnicast() || addr.IsPrivate() {
		return "" // loopback, link-local, multicast, unspecified, private
	}
	// A damaged file must cost a place name, never a page.
	defer func() {
		if recover() != nil {
			place = ""
		}
	}()
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.db == nil {
		return ""
	}
	var rec record
	if err := r.db.Lookup(addr).Decode(&rec); err != nil {
		return ""
	}
	country := rec.Country.Names.EN
	if country == "" {
		country = rec.Country.ISOCode
	}
	city := rec.City.Names.EN
	var region string
	if len(rec.Subdivisions) > 0 {
		region = rec.Subdivisions[0].Names.EN
	}
	parts := make([]string, 0, 3)
	for _, p := range []string{city, region, country} {
		if p != "" && (len(parts) == 0 || parts[len(parts)-1] != p) {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ", ")
}

// Close releases the database.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.db == nil {
		return nil
	}
	err := r.db.Close()
	r.db = nil
	return err
}
