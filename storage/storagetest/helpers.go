package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

// seq makes names unique within a test binary, increasing in creation order.
var seq atomic.Int64

// uniq returns prefix-NNNNNN, sorting in the order of calls.
func uniq(prefix string) string { return fmt.Sprintf("%s-%06d", prefix, seq.Add(1)) }

// randomBytes returns n random bytes, for token and code hashes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// now is the current time at the precision backends keep.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// odd is a zone that is neither UTC nor a whole hour away, to catch backends
// that keep or apply zones.
var odd = time.FixedZone("UTC+05:30", 5*3600+30*60)

// ---- fixtures ----

func userFixture() *storage.User {
	n := uniq("user")
	return &storage.User{
		FirstName: "Jane",
		LastName:  "Doe",
		Emails:    []storage.EmailAddress{{Email: n + "@example.com"}},
	}
}

// createUser stores a valid user, changed by mods first.
func createUser(t testing.TB, s storage.Tx, mods ...func(*storage.User)) *storage.User {
	t.Helper()
	return create(t, "CreateUser", userFixture(), mods, s.CreateUser)
}

func clientFixture() *storage.Client {
	return &storage.Client{
		ID:                  uniq("client"),
		Name:                "Example App",
		AuthMethod:          "none",
		ApplicationType:     "web",
		RedirectURIs:        []string{"https://app.example.com/callback"},
		GrantTypes:          []string{"authorization_code", "refresh_token"},
		ResponseTypes:       []string{"code"},
		Scopes:              []string{"openid", "profile", "email"},
		AccessTokenFormat:   "jwt",
		AccessTokenTTL:      10 * time.Minute,
		IDTokenTTL:          time.Hour,
		RefreshTokenIdleTTL: 30 * 24 * time.Hour,
		RefreshTokenMaxTTL:  90 * 24 * time.Hour,
		Source:              "api",
	}
}

func createClient(t testing.TB, s storage.Tx, mods ...func(*storage.Client)) *storage.Client {
	t.Helper()
	return create(t, "CreateClient", clientFixture(), mods, s.CreateClient)
}

func sessionFixture(userID string) *storage.Session {
	n := now()
	return &storage.Session{
		ID:           storage.NewID(storage.PrefixSession),
		TokenHash:    randomBytes(32),
		UserID:       userID,
		AuthTime:     n,
		AMR:          []string{"pwd"},
		UserAgent:    "Mozilla/5.0 (X11; Linux x86_64)",
		IPAddress:    "192.0.2.10",
		CreatedAt:    n,
		LastActiveAt: n,
		ExpiresAt:    n.Add(24 * time.Hour),
	}
}

func createSession(t testing.TB, s storage.Tx, userID string, mods ...func(*storage.Session)) *storage.Session {
	t.Helper()
	return create(t, "CreateSession", sessionFixture(userID), mods, s.CreateSession)
}

func authRequestFixture(clientID string) *storage.AuthRequest {
	n := now()
	return &storage.AuthRequest{
		ID:           storage.NewID(storage.PrefixAuthRequest),
		ClientID:     clientID,
		RedirectURI:  "https://app.example.com/callback",
		State:        "state-" + uniq("s"),
		Scopes:       []string{"openid"},
		ResponseType: "code",
		MaxAge:       -1,
		CreatedAt:    n,
		ExpiresAt:    n.Add(10 * time.Minute),
	}
}

func createAuthRequest(t testing.TB, s storage.Tx, clientID string, mods ...func(*storage.AuthRequest)) *storage.AuthRequest {
	t.Helper()
	return create(t, "CreateAuthRequest", authRequestFixture(clientID), mods, s.CreateAuthRequest)
}

func refreshTokenFixture(userID, clientID string) *storage.RefreshToken {
	n := now()
	return &storage.RefreshToken{
		ID:            storage.NewID(storage.PrefixRefreshToken),
		TokenHash:     randomBytes(32),
		FamilyID:      storage.NewID(storage.PrefixTokenFamily),
		ClientID:      clientID,
		UserID:        userID,
		Scopes:        []string{"openid", "offline_access"},
		Audience:      []string{clientID},
		AMR:           []string{"pwd"},
		AuthTime:      n,
		CreatedAt:     n,
		ExpiresAt:     n.Add(24 * time.Hour),
		FamilyExpires: n.Add(30 * 24 * time.Hour),
	}
}

func createRefreshToken(t testing.TB, s storage.Tx, userID, clientID string, mods ...func(*storage.RefreshToken)) *storage.RefreshToken {
	t.Helper()
	return create(t, "CreateRefreshToken", refreshTokenFixture(userID, clientID), mods, s.CreateRefreshToken)
}

func signingKeyFixture() *storage.SigningKey {
	id := storage.NewID(storage.PrefixSigningKey)
	return &storage.SigningKey{
		ID:                  id,
		Algorithm:           "RS256",
		State:               storage.KeyRetired, // any number may exist
		PrivateKeyEncrypted: randomBytes(64),
		PublicKeyJWK:        json.RawMessage(`{"kty":"RSA","kid":"` + id + `","use":"sig","alg":"RS256","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}`),
		CreatedAt:           now(),
	}
}

func createSigningKey(t testing.TB, s storage.Tx, mods ...func(*storage.SigningKey)) *storage.SigningKey {
	t.Helper()
	return create(t, "CreateSigningKey", signingKeyFixture(), mods, s.CreateSigningKey)
}

// ---- assertions ----

// must fails the test now when err is not nil.
func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// wantErr reports an error unless errors.Is(err, target).
func wantErr(t testing.TB, err, target error, what string) bool {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
		return false
	}
	return true
}

// errorsIsAny reports whether err is one of targets.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// eq reports a difference between two comparable values.
func eq[T comparable](t testing.TB, field string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %#v, want %#v", field, got, want)
	}
}

// stored is how a backend gives a time back: UTC, microsecond precision.
func stored(tm time.Time) time.Time {
	if tm.IsZero() {
		return time.Time{}
	}
	return tm.UTC().Truncate(time.Microsecond)
}

// sameTime checks that got is want as stored: the same instant truncated to
// microseconds, in UTC; a zero want must come back zero.
func sameTime(t testing.TB, field string, got, want time.Time) {
	t.Helper()
	if want.IsZero() {
		if !got.IsZero() {
			t.Errorf("%s = %v, want zero time", field, got)
		}
		return
	}
	w := stored(want)
	if !got.Equal(w) {
		t.Errorf("%s = %v, want %v (from %v)", field, got, w, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s location = %v, want UTC", field, got.Location())
	}
}

// sameStrings compares lists, treating nil and empty as equal.
func sameStrings(t testing.TB, field string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", field, got, want)
	}
}

// sameBytes compares byte strings, treating nil and empty as equal.
func sameBytes(t testing.TB, field string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Errorf("%s = %x, want %x", field, got, want)
	}
}

// sameJSON compares JSON documents by meaning, not bytes: a database may
// reorder keys and drop whitespace. An empty want means the value must be
// empty too (not even "null").
func sameJSON(t testing.TB, field string, got, want []byte) {
	t.Helper()
	if len(want) == 0 {
		if len(got) != 0 {
			t.Errorf("%s = %s, want empty", field, got)
		}
		return
	}
	var g, w any
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: bad expected JSON %s: %v", field, want, err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s = %q, not JSON: %v", field, got, err)
		return
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", field, got, want)
	}
}

// metadata gives a user's metadata as it should read back: nil means {}.
func metadata(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage(`{}`)
	}
	return m
}

func sameUser(t testing.TB, got, want *storage.User) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "Username", got.Username, want.Username)
	eq(t, "FirstName", got.FirstName, want.FirstName)
	eq(t, "LastName", got.LastName, want.LastName)
	eq(t, "ImageURL", got.ImageURL, want.ImageURL)
	eq(t, "PasswordHash", got.PasswordHash, want.PasswordHash)
	sameJSON(t, "PublicMetadata", got.PublicMetadata, metadata(want.PublicMetadata))
	sameJSON(t, "PrivateMetadata", got.PrivateMetadata, metadata(want.PrivateMetadata))
	sameJSON(t, "UnsafeMetadata", got.UnsafeMetadata, metadata(want.UnsafeMetadata))
	eq(t, "Banned", got.Banned, want.Banned)
	sameTime(t, "LockedUntil", got.LockedUntil, want.LockedUntil)
	eq(t, "FailedAttempts", got.FailedAttempts, want.FailedAttempts)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	sameTime(t, "LastSignInAt", got.LastSignInAt, want.LastSignInAt)
	sameTime(t, "LastActiveAt", got.LastActiveAt, want.LastActiveAt)
	sameEmails(t, got.Emails, want.Emails)
}

// sameEmails compares address lists by ID, in any order.
func sameEmails(t testing.TB, got, want []storage.EmailAddress) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("Emails = %+v, want %+v", got, want)
		return
	}
	for _, w := range want {
		i := slices.IndexFunc(got, func(g storage.EmailAddress) bool { return g.ID == w.ID })
		if i < 0 {
			t.Errorf("Emails = %+v, missing %+v", got, w)
			continue
		}
		g := got[i]
		eq(t, "Email "+w.ID+" Email", g.Email, w.Email)
		eq(t, "Email "+w.ID+" Verified", g.Verified, w.Verified)
		eq(t, "Email "+w.ID+" Primary", g.Primary, w.Primary)
		sameTime(t, "Email "+w.ID+" CreatedAt", g.CreatedAt, w.CreatedAt)
	}
}

// emailByAddress finds a user's address, failing the test when it is absent.
func emailByAddress(t testing.TB, u *storage.User, addr string) storage.EmailAddress {
	t.Helper()
	for _, e := range u.Emails {
		if storage.NormalizeEmail(e.Email) == storage.NormalizeEmail(addr) {
			return e
		}
	}
	t.Fatalf("user %s has no address %s (has %+v)", u.ID, addr, u.Emails)
	return storage.EmailAddress{}
}

// primaries counts a user's primary addresses.
func primaries(u *storage.User) int {
	n := 0
	for _, e := range u.Emails {
		if e.Primary {
			n++
		}
	}
	return n
}

func sameSession(t testing.TB, got, want *storage.Session) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	sameBytes(t, "TokenHash", got.TokenHash, want.TokenHash)
	eq(t, "UserID", got.UserID, want.UserID)
	sameTime(t, "AuthTime", got.AuthTime, want.AuthTime)
	sameStrings(t, "AMR", got.AMR, want.AMR)
	eq(t, "UserAgent", got.UserAgent, want.UserAgent)
	eq(t, "IPAddress", got.IPAddress, want.IPAddress)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "LastActiveAt", got.LastActiveAt, want.LastActiveAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, "RevokedAt", got.RevokedAt, want.RevokedAt)
}

// sameClient compares every field but the times, which the caller checks.
func sameClient(t testing.TB, got, want *storage.Client) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "Name", got.Name, want.Name)
	sameBytes(t, "SecretHash", got.SecretHash, want.SecretHash)
	eq(t, "AuthMethod", got.AuthMethod, want.AuthMethod)
	eq(t, "ApplicationType", got.ApplicationType, want.ApplicationType)
	sameStrings(t, "RedirectURIs", got.RedirectURIs, want.RedirectURIs)
	sameStrings(t, "PostLogoutRedirectURIs", got.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs)
	sameStrings(t, "GrantTypes", got.GrantTypes, want.GrantTypes)
	sameStrings(t, "ResponseTypes", got.ResponseTypes, want.ResponseTypes)
	sameStrings(t, "Scopes", got.Scopes, want.Scopes)
	sameStrings(t, "CORSOrigins", got.CORSOrigins, want.CORSOrigins)
	eq(t, "JWKSURI", got.JWKSURI, want.JWKSURI)
	sameJSON(t, "JWKS", got.JWKS, want.JWKS)
	eq(t, "AccessTokenFormat", got.AccessTokenFormat, want.AccessTokenFormat)
	eq(t, "AccessTokenTemplate", got.AccessTokenTemplate, want.AccessTokenTemplate)
	eq(t, "AccessTokenTTL", got.AccessTokenTTL, want.AccessTokenTTL)
	eq(t, "IDTokenTTL", got.IDTokenTTL, want.IDTokenTTL)
	eq(t, "RefreshTokenIdleTTL", got.RefreshTokenIdleTTL, want.RefreshTokenIdleTTL)
	eq(t, "RefreshTokenMaxTTL", got.RefreshTokenMaxTTL, want.RefreshTokenMaxTTL)
	eq(t, "IDTokenUserinfoClaims", got.IDTokenUserinfoClaims, want.IDTokenUserinfoClaims)
	eq(t, "FirstParty", got.FirstParty, want.FirstParty)
	eq(t, "Source", got.Source, want.Source)
}

func sameAuthRequest(t testing.TB, got, want *storage.AuthRequest) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "ClientID", got.ClientID, want.ClientID)
	eq(t, "RedirectURI", got.RedirectURI, want.RedirectURI)
	eq(t, "State", got.State, want.State)
	eq(t, "Nonce", got.Nonce, want.Nonce)
	sameStrings(t, "Scopes", got.Scopes, want.Scopes)
	eq(t, "ResponseType", got.ResponseType, want.ResponseType)
	eq(t, "ResponseMode", got.ResponseMode, want.ResponseMode)
	eq(t, "CodeChallenge", got.CodeChallenge, want.CodeChallenge)
	eq(t, "CodeChallengeMethod", got.CodeChallengeMethod, want.CodeChallengeMethod)
	sameStrings(t, "Prompt", got.Prompt, want.Prompt)
	eq(t, "MaxAge", got.MaxAge, want.MaxAge)
	eq(t, "LoginHint", got.LoginHint, want.LoginHint)
	eq(t, "HintSubject", got.HintSubject, want.HintSubject)
	sameStrings(t, "UILocales", got.UILocales, want.UILocales)
	sameStrings(t, "ACRValues", got.ACRValues, want.ACRValues)
	eq(t, "UserID", got.UserID, want.UserID)
	eq(t, "SessionID", got.SessionID, want.SessionID)
	sameTime(t, "AuthTime", got.AuthTime, want.AuthTime)
	sameStrings(t, "AMR", got.AMR, want.AMR)
	eq(t, "Done", got.Done, want.Done)
	sameBytes(t, "CodeHash", got.CodeHash, want.CodeHash)
	sameTime(t, "CodeUsedAt", got.CodeUsedAt, want.CodeUsedAt)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func sameRefreshToken(t testing.TB, got, want *storage.RefreshToken) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	sameBytes(t, "TokenHash", got.TokenHash, want.TokenHash)
	eq(t, "FamilyID", got.FamilyID, want.FamilyID)
	eq(t, "ClientID", got.ClientID, want.ClientID)
	eq(t, "UserID", got.UserID, want.UserID)
	eq(t, "SessionID", got.SessionID, want.SessionID)
	eq(t, "AuthRequestID", got.AuthRequestID, want.AuthRequestID)
	sameStrings(t, "Scopes", got.Scopes, want.Scopes)
	sameStrings(t, "Audience", got.Audience, want.Audience)
	sameStrings(t, "AMR", got.AMR, want.AMR)
	sameTime(t, "AuthTime", got.AuthTime, want.AuthTime)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, "FamilyExpires", got.FamilyExpires, want.FamilyExpires)
	sameTime(t, "RotatedAt", got.RotatedAt, want.RotatedAt)
	eq(t, "ReplacedBy", got.ReplacedBy, want.ReplacedBy)
	sameTime(t, "RevokedAt", got.RevokedAt, want.RevokedAt)
}

func sameSigningKey(t testing.TB, got, want *storage.SigningKey) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "Algorithm", got.Algorithm, want.Algorithm)
	eq(t, "State", got.State, want.State)
	sameBytes(t, "PrivateKeyEncrypted", got.PrivateKeyEncrypted, want.PrivateKeyEncrypted)
	sameJSON(t, "PublicKeyJWK", got.PublicKeyJWK, want.PublicKeyJWK)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "ActivatedAt", got.ActivatedAt, want.ActivatedAt)
	sameTime(t, "RetiredAt", got.RetiredAt, want.RetiredAt)
	sameTime(t, "DeleteAfter", got.DeleteAfter, want.DeleteAfter)
}

// ids lists records' IDs, to compare orders.
func ids[T any](recs []T, id func(T) string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = id(r)
	}
	return out
}

func userIDOf(u *storage.User) string       { return u.ID }
func sessionIDOf(s *storage.Session) string { return s.ID }
func clientIDOf(c *storage.Client) string   { return c.ID }
func keyIDOf(k *storage.SigningKey) string  { return k.ID }
func eventIDOf(e *storage.Event) string     { return e.ID }

// reverse returns a reversed copy of s.
func reverse[T any](s []T) []T {
	s = slices.Clone(s)
	slices.Reverse(s)
	return s
}

// sameOrder compares two lists of IDs, order included.
func sameOrder(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s order = %q, want %q", what, got, want)
	}
}

// race runs fn n times at once, released together, and returns each error.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one call succeeded and every other one lost
// with ErrConflict. It returns the winner's index, or -1.
func oneWinner(t testing.TB, what string, errs []error) int {
	t.Helper()
	winner := -1
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
			winner = i
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("%s: call %d: err = %v, want nil or %v", what, i, err, storage.ErrConflict)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d of %d concurrent calls succeeded, want exactly 1", what, wins, len(errs))
		return -1
	}
	return winner
}

// create applies mods to a fixture and stores it, failing the test if the
// store refuses it.
func create[T any](t testing.TB, what string, fixture *T, mods []func(*T), store func(context.Context, *T) error) *T {
	t.Helper()
	for _, m := range mods {
		m(fixture)
	}
	if err := store(t.Context(), fixture); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return fixture
}
