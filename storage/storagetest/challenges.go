package storagetest

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testEmailChallenges(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", challengeRoundTrip},
		{"Missing", challengeMissing},
		{"Invalid", challengeInvalid},
		{"LinkHashConflict", challengeLinkHashConflict},
		{"NewestSupersedes", challengeNewestSupersedes},
		{"CreateConcurrent", challengeCreateConcurrent},
		{"CreateInTx", challengeCreateInTx},
		{"Attempts", challengeAttempts},
		{"UseOnce", challengeUseOnce},
		{"UseConcurrent", challengeUseConcurrent},
		{"UseAfterExpiry", challengeUseAfterExpiry},
		{"Supersede", challengeSupersede},
		{"GoesWithUserAndAddress", challengeCascade},
		{"DeleteExpired", challengeDeleteExpired},
	})
}

// challengeTTL is how long the suite's email challenges live.
const challengeTTL = 15 * time.Minute

func createChallenge(t testing.TB, s storage.Tx, u *storage.User, purpose string, mods ...func(*storage.EmailChallenge)) *storage.EmailChallenge {
	t.Helper()
	n := now()
	c := &storage.EmailChallenge{
		Purpose:   purpose,
		UserID:    u.ID,
		EmailID:   u.Emails[0].ID,
		Email:     u.Emails[0].Email,
		CodeHash:  randomBytes(32),
		LinkHash:  randomBytes(32),
		CreatedAt: n,
		ExpiresAt: n.Add(challengeTTL),
	}
	return create(t, "CreateEmailChallenge", c, mods, s.CreateEmailChallenge)
}

func sameChallenge(t testing.TB, got, want *storage.EmailChallenge) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "Purpose", got.Purpose, want.Purpose)
	eq(t, "UserID", got.UserID, want.UserID)
	eq(t, "EmailID", got.EmailID, want.EmailID)
	eq(t, "Email", got.Email, want.Email)
	sameBytes(t, "CodeHash", got.CodeHash, want.CodeHash)
	sameBytes(t, "LinkHash", got.LinkHash, want.LinkHash)
	eq(t, "FlowID", got.FlowID, want.FlowID)
	sameBytes(t, "BrowserHash", got.BrowserHash, want.BrowserHash)
	eq(t, "IPAddress", got.IPAddress, want.IPAddress)
	eq(t, "UserAgent", got.UserAgent, want.UserAgent)
	eq(t, "Attempts", got.Attempts, want.Attempts)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, "UsedAt", got.UsedAt, want.UsedAt)
}

// getChallenge reads a challenge back, failing the test when it is absent.
func getChallenge(t testing.TB, s storage.Tx, id string) *storage.EmailChallenge {
	t.Helper()
	c, err := s.GetEmailChallenge(t.Context(), id)
	must(t, err, "GetEmailChallenge "+id)
	return c
}

func challengeRoundTrip(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	fine := time.Date(2031, 7, 8, 9, 10, 11, 123456789, odd)
	c := createChallenge(t, s, u, storage.ChallengeSignIn, func(c *storage.EmailChallenge) {
		c.FlowID = storage.NewID(storage.PrefixSignInFlow)
		c.BrowserHash = randomBytes(32)
		c.IPAddress = "2001:db8::17"
		c.UserAgent = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)"
		c.CreatedAt, c.ExpiresAt = fine, fine.Add(challengeTTL)
	})
	if !strings.HasPrefix(c.ID, storage.PrefixChallenge+"_") {
		t.Errorf("ID = %q, want prefix %s_", c.ID, storage.PrefixChallenge)
	}
	got, err := s.GetEmailChallenge(t.Context(), c.ID)
	must(t, err, "GetEmailChallenge")
	sameChallenge(t, got, c)
	if !got.Usable(fine) {
		t.Error("Usable at CreatedAt = false, want true")
	}
	got, err = s.GetEmailChallengeByLinkHash(t.Context(), c.LinkHash)
	must(t, err, "GetEmailChallengeByLinkHash")
	sameChallenge(t, got, c)

	// Without the optional fields, and with a CreatedAt filled in.
	bare := &storage.EmailChallenge{Purpose: storage.ChallengeVerifyEmail, UserID: u.ID, EmailID: u.Emails[0].ID, Email: u.Emails[0].Email,
		CodeHash: randomBytes(32), LinkHash: randomBytes(32), ExpiresAt: now().Add(challengeTTL)}
	must(t, s.CreateEmailChallenge(t.Context(), bare), "CreateEmailChallenge without optional fields")
	if bare.CreatedAt.IsZero() {
		t.Error("CreateEmailChallenge did not set CreatedAt")
	}
	sameChallenge(t, getChallenge(t, s, bare.ID), bare)

	// An ID given by the caller is kept.
	id := storage.NewID(storage.PrefixChallenge)
	createChallenge(t, s, u, storage.ChallengeResetPassword, func(c *storage.EmailChallenge) { c.ID = id })
	eq(t, "ID given by the caller", getChallenge(t, s, id).Purpose, storage.ChallengeResetPassword)
}

func challengeMissing(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	createChallenge(t, s, u, storage.ChallengeSignIn)
	ctx, missing := t.Context(), storage.NewID(storage.PrefixChallenge)
	_, err := s.GetEmailChallenge(ctx, missing)
	wantErr(t, err, storage.ErrNotFound, "GetEmailChallenge of an unknown ID")
	_, err = s.GetEmailChallengeByLinkHash(ctx, randomBytes(32))
	wantErr(t, err, storage.ErrNotFound, "GetEmailChallengeByLinkHash of an unknown hash")
	_, err = s.TakeEmailChallengeAttempt(ctx, missing, 5, now())
	wantErr(t, err, storage.ErrNotFound, "TakeEmailChallengeAttempt of an unknown ID")
	wantErr(t, s.UseEmailChallenge(ctx, missing, now()), storage.ErrNotFound, "UseEmailChallenge of an unknown ID")
	n, err := s.SupersedeEmailChallenges(ctx, storage.NewID(storage.PrefixUser), storage.ChallengeSignIn, now())
	must(t, err, "SupersedeEmailChallenges of an unknown user")
	eq(t, "challenges superseded of an unknown user", n, int64(0))
}

func challengeInvalid(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	valid := func() *storage.EmailChallenge {
		n := now()
		return &storage.EmailChallenge{Purpose: storage.ChallengeSignIn, UserID: u.ID, EmailID: u.Emails[0].ID, Email: u.Emails[0].Email,
			CodeHash: randomBytes(32), LinkHash: randomBytes(32), CreatedAt: n, ExpiresAt: n.Add(challengeTTL)}
	}
	for name, mod := range map[string]func(*storage.EmailChallenge){
		"without a purpose":       func(c *storage.EmailChallenge) { c.Purpose = "" },
		"with an unknown purpose": func(c *storage.EmailChallenge) { c.Purpose = "change_email" },
		"without a user":          func(c *storage.EmailChallenge) { c.UserID = "" },
		"without an address ID":   func(c *storage.EmailChallenge) { c.EmailID = "" },
		"without an address":      func(c *storage.EmailChallenge) { c.Email = "" },
		"without a code hash":     func(c *storage.EmailChallenge) { c.CodeHash = nil },
		"without a link hash":     func(c *storage.EmailChallenge) { c.LinkHash = nil },
		"without an expiry":       func(c *storage.EmailChallenge) { c.ExpiresAt = time.Time{} },
	} {
		c := valid()
		mod(c)
		wantErr(t, s.CreateEmailChallenge(t.Context(), c), storage.ErrInvalid, "CreateEmailChallenge "+name)
	}
	for name, mod := range map[string]func(*storage.EmailChallenge){
		"for a missing user":   func(c *storage.EmailChallenge) { c.UserID = storage.NewID(storage.PrefixUser) },
		"to a missing address": func(c *storage.EmailChallenge) { c.EmailID = storage.NewID(storage.PrefixEmail) },
	} {
		c := valid()
		mod(c)
		if err := s.CreateEmailChallenge(t.Context(), c); err == nil {
			t.Errorf("CreateEmailChallenge %s succeeded, want an error (foreign key)", name)
		}
	}
}

// A duplicate link hash is refused, and the refused challenge supersedes
// nothing.
func challengeLinkHashConflict(t *testing.T, s storage.Storage) {
	u, other := createUser(t, s), createUser(t, s)
	a := createChallenge(t, s, u, storage.ChallengeSignIn)
	for name, owner := range map[string]*storage.User{"the same user": u, "another user": other} {
		n := now()
		dup := &storage.EmailChallenge{Purpose: storage.ChallengeSignIn, UserID: owner.ID, EmailID: owner.Emails[0].ID, Email: owner.Emails[0].Email,
			CodeHash: randomBytes(32), LinkHash: a.LinkHash, CreatedAt: n, ExpiresAt: n.Add(challengeTTL)}
		wantErr(t, s.CreateEmailChallenge(t.Context(), dup), storage.ErrConflict, "CreateEmailChallenge with the link hash of a challenge of "+name)
	}
	got, err := s.GetEmailChallengeByLinkHash(t.Context(), a.LinkHash)
	must(t, err, "GetEmailChallengeByLinkHash")
	sameChallenge(t, got, a)
}

// Creating a challenge marks the user's earlier unused challenges of the
// same purpose used at its CreatedAt, expired ones included, and nothing
// else.
func challengeNewestSupersedes(t *testing.T, s storage.Storage) {
	u, other := createUser(t, s), createUser(t, s)
	n := now()
	at := func(created, ttl time.Duration) func(*storage.EmailChallenge) {
		return func(c *storage.EmailChallenge) { c.CreatedAt, c.ExpiresAt = n.Add(created), n.Add(created+ttl) }
	}
	oldest := createChallenge(t, s, u, storage.ChallengeSignIn, at(-2*time.Minute, challengeTTL))
	earlier := createChallenge(t, s, u, storage.ChallengeSignIn, at(-time.Minute, challengeTTL))
	sameTime(t, "UsedAt of the oldest challenge", getChallenge(t, s, oldest.ID).UsedAt, earlier.CreatedAt)
	otherPurpose := createChallenge(t, s, u, storage.ChallengeVerifyEmail, at(-time.Minute, challengeTTL))
	otherUser := createChallenge(t, s, other, storage.ChallengeSignIn, at(-time.Minute, challengeTTL))

	newest := createChallenge(t, s, u, storage.ChallengeSignIn, at(0, challengeTTL))
	sameTime(t, "UsedAt of the earlier challenge", getChallenge(t, s, earlier.ID).UsedAt, newest.CreatedAt)
	sameTime(t, "UsedAt of the oldest challenge (superseded first)", getChallenge(t, s, oldest.ID).UsedAt, earlier.CreatedAt)
	sameChallenge(t, getChallenge(t, s, newest.ID), newest)
	sameChallenge(t, getChallenge(t, s, otherPurpose.ID), otherPurpose)
	sameChallenge(t, getChallenge(t, s, otherUser.ID), otherUser)
	wantErr(t, s.UseEmailChallenge(t.Context(), earlier.ID, n), storage.ErrConflict, "UseEmailChallenge of a superseded challenge")
	must(t, s.UseEmailChallenge(t.Context(), newest.ID, n), "UseEmailChallenge of the newest challenge")

	// A used challenge keeps the time of its use; an expired unused one is
	// superseded.
	used := createChallenge(t, s, u, storage.ChallengeResetPassword, at(-2*time.Hour, challengeTTL))
	must(t, s.UseEmailChallenge(t.Context(), used.ID, used.CreatedAt), "UseEmailChallenge")
	expired := createChallenge(t, s, u, storage.ChallengeResetPassword, at(-time.Hour, time.Minute))
	reset := createChallenge(t, s, u, storage.ChallengeResetPassword, at(time.Second, challengeTTL))
	sameTime(t, "UsedAt of a used challenge", getChallenge(t, s, used.ID).UsedAt, used.CreatedAt)
	sameTime(t, "UsedAt of an expired challenge", getChallenge(t, s, expired.ID).UsedAt, reset.CreatedAt)
	if !getChallenge(t, s, reset.ID).Usable(reset.CreatedAt) {
		t.Error("the newest reset challenge is not usable")
	}
}

// Of challenges created at once for one user and purpose, exactly one stays
// usable, and it is one whose creation succeeded.
func challengeCreateConcurrent(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	n := now()
	cs := make([]*storage.EmailChallenge, 8)
	for i := range cs {
		cs[i] = &storage.EmailChallenge{Purpose: storage.ChallengeSignIn, UserID: u.ID, EmailID: u.Emails[0].ID, Email: u.Emails[0].Email,
			CodeHash: randomBytes(32), LinkHash: randomBytes(32), CreatedAt: n, ExpiresAt: n.Add(challengeTTL)}
	}
	errs := race(len(cs), func(i int) error { return s.CreateEmailChallenge(t.Context(), cs[i]) })
	var usable []int
	for i, err := range errs {
		switch {
		case err == nil:
			if getChallenge(t, s, cs[i].ID).Usable(n) {
				usable = append(usable, i)
			}
		case errors.Is(err, storage.ErrConflict):
			if _, err := s.GetEmailChallenge(t.Context(), cs[i].ID); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("challenge %d, refused with %v, was stored (GetEmailChallenge: %v)", i, storage.ErrConflict, err)
			}
		default:
			t.Errorf("concurrent CreateEmailChallenge %d: %v, want nil or %v", i, err, storage.ErrConflict)
		}
	}
	if len(usable) != 1 {
		t.Errorf("usable challenges after concurrent creation: %v, want exactly one", usable)
	}
}

// Inside a transaction, creating supersedes on the transaction's view and
// a rollback undoes both.
func challengeCreateInTx(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	first := createChallenge(t, s, u, storage.ChallengeSignIn)
	fixture := func() *storage.EmailChallenge {
		n := now()
		return &storage.EmailChallenge{Purpose: storage.ChallengeSignIn, UserID: u.ID, EmailID: u.Emails[0].ID, Email: u.Emails[0].Email,
			CodeHash: randomBytes(32), LinkHash: randomBytes(32), CreatedAt: n, ExpiresAt: n.Add(challengeTTL)}
	}
	var second *storage.EmailChallenge
	must(t, s.InTx(t.Context(), func(tx storage.Tx) error {
		second = fixture()
		if err := tx.CreateEmailChallenge(t.Context(), second); err != nil {
			return err
		}
		got, err := tx.GetEmailChallenge(t.Context(), first.ID)
		if err != nil {
			return err
		}
		if got.UsedAt.IsZero() {
			return errors.New("inside the transaction, the first challenge is not superseded")
		}
		return nil
	}), "InTx")
	sameTime(t, "UsedAt of the challenge superseded in a transaction", getChallenge(t, s, first.ID).UsedAt, second.CreatedAt)

	errBoom := errors.New("boom")
	var third *storage.EmailChallenge
	err := s.InTx(t.Context(), func(tx storage.Tx) error {
		third = fixture()
		if err := tx.CreateEmailChallenge(t.Context(), third); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("InTx = %v, want %v", err, errBoom)
	}
	_, err = s.GetEmailChallenge(t.Context(), third.ID)
	wantErr(t, err, storage.ErrNotFound, "GetEmailChallenge of a challenge created in a rolled back transaction")
	sameChallenge(t, getChallenge(t, s, second.ID), second)
}

func challengeAttempts(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	c := createChallenge(t, s, u, storage.ChallengeSignIn)
	other := createChallenge(t, s, u, storage.ChallengeVerifyEmail)
	at := c.CreatedAt
	for want := 1; want <= 3; want++ {
		got, err := s.TakeEmailChallengeAttempt(t.Context(), c.ID, 20, at)
		must(t, err, "TakeEmailChallengeAttempt")
		eq(t, "TakeEmailChallengeAttempt", got, want)
	}
	eq(t, "Attempts", getChallenge(t, s, c.ID).Attempts, 3)
	eq(t, "Attempts of another challenge", getChallenge(t, s, other.ID).Attempts, 0)

	// Concurrent guesses never get past the limit: of 10 at once with 5
	// tries left, exactly 5 are let through, each with its own count.
	var counts []int
	var mu sync.Mutex
	errs := race(10, func(int) error {
		n, err := s.TakeEmailChallengeAttempt(t.Context(), c.ID, 8, at)
		if err == nil {
			mu.Lock()
			counts = append(counts, n)
			mu.Unlock()
		}
		return err
	})
	refused := 0
	for _, err := range errs {
		if err != nil {
			wantErr(t, err, storage.ErrConflict, "a try past the limit")
			refused++
		}
	}
	slices.Sort(counts)
	if want := []int{4, 5, 6, 7, 8}; !slices.Equal(counts, want) || refused != 5 {
		t.Errorf("tries let through = %v (%d refused), want %v and 5 refused", counts, refused, want)
	}
	eq(t, "Attempts after concurrent tries", getChallenge(t, s, c.ID).Attempts, 8)

	// No tries once used or expired.
	fresh := createChallenge(t, s, u, storage.ChallengeResetPassword)
	_, err := s.TakeEmailChallengeAttempt(t.Context(), fresh.ID, 5, fresh.ExpiresAt)
	wantErr(t, err, storage.ErrConflict, "a try at expiry")
	must(t, s.UseEmailChallenge(t.Context(), fresh.ID, fresh.CreatedAt), "UseEmailChallenge")
	_, err = s.TakeEmailChallengeAttempt(t.Context(), fresh.ID, 5, fresh.CreatedAt)
	wantErr(t, err, storage.ErrConflict, "a try of a used challenge")
	eq(t, "Attempts after refused tries", getChallenge(t, s, fresh.ID).Attempts, 0)
}

func challengeUseOnce(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	c := createChallenge(t, s, u, storage.ChallengeSignIn)
	other := createChallenge(t, s, u, storage.ChallengeVerifyEmail)
	at := c.CreatedAt.Add(time.Minute).In(odd)
	must(t, s.UseEmailChallenge(t.Context(), c.ID, at), "UseEmailChallenge")
	got := getChallenge(t, s, c.ID)
	want := *c
	want.UsedAt = at
	sameChallenge(t, got, &want)
	if got.Usable(at) {
		t.Error("Usable after use = true, want false")
	}
	wantErr(t, s.UseEmailChallenge(t.Context(), c.ID, at.Add(time.Second)), storage.ErrConflict, "second UseEmailChallenge")
	sameTime(t, "UsedAt (the first use stays)", getChallenge(t, s, c.ID).UsedAt, at)
	sameChallenge(t, getChallenge(t, s, other.ID), other)
}

func challengeUseConcurrent(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	c := createChallenge(t, s, u, storage.ChallengeSignIn)
	errs := race(10, func(int) error { return s.UseEmailChallenge(t.Context(), c.ID, c.CreatedAt.Add(time.Second)) })
	oneWinner(t, "UseEmailChallenge", errs)
}

func challengeUseAfterExpiry(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	c := createChallenge(t, s, u, storage.ChallengeResetPassword)
	// Like a session, a challenge is over at ExpiresAt itself.
	for _, at := range []time.Time{c.ExpiresAt, c.ExpiresAt.Add(time.Microsecond), c.ExpiresAt.Add(time.Hour)} {
		late := " (" + at.Sub(c.ExpiresAt).String() + " late)"
		wantErr(t, s.UseEmailChallenge(t.Context(), c.ID, at), storage.ErrConflict, "UseEmailChallenge after ExpiresAt"+late)
	}
	sameChallenge(t, getChallenge(t, s, c.ID), c)
	must(t, s.UseEmailChallenge(t.Context(), c.ID, c.ExpiresAt.Add(-time.Microsecond)), "UseEmailChallenge a microsecond before ExpiresAt")
}

func challengeSupersede(t *testing.T, s storage.Storage) {
	u, other := createUser(t, s), createUser(t, s)
	signIn := createChallenge(t, s, u, storage.ChallengeSignIn)
	verify := createChallenge(t, s, u, storage.ChallengeVerifyEmail)
	reset := createChallenge(t, s, u, storage.ChallengeResetPassword)
	must(t, s.UseEmailChallenge(t.Context(), reset.ID, reset.CreatedAt), "UseEmailChallenge")
	otherUser := createChallenge(t, s, other, storage.ChallengeSignIn)
	at := signIn.CreatedAt.Add(time.Minute).In(odd)

	n, err := s.SupersedeEmailChallenges(t.Context(), u.ID, storage.ChallengeSignIn, at)
	must(t, err, "SupersedeEmailChallenges")
	eq(t, "challenges superseded", n, int64(1))
	sameTime(t, "UsedAt of the superseded challenge", getChallenge(t, s, signIn.ID).UsedAt, at)
	wantErr(t, s.UseEmailChallenge(t.Context(), signIn.ID, at), storage.ErrConflict, "UseEmailChallenge of a superseded challenge")

	n, err = s.SupersedeEmailChallenges(t.Context(), u.ID, storage.ChallengeSignIn, at.Add(time.Second))
	must(t, err, "second SupersedeEmailChallenges")
	eq(t, "challenges superseded the second time", n, int64(0))
	sameTime(t, "UsedAt (the first supersede stays)", getChallenge(t, s, signIn.ID).UsedAt, at)

	n, err = s.SupersedeEmailChallenges(t.Context(), u.ID, storage.ChallengeResetPassword, at)
	must(t, err, "SupersedeEmailChallenges of used challenges")
	eq(t, "used challenges superseded", n, int64(0))
	sameTime(t, "UsedAt of a used challenge", getChallenge(t, s, reset.ID).UsedAt, reset.CreatedAt)

	sameChallenge(t, getChallenge(t, s, verify.ID), verify)
	sameChallenge(t, getChallenge(t, s, otherUser.ID), otherUser)
}

func challengeCascade(t *testing.T, s storage.Storage) {
	u, _, second := userWithTwoEmails(t, s)
	toPrimary := createChallenge(t, s, u, storage.ChallengeSignIn)
	toSecond := createChallenge(t, s, u, storage.ChallengeVerifyEmail, func(c *storage.EmailChallenge) {
		c.EmailID, c.Email = second.ID, second.Email
	})
	must(t, s.DeleteEmail(t.Context(), u.ID, second.ID), "DeleteEmail")
	_, err := s.GetEmailChallenge(t.Context(), toSecond.ID)
	wantErr(t, err, storage.ErrNotFound, "GetEmailChallenge after its address was deleted")
	sameChallenge(t, getChallenge(t, s, toPrimary.ID), toPrimary)
	must(t, s.DeleteUser(t.Context(), u.ID), "DeleteUser")
	_, err = s.GetEmailChallengeByLinkHash(t.Context(), toPrimary.LinkHash)
	wantErr(t, err, storage.ErrNotFound, "GetEmailChallengeByLinkHash after its user was deleted")
}

// DeleteExpired purges email challenges with ExpiresAt <= now, used or not,
// and leaves the rest.
func challengeDeleteExpired(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	n := now()
	exp := func(d time.Duration) func(*storage.EmailChallenge) {
		return func(c *storage.EmailChallenge) { c.CreatedAt, c.ExpiresAt = n.Add(-time.Hour), n.Add(d) }
	}
	used := createChallenge(t, s, u, storage.ChallengeVerifyEmail, exp(-time.Second))
	must(t, s.UseEmailChallenge(t.Context(), used.ID, used.CreatedAt), "UseEmailChallenge")
	gone := map[string]*storage.EmailChallenge{
		"used, expired a second ago":   used,
		"unused, expired a minute ago": createChallenge(t, s, u, storage.ChallengeResetPassword, exp(-time.Minute)),
		"unused, expiring right now":   createChallenge(t, s, u, storage.ChallengeSignIn, exp(0)),
	}
	kept := map[string]*storage.EmailChallenge{
		"expiring in a microsecond": createChallenge(t, s, u, storage.ChallengeVerifyEmail, exp(time.Microsecond)),
		"expiring in ten minutes":   createChallenge(t, s, u, storage.ChallengeResetPassword, exp(10*time.Minute)),
	}
	got, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired")
	eq(t, "DeleteExpired", got, storage.CleanupCounts{EmailChallenges: 3})
	for name, c := range gone {
		_, err := s.GetEmailChallenge(t.Context(), c.ID)
		wantErr(t, err, storage.ErrNotFound, "GetEmailChallenge of one "+name)
	}
	for name, c := range kept {
		if _, err := s.GetEmailChallenge(t.Context(), c.ID); err != nil {
			t.Errorf("GetEmailChallenge of one %s: %v", name, err)
		}
	}
	again, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired again")
	eq(t, "DeleteExpired again", again, storage.CleanupCounts{})
}
