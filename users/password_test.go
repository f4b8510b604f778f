package users

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// cheap keeps tests fast; production uses DefaultParams.
var cheap = Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

func TestHashVerify(t *testing.T) {
	h := NewHasher(cheap, 2)
	enc, err := h.Hash(t.Context(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash = %q, want an argon2id PHC string with the given params", enc)
	}
	again, err := h.Hash(t.Context(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if again == enc {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, tt := range []struct {
		pw   string
		want bool
	}{
		{"correct horse", true},
		{"correct horsE", false},
		{"correct horse ", false},
		{"", false},
	} {
		ok, err := h.Verify(t.Context(), tt.pw, enc)
		if err != nil || ok != tt.want {
			t.Errorf("Verify(%q) = %v, %v; want %v", tt.pw, ok, err, tt.want)
		}
	}
}

func TestDefaultParamsHash(t *testing.T) {
	if testing.Short() {
		t.Skip("19 MiB hash")
	}
	h := NewHasher(DefaultParams(), 1)
	enc, err := h.Hash(t.Context(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash = %q", enc)
	}
	if ok, err := h.Verify(t.Context(), "correct horse", enc); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

func TestVerifyMalformedHash(t *testing.T) {
	h := NewHasher(cheap, 1)
	for _, enc := range []string{
		"",
		"plaintext",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", // bcrypt
		"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=18$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",     // argon2 panics on t=0
		"$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",     // and on p=0
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$",                                     // and on an empty key
		"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5", // 4 TiB
		"$argon2id$v=19$m=64,t=1,p=1$!!!$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5",
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5$extra",
	} {
		ok, err := h.Verify(t.Context(), "pw", enc)
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("Verify(%q) = %v, %v; want ErrMalformedHash", enc, ok, err)
		}
	}
}

func TestDummyHashIsWellFormed(t *testing.T) {
	h := NewHasher(cheap, 1)
	if ok, err := h.Verify(t.Context(), "anything", h.dummy); ok || err != nil {
		t.Fatalf("Verify against the dummy hash = %v, %v; want false, nil", ok, err)
	}
	if !strings.HasPrefix(h.dummy, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("dummy = %q does not use the hasher's params, so its timing would differ", h.dummy)
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	const limit, callers = 2, 8
	h := NewHasher(cheap, limit)
	var cur, peak, total atomic.Int32
	entered := make(chan struct{}, callers)
	proceed := make(chan struct{})
	h.inSlot = func() {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		total.Add(1)
		entered <- struct{}{}
		<-proceed
		cur.Add(-1)
	}
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			if i%2 == 0 {
				_, err := h.Hash(t.Context(), "password")
				errs <- err
				return
			}
			_, err := h.Verify(t.Context(), "password", h.dummy)
			errs <- err
		})
	}
	for range limit {
		<-entered
	}
	// limit callers hold a slot and are stuck in it: no slot is left.
	select {
	case h.sem <- struct{}{}:
		t.Fatalf("a slot is free while %d callers hold one", limit)
	default:
	}
	if n := cur.Load(); n != limit {
		t.Fatalf("%d callers in a slot, want %d", n, limit)
	}
	close(proceed)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if total.Load() != callers || peak.Load() != limit || len(h.sem) != 0 {
		t.Fatalf("%d of %d callers ran, peak concurrency %d (want %d), %d slots still held",
			total.Load(), callers, peak.Load(), limit, len(h.sem))
	}
}

func TestHasherWaitHonoursContext(t *testing.T) {
	h := NewHasher(cheap, 1)
	holding, release := make(chan struct{}), make(chan struct{})
	first := true
	h.inSlot = func() {
		if first {
			first = false
			close(holding)
			<-release
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(t.Context(), "password")
		done <- err
	}()
	<-holding // the only slot is taken

	// Two more callers wait for the slot; cancel once both are past the
	// context check, so only the wait itself can notice.
	ctx, cancel := context.WithCancel(t.Context())
	arrived := make(chan struct{}, 2)
	h.waiting = func() { arrived <- struct{}{} }
	waiting := make(chan error, 2)
	go func() {
		_, err := h.Hash(ctx, "password")
		waiting <- err
	}()
	go func() {
		_, err := h.Verify(ctx, "password", h.dummy)
		waiting <- err
	}()
	<-arrived
	<-arrived
	cancel()
	for range 2 {
		if err := <-waiting; !errors.Is(err, context.Canceled) {
			t.Errorf("waiting for a slot, then cancelled: err = %v, want context.Canceled", err)
		}
	}
	if n := len(h.sem); n != 1 {
		t.Fatalf("%d slots held after the waiters gave up, want 1", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the hash holding the slot: %v", err)
	}
	// The slot is free again.
	if _, err := h.Hash(t.Context(), "password"); err != nil {
		t.Fatal(err)
	}
}

func TestNewHasherDefaults(t *testing.T) {
	h := NewHasher(Params{}, 0)
	if cap(h.sem) < 1 {
		t.Fatalf("semaphore capacity %d", cap(h.sem))
	}
	d := DefaultParams()
	if h.params.Memory != d.Memory || h.params.Iterations != d.Iterations || h.params.Parallelism != d.Parallelism ||
		h.params.SaltLength != d.SaltLength || h.params.KeyLength != d.KeyLength {
		t.Fatalf("params = %+v, want the defaults", h.params)
	}
	if d != (Params{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}) {
		t.Fatalf("DefaultParams = %+v, want OWASP's", d)
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name, pw string
		wantMsg  string // "" means valid
	}{
		{"empty", "", "enter a password"},
		{"7 characters", "abcdefg", "use at least 8 characters"},
		{"8 characters", "abcdefgh", ""},
		{"128 characters", strings.Repeat("a", 128), ""},
		{"129 characters", strings.Repeat("a", 129), "use at most 128 characters"},
		{"7 multibyte runes (21 bytes)", strings.Repeat("€", 7), "use at least 8 characters"},
		{"8 multibyte runes", strings.Repeat("€", 8), ""},
		{"128 four-byte runes", strings.Repeat("🔑", 128), ""},
		{"129 four-byte runes", strings.Repeat("🔑", 129), "use at most 128 characters"},
		{"spaces count", "a b c d ", ""},
		{"commonly breached, any case", "Password123", msgBreachedPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.pw)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidatePassword = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != "password" || ve.Message != tt.wantMsg {
				t.Fatalf("ValidatePassword = %#v, want password: %s", err, tt.wantMsg)
			}
			if err.Error() != "password: "+tt.wantMsg {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}
