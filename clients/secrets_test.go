package clients

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestSecrets(t *testing.T) {
	if _, err := NewSecrets(make([]byte, 31)); err == nil {
		t.Fatal("NewSecrets accepted a 31-byte key")
	}
	s, err := NewSecrets(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewSecrets(testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	secret, hash := s.Generate()
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		t.Fatalf("secret %q lacks the %s prefix", secret, SecretPrefix)
	}
	if b, err := base64.RawURLEncoding.DecodeString(raw); err != nil || len(b) != 32 {
		t.Fatalf("secret body %q is not 32 bytes of unpadded base64url: %v", raw, err)
	}
	if len(hash) != 32 || bytes.Contains(hash, []byte(secret)) || bytes.Equal(hash, []byte(secret)) {
		t.Fatalf("hash %x does not look like an HMAC-SHA-256 of the secret", hash)
	}
	if !bytes.Equal(s.Hash(secret), hash) {
		t.Fatal("Hash is not deterministic")
	}
	if !s.Verify(secret, hash) {
		t.Fatal("Verify rejects the right secret")
	}
	if s.Verify(secret+"x", hash) || s.Verify("", hash) || s.Verify(secret, nil) || s.Verify(secret, hash[:31]) {
		t.Fatal("Verify accepts a wrong secret or hash")
	}
	if other.Verify(secret, hash) {
		t.Fatal("a secret verifies under another instance's key")
	}
	second, _ := s.Generate()
	if second == secret {
		t.Fatal("Generate repeated a secret")
	}
}

func BenchmarkVerify(b *testing.B) {
	s, _ := NewSecrets(testKey(1))
	secret, hash := s.Generate()
	for b.Loop() {
		s.Verify(secret, hash)
	}
}
