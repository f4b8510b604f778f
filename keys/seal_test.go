package keys_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/usher-id/usher/keys"
)

func TestSealerRoundTrip(t *testing.T) {
	t.Parallel()
	s := newSealer(t, masterKey(t))
	for _, plain := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("private key "), 200)} {
		sealed := s.Seal(plain, []byte("key_1"))
		if len(plain) >= 8 && bytes.Contains(sealed, plain) { // a short plaintext may occur by chance
			t.Fatal("the sealed value contains the plaintext")
		}
		got, err := s.Open(sealed, []byte("key_1"))
		if err != nil {
			t.Fatalf("Open(%d bytes): %v", len(plain), err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
		again := s.Seal(plain, []byte("key_1"))
		if bytes.Equal(again, sealed) {
			t.Fatal("sealing twice gave the same bytes: the nonce is not random")
		}
		if !s.Current(sealed) {
			t.Fatal("Current = false for a value sealed by this sealer")
		}
	}
}

func TestSealerWrongAAD(t *testing.T) {
	t.Parallel()
	s := newSealer(t, masterKey(t))
	sealed := s.Seal([]byte("secret"), []byte("key_1"))
	for _, aad := range [][]byte{[]byte("key_2"), nil, []byte("key_1 ")} {
		if _, err := s.Open(sealed, aad); !errors.Is(err, keys.ErrDamaged) {
			t.Errorf("Open with AAD %q: err = %v, want ErrDamaged", aad, err)
		}
	}
}

func TestSealerTamperedByte(t *testing.T) {
	t.Parallel()
	s := newSealer(t, masterKey(t))
	aad := []byte("key_1")
	sealed := s.Seal([]byte("a private signing key"), aad)
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		_, err := s.Open(tampered, aad)
		switch {
		case i >= 1 && i < 9:
			// The master key id: it no longer names a configured key.
			if !errors.Is(err, keys.ErrMasterKeyMismatch) {
				t.Errorf("byte %d (key id) flipped: err = %v, want ErrMasterKeyMismatch", i, err)
			}
		default:
			if !errors.Is(err, keys.ErrDamaged) {
				t.Errorf("byte %d flipped: err = %v, want ErrDamaged", i, err)
			}
		}
	}
}

func TestSealerTruncated(t *testing.T) {
	t.Parallel()
	s := newSealer(t, masterKey(t))
	aad := []byte("key_1")
	sealed := s.Seal([]byte("a private signing key"), aad)
	for n := range len(sealed) {
		if _, err := s.Open(sealed[:n], aad); !errors.Is(err, keys.ErrDamaged) {
			t.Errorf("truncated to %d of %d bytes: err = %v, want ErrDamaged", n, len(sealed), err)
		}
	}
	if _, err := s.Open(append(bytes.Clone(sealed), 0), aad); !errors.Is(err, keys.ErrDamaged) {
		t.Errorf("one byte appended: err = %v, want ErrDamaged", err)
	}
}

func TestSealerOtherMasterKey(t *testing.T) {
	t.Parallel()
	a, b := newSealer(t, masterKey(t)), newSealer(t, masterKey(t))
	sealed := a.Seal([]byte("secret"), []byte("aad"))
	_, err := b.Open(sealed, []byte("aad"))
	if !errors.Is(err, keys.ErrMasterKeyMismatch) {
		t.Fatalf("Open under another master key: err = %v, want ErrMasterKeyMismatch", err)
	}
	if errors.Is(err, keys.ErrDamaged) {
		t.Fatal("a wrong master key is reported as damage")
	}
	if b.Current(sealed) {
		t.Fatal("Current = true for a value sealed under another master key")
	}
}

func TestSealerPreviousKeyOpens(t *testing.T) {
	t.Parallel()
	ka, kb, kc := masterKey(t), masterKey(t), masterKey(t)
	a := newSealer(t, ka)
	sealed := a.Seal([]byte("secret"), []byte("aad"))

	b := newSealer(t, kb, kc, ka) // a is the second of two previous keys
	got, err := b.Open(sealed, []byte("aad"))
	if err != nil || string(got) != "secret" {
		t.Fatalf("Open with the previous key = %q, %v", got, err)
	}
	if b.Current(sealed) {
		t.Fatal("Current = true for a value sealed under a previous key")
	}
	resealed := b.Seal(got, []byte("aad"))
	if !b.Current(resealed) {
		t.Fatal("Current = false for a value sealed under the current key")
	}
	if _, err := a.Open(resealed, []byte("aad")); !errors.Is(err, keys.ErrMasterKeyMismatch) {
		t.Fatalf("old sealer opens a value sealed under the new key: err = %v", err)
	}
	// A previous key still checks the AAD.
	if _, err := b.Open(sealed, []byte("other")); !errors.Is(err, keys.ErrDamaged) {
		t.Fatalf("previous key, wrong AAD: err = %v, want ErrDamaged", err)
	}
}

func TestSealerCurrentOnGarbage(t *testing.T) {
	t.Parallel()
	s := newSealer(t, masterKey(t))
	for _, b := range [][]byte{nil, {1}, make([]byte, 9), make([]byte, 64)} {
		if s.Current(b) {
			t.Errorf("Current(%x) = true", b)
		}
	}
}

func TestNewSealerRejectsWrongLength(t *testing.T) {
	t.Parallel()
	good := masterKey(t)
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := keys.NewSealer(make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte master key", n)
		}
		if _, err := keys.NewSealer(good, make([]byte, n)); err == nil {
			t.Errorf("NewSealer accepted a %d-byte previous master key", n)
		} else {
			wantErr(t, err, "previous")
		}
	}
	if _, err := keys.NewSealer(good, masterKey(t)); err != nil {
		t.Fatalf("NewSealer with two good keys: %v", err)
	}
}
