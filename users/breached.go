package users

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"io"
	"slices"
	"strings"
	"sync"
)

// breachedGz lists commonly breached passwords, gzipped: one per line, in
// lower case, sorted bytewise, no duplicates.
//
// Source: the "passwords" frequency list of the npm package zxcvbn 4.4.2
// (lib/frequency_lists.js; tarball sha1 28ec17cf09743edcab056ddd8b1b06262cc73c30),
// 30,000 passwords ranked by how often they appear in public breach corpora
// (zxcvbn credits Mark Burnett's 10M-password corpus). zxcvbn is MIT-licensed,
// Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc.
//
// Only the entries ValidatePassword would otherwise accept are kept (8 to
// 128 characters): shorter ones are refused anyway. That leaves 11,611. To
// rebuild:
//
//	cd "$(mktemp -d)" && npm pack zxcvbn@4.4.2 && tar xzf zxcvbn-4.4.2.tgz
//	node -e 'const p = require("./package/lib/frequency_lists.js").passwords;
//	  const keep = p.map(s => s.toLowerCase()).filter(s => [...s].length >= 8 && [...s].length <= 128);
//	  process.stdout.write([...new Set(keep)].sort().join("\n") + "\n")' | gzip -9n > breached.txt.gz
//
//go:embed breached.txt.gz
var breachedGz []byte

// breachedList is the decompressed list, loaded on first use.
var breachedList = sync.OnceValue(decodeBreached)

// decodeBreached decompresses the list. Its entries share one string.
func decodeBreached() []string {
	zr, err := gzip.NewReader(bytes.NewReader(breachedGz))
	if err != nil {
		panic("users: the embedded breached-password list is corrupt: " + err.Error())
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		panic("users: the embedded breached-password list is corrupt: " + err.Error())
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// commonlyBreached reports whether pw, compared case-insensitively, is on
// the embedded list of commonly breached passwords.
func commonlyBreached(pw string) bool {
	_, found := slices.BinarySearch(breachedList(), strings.ToLower(pw))
	return found
}
