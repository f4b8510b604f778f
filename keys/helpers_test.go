package keys_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres"
	"github.com/usher-id/usher/storage/sqlite"
)

var (
	_ keys.Store       = (*sqlite.DB)(nil)
	_ keys.Store       = (*postgres.DB)(nil)
	_ keys.RewrapStore = (*sqlite.DB)(nil)
)

// allAlgs is every algorithm the package signs with.
var allAlgs = []string{string(jose.RS256), string(jose.ES256), string(jose.EdDSA)}

const issuer = "https://id.example.test"

// epoch is where every test clock starts: whole seconds, so that what the
// databases store (microseconds) compares equal to what the clock said.
var epoch = time.Date(2031, 3, 1, 8, 0, 0, 0, time.UTC)

// clock is an injected, goroutine-safe clock that only moves when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: epoch} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Sleep is keys.Options.Wait for tests: the time passes at once.
func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	return ctx.Err()
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func masterKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, keys.MasterKeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newSealer(t testing.TB, current []byte, previous ...[]byte) *keys.Sealer {
	t.Helper()
	s, err := keys.NewSealer(current, previous...)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func openSQLiteAt(t testing.TB, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path, sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func openSQLite(t testing.TB) *sqlite.DB {
	t.Helper()
	return openSQLiteAt(t, filepath.Join(t.TempDir(), "usher.db"))
}

func openPostgres(t testing.TB, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.Options{Migrate: true, MaxConns: 4})
	if err != nil {
		t.Fatalf("postgres.Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// testOptions are short-lived options driven by c.
func testOptions(c *clock, algs ...string) keys.Options {
	return keys.Options{
		Algorithms:       algs,
		RotationPeriod:   48 * time.Hour,
		JWKSMaxAge:       15 * time.Minute,
		RefreshInterval:  30 * time.Second,
		MaxTokenLifetime: time.Hour,
		Now:              c.Now,
		Wait:             c.Sleep,
	}
}

// publishAhead and retention restate the rules, independently of
// the package's own helpers.
func publishAhead(o keys.Options) time.Duration { return o.JWKSMaxAge + o.RefreshInterval }

func retention(o keys.Options) time.Duration {
	return o.MaxTokenLifetime + o.RefreshInterval + 5*time.Minute
}

func newManager(t testing.TB, store keys.Store, s *keys.Sealer, opts keys.Options) *keys.Manager {
	t.Helper()
	m, err := keys.New(context.Background(), store, s, opts)
	if err != nil {
		t.Fatalf("keys.New: %v", err)
	}
	return m
}

func maintain(t testing.TB, m *keys.Manager) {
	t.Helper()
	if err := m.Maintain(context.Background()); err != nil {
		t.Fatalf("Maintain: %v", err)
	}
}

// claims is a typical ID token payload of about 300 bytes.
func claims(iat, exp time.Time) []byte {
	return fmt.Appendf(nil, `{"iss":%q,"sub":"usr_01JQ4Z7XG4W6M8P2R5T9V3B7D1","aud":["client-3f9a2c"],`+
		`"exp":%d,"iat":%d,"auth_time":%d,"nonce":"n-0S6_WzA2Mj","email":"ada.lovelace@example.com",`+
		`"email_verified":true,"name":"Ada Lovelace","sid":"ses_01JQ4Z8A1B2C3D4E5F6G7H8J9K"}`,
		issuer, exp.Unix(), iat.Unix(), iat.Unix())
}

// sign signs a token that expires lifetime from now.
func sign(t testing.TB, m *keys.Manager, c *clock, alg string, lifetime time.Duration) string {
	t.Helper()
	now := c.Now()
	tok, err := m.Sign(alg, claims(now, now.Add(lifetime)), now.Add(lifetime))
	if err != nil {
		t.Fatalf("Sign(%s): %v", alg, err)
	}
	return tok
}

func kidOf(t testing.TB, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("ParseSigned: %v", err)
	}
	return jws.Signatures[0].Header.KeyID
}

// serve runs one request through ServeJWKS.
func serve(m *keys.Manager, method string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, "/.well-known/jwks.json", nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	m.ServeJWKS(w, r)
	return w
}

// fetchJWKS gets the JWKS as a relying party would.
func fetchJWKS(t testing.TB, m *keys.Manager) jose.JSONWebKeySet {
	t.Helper()
	w := serve(m, http.MethodGet)
	if w.Code != http.StatusOK {
		t.Fatalf("JWKS: status %d", w.Code)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
		t.Fatalf("JWKS does not parse: %v\n%s", err, w.Body.Bytes())
	}
	return set
}

func jwksKids(set jose.JSONWebKeySet) []string {
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k.KeyID)
	}
	return kids
}

func hasKid(set jose.JSONWebKeySet, kid string) bool { return len(set.Key(kid)) > 0 }

// verify checks token the way a relying party does: go-jose picks the key
// from the JWKS by kid and verifies the signature, then go-jose/jwt
// verifies again and validates the claims at now. It returns the kid.
func verify(set jose.JSONWebKeySet, token, alg string, now time.Time) (string, error) {
	algs := []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)}
	jws, err := jose.ParseSigned(token, algs)
	if err != nil {
		return "", fmt.Errorf("ParseSigned: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return "", fmt.Errorf("%d signatures", len(jws.Signatures))
	}
	h := jws.Signatures[0].Header
	kid := h.KeyID
	if h.Algorithm != alg {
		return kid, fmt.Errorf("header alg %q, want %q", h.Algorithm, alg)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "JWT" {
		return kid, fmt.Errorf("header typ %q, want JWT", typ)
	}
	found := set.Key(kid)
	if len(found) != 1 {
		return kid, fmt.Errorf("kid %s: %d keys in the JWKS %v", kid, len(found), jwksKids(set))
	}
	key := found[0]
	if key.Algorithm != alg || key.Use != "sig" || !key.IsPublic() {
		return kid, fmt.Errorf("kid %s: JWK alg %q use %q public %v", kid, key.Algorithm, key.Use, key.IsPublic())
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return kid, fmt.Errorf("Verify with %s: %w", kid, err)
	}
	if !json.Valid(payload) || !strings.Contains(string(payload), issuer) {
		return kid, fmt.Errorf("payload %q", payload)
	}
	tok, err := jwt.ParseSigned(token, algs)
	if err != nil {
		return kid, fmt.Errorf("jwt.ParseSigned: %w", err)
	}
	var cl jwt.Claims
	if err := tok.Claims(key, &cl); err != nil {
		return kid, fmt.Errorf("jwt Claims: %w", err)
	}
	if err := cl.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{"client-3f9a2c"}, Time: now}, 0); err != nil {
		return kid, fmt.Errorf("jwt Validate: %w", err)
	}
	return kid, nil
}

func mustVerify(t testing.TB, set jose.JSONWebKeySet, token, alg string, now time.Time) string {
	t.Helper()
	kid, err := verify(set, token, alg, now)
	if err != nil {
		t.Fatalf("token (kid %s) does not verify: %v", kid, err)
	}
	return kid
}

func currentKid(t testing.TB, m *keys.Manager, alg string) string {
	t.Helper()
	k, err := m.Current(alg)
	if err != nil {
		t.Fatalf("Current(%s): %v", alg, err)
	}
	return k.ID()
}

func listKeys(t testing.TB, s storage.SigningKeys) []*storage.SigningKey {
	t.Helper()
	recs, err := s.ListSigningKeys(context.Background())
	if err != nil {
		t.Fatalf("ListSigningKeys: %v", err)
	}
	return recs
}

// byState returns the keys of alg in state.
func byState(recs []*storage.SigningKey, alg, state string) []*storage.SigningKey {
	var out []*storage.SigningKey
	for _, r := range recs {
		if r.Algorithm == alg && r.State == state {
			out = append(out, r)
		}
	}
	return out
}

func getKey(t testing.TB, s storage.SigningKeys, kid string) *storage.SigningKey {
	t.Helper()
	r, err := s.GetSigningKey(context.Background(), kid)
	if err != nil {
		t.Fatalf("GetSigningKey(%s): %v", kid, err)
	}
	return r
}

func keyGone(t testing.TB, s storage.SigningKeys, kid string) bool {
	t.Helper()
	_, err := s.GetSigningKey(context.Background(), kid)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetSigningKey(%s): %v", kid, err)
	}
	return errors.Is(err, storage.ErrNotFound)
}

// wantErr fails unless err is non-nil and its message contains every part.
func wantErr(t testing.TB, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Fatalf("error %q does not contain %q", err, p)
		}
	}
}

// waitFor polls cond every 10ms for up to 5s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
