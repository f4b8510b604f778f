package storage

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// ID prefixes, so an ID says what it names.
const (
	PrefixUser         = "user"
	PrefixEmail        = "idn"
	PrefixSession      = "sess"
	PrefixClient       = "client"
	PrefixAuthRequest  = "authreq"
	PrefixRefreshToken = "rt"
	PrefixTokenFamily  = "rtf"
	PrefixAccessToken  = "at"
	// PrefixClientToken names a JWT access token a client got for itself;
	// it has no record unless it was revoked (see provider).
	PrefixClientToken = "atc"
	PrefixSigningKey  = "key"
	PrefixEvent       = "evt"
	PrefixChallenge   = "ech"
	PrefixTemplate    = "jtpl"

	PrefixConnection       = "conn"
	PrefixExternalIdentity = "extid"
	PrefixUpstreamLogin    = "uplogin"
	PrefixSignInFlow       = "flow"
)

// crockford is lower-case Crockford base32: no i, l, o, u to misread.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns prefix_ followed by 26 base32 characters: 48 bits of
// millisecond time, so IDs sort roughly by creation, then 80 random bits.
func NewID(prefix string) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on supported platforms
	var sb strings.Builder
	sb.Grow(len(prefix) + 27)
	sb.WriteString(prefix)
	sb.WriteByte('_')
	// 128 bits as 26 base32 digits: take 5 bits at a time from the top,
	// with the first digit carrying the 3 leftover bits.
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	for i := 25; i >= 0; i-- {
		shift := uint(i * 5)
		var v uint64
		switch {
		case shift >= 64:
			v = hi >> (shift - 64)
		case shift+5 > 64:
			v = lo>>shift | hi<<(64-shift)
		default:
			v = lo >> shift
		}
		sb.WriteByte(crockford[v&31])
	}
	return sb.String()
}
