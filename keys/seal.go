package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// MasterKeySize is the length of a master key: AES-256.
const MasterKeySize = 32

var (
	// ErrMasterKeyMismatch means a secret was sealed under a master key
	// that is not configured.
	ErrMasterKeyMismatch = errors.New("the master key does not match")
	// ErrDamaged means a sealed secret is truncated or was altered.
	ErrDamaged = errors.New("the stored secret is damaged")
)

// Sealed secrets are: version byte, 8-byte master key id, 12-byte nonce,
// then AES-256-GCM ciphertext and tag. The key id tells a wrong master key
// apart from a damaged secret and lets rewrap find what is still sealed
// under a previous key.
const (
	sealVersion  = 1
	keyIDSize    = 8
	sealOverhead = 1 + keyIDSize + 12 + 16
)

type masterKey struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

func newMasterKey(k []byte) (*masterKey, error) {
	if len(k) != MasterKeySize {
		return nil, fmt.Errorf("keys: a master key is %d bytes, got %d", MasterKeySize, len(k))
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := &masterKey{aead: aead}
	sum := sha256.Sum256(append([]byte("usher master key id\x00"), k...))
	copy(m.id[:], sum[:])
	return m, nil
}

// Sealer encrypts secrets at rest under the current master key and opens
// secrets sealed under it or under previous ones (during a master-key
// rotation).
type Sealer struct {
	current  *masterKey
	previous []*masterKey
}

// NewSealer returns a Sealer that seals with current and opens with current
// or any of previous.
func NewSealer(current []byte, previous ...[]byte) (*Sealer, error) {
	c, err := newMasterKey(current)
	if err != nil {
		return nil, err
	}
	s := &Sealer{current: c}
	for _, p := range previous {
		m, err := newMasterKey(p)
		if err != nil {
			return nil, fmt.Errorf("previous master key: %w", err)
		}
		s.previous = append(s.previous, m)
	}
	return s, nil
}

// Seal encrypts plaintext. aad binds the result to its place (a key id or a
// secret name), so a sealed value moved to another row does not open.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	out := make([]byte, 1+keyIDSize+12, sealOverhead+len(plaintext))
	out[0] = sealVersion
	copy(out[1:], s.current.id[:])
	_, _ = rand.Read(out[1+keyIDSize:]) // crypto/rand.Read never fails on supported platforms
	return s.current.aead.Seal(out, out[1+keyIDSize:], plaintext, aad)
}

// Open decrypts what Seal produced.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < sealOverhead || sealed[0] != sealVersion {
		return nil, ErrDamaged
	}
	m := s.keyFor(sealed)
	if m == nil {
		return nil, ErrMasterKeyMismatch
	}
	nonce := sealed[1+keyIDSize : 1+keyIDSize+12]
	plain, err := m.aead.Open(nil, nonce, sealed[1+keyIDSize+12:], aad)
	if err != nil {
		return nil, ErrDamaged
	}
	return plain, nil
}

// Current reports whether sealed was sealed under the current master key.
func (s *Sealer) Current(sealed []byte) bool {
	return len(sealed) > 1+keyIDSize && bytes.Equal(sealed[1:1+keyIDSize], s.current.id[:])
}

func (s *Sealer) keyFor(sealed []byte) *masterKey {
	id := sealed[1 : 1+keyIDSize]
	for _, m := range append([]*masterKey{s.current}, s.previous...) {
		if bytes.Equal(id, m.id[:]) {
			return m
		}
	}
	return nil
}
