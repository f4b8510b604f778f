package clients

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
)

// SecretPrefix starts every client secret, so secret scanners and people
// recognise one in a log or a repository.
const SecretPrefix = "usec_"

// MinKeySize is the shortest HMAC key NewSecrets accepts, in bytes.
const MinKeySize = 32

// Secrets generates client secrets and checks them against their stored
// hashes. A secret carries 256 random bits, so a fast keyed hash
// (HMAC-SHA-256) protects it as well as a slow password hash would, and
// client authentication, which runs on every token request, stays cheap.
// The key is the instance's, shared by every replica.
type Secrets struct {
	key []byte
}

// NewSecrets returns a Secrets hashing under key, which must be at least
// MinKeySize bytes.
func NewSecrets(key []byte) (*Secrets, error) {
	if len(key) < MinKeySize {
		return nil, fmt.Errorf("clients: secret hash key is %d bytes, want at least %d", len(key), MinKeySize)
	}
	return &Secrets{key: append([]byte(nil), key...)}, nil
}

// Generate returns a new secret, to be shown once, and the hash to store.
func (s *Secrets) Generate() (secret string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	secret = SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, s.Hash(secret)
}

// Hash returns the HMAC-SHA-256 of secret under the instance key.
func (s *Secrets) Hash(secret string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Verify reports whether secret matches hash, in constant time.
func (s *Secrets) Verify(secret string, hash []byte) bool {
	return hmac.Equal(s.Hash(secret), hash)
}
