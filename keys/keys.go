// Package keys owns Usher's signing keys: it creates them, keeps their
// private parts sealed under the master key, rotates them with an overlap
// so no valid token loses its key, publishes the JWKS, and signs.
//
// A key moves next → current → retired → deleted. A next key is published
// for at least the JWKS cache lifetime (plus the time replicas take to
// notice) before it signs anything, so every verifier already has it; a
// retired key stays published until every token it signed has expired.
// Keys live in the database, so all replicas share them; each replica keeps
// the usable ones in memory, so signing never touches the database. Every
// change to the keys raises a version row that each replica reads every
// PollInterval, so a change made anywhere is published everywhere within
// that time; a key made current on demand (an immediate rotation, a
// retired or revoked current key) therefore signs only once it has been
// published for twice PollInterval, when every replica's JWKS has it.
package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/usher-id/usher/storage"
)

var (
	// ErrNoActiveKey means no current key exists for the algorithm asked.
	ErrNoActiveKey = errors.New("keys: no current signing key for that algorithm")
	// ErrLifetimeTooLong means a token would outlive the time its key is
	// guaranteed to stay published.
	ErrLifetimeTooLong = errors.New("keys: token lifetime is longer than keys.max_token_lifetime")
)

// Algorithms Usher can sign with.
var Algorithms = []string{string(jose.RS256), string(jose.ES256), string(jose.EdDSA)}

// Store is the storage the manager needs.
type Store interface {
	storage.SigningKeys
	storage.Secrets
	InTx(ctx context.Context, fn func(tx storage.Tx) error) error
}

// Options tune a Manager. Zero durations take the defaults shown.
type Options struct {
	// Algorithms each get a current key; the first is the default.
	Algorithms []string // [RS256]
	// RotationPeriod is how long a key stays current.
	RotationPeriod time.Duration // 90 days
	// JWKSMaxAge is the JWKS Cache-Control max-age.
	JWKSMaxAge time.Duration // 15m
	// RefreshInterval is how often a replica maintains the keys: creates,
	// promotes and deletes them as the clock says.
	RefreshInterval time.Duration // 30s
	// PollInterval bounds how stale a replica's view of the keys is: this
	// often it reads one row, the keys' version, and reloads the keys when
	// another replica or the CLI changed them.
	PollInterval time.Duration // 1s, at most RefreshInterval
	// MaxTokenLifetime is the longest lifetime of a token signed.
	MaxTokenLifetime time.Duration // 24h
	// Now is the clock; tests set it.
	Now func() time.Time
	// Wait pauses for d or until ctx ends: while a new key becomes known
	// to every replica before it signs. Tests set it along with Now.
	Wait func(ctx context.Context, d time.Duration) error
	Log  *slog.Logger
}

func (o *Options) setDefaults() error {
	if len(o.Algorithms) == 0 {
		o.Algorithms = []string{string(jose.RS256)}
	}
	for _, a := range o.Algorithms {
		if !slices.Contains(Algorithms, a) {
			return fmt.Errorf("keys: unknown signing algorithm %q; use one of %v", a, Algorithms)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.RotationPeriod, 90*24*time.Hour)
	def(&o.JWKSMaxAge, 15*time.Minute)
	def(&o.RefreshInterval, 30*time.Second)
	def(&o.MaxTokenLifetime, 24*time.Hour)
	def(&o.PollInterval, time.Second)
	o.PollInterval = min(o.PollInterval, o.RefreshInterval)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wait == nil {
		o.Wait = sleep
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// clockSkew is added to retention so verifiers whose clocks run behind can
// still find the key of a token they accept.
const clockSkew = 5 * time.Minute

// publishAhead is how long a next key is published before it may sign.
func (o *Options) publishAhead() time.Duration { return o.JWKSMaxAge + o.RefreshInterval }

// publishWait is how long a key made current on demand is published first:
// every replica reads the keys' version every PollInterval, so after one
// interval each has it; the second covers a slow query or reload.
func (o *Options) publishWait() time.Duration { return 2 * o.PollInterval }

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retention is how long a retired key stays published: a replica that has
// not yet seen the retirement may sign with it for one more
// RefreshInterval, and its tokens live up to MaxTokenLifetime.
func (o *Options) retention() time.Duration {
	return o.MaxTokenLifetime + o.RefreshInterval + clockSkew
}

// Key is a usable private signing key. It satisfies zitadel/oidc's
// op.SigningKey.
type Key struct {
	id     string
	alg    jose.SignatureAlgorithm
	priv   crypto.Signer
	signer jose.Signer
}

// ID is the key's kid.
func (k *Key) ID() string { return k.id }

// SignatureAlgorithm is the JWS algorithm the key signs with.
func (k *Key) SignatureAlgorithm() jose.SignatureAlgorithm { return k.alg }

// Key is the private key, for libraries that build their own signer.
func (k *Key) Key() any { return k.priv }

// snapshot is one consistent view of the keys, swapped atomically so that
// signing and JWKS requests never wait for a reload.
type snapshot struct {
	current     map[string]*Key
	public      []jose.JSONWebKey
	jwks        []byte
	etag        string
	fingerprint string
}

// Manager creates, rotates, publishes and uses signing keys.
type Manager struct {
	store  Store
	sealer *Sealer
	opts   Options
	snap   atomic.Pointer[snapshot]

	mu      sync.Mutex           // serializes Maintain, Poll and the operations
	opened  map[string]*Key      // private keys already unsealed, by kid
	seen    map[string]time.Time // when this manager first read each key: it was in the database by then
	version int64                // the keys' version the snapshot was read at
}

// New loads the keys, creating the first current key of each configured
// algorithm when there is none, and fails if they cannot be unsealed.
func New(ctx context.Context, store Store, sealer *Sealer, opts Options) (*Manager, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	m := &Manager{store: store, sealer: sealer, opts: opts, opened: make(map[string]*Key), seen: make(map[string]time.Time)}
	if err := m.Maintain(ctx); err != nil {
		return nil, err
	}
	return m, nil
}

// Run keeps the keys up to date until ctx ends: every PollInterval it
// reloads them if they changed (Poll), and every RefreshInterval it
// maintains them (Maintain). A failed pass is logged; signing goes on with
// the keys already loaded.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.opts.PollInterval)
	defer t.Stop()
	maintainEvery := max(1, int(m.opts.RefreshInterval/m.opts.PollInterval))
	for tick := 1; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if tick%maintainEvery == 0 {
			if err := m.Maintain(ctx); err != nil && ctx.Err() == nil {
				m.opts.Log.Error("signing key maintenance failed", "err", err)
			}
		} else if err := m.Poll(ctx); err != nil && ctx.Err() == nil {
			m.opts.Log.Error("signing key reload failed", "err", err)
		}
	}
}

// Poll reloads the keys if they changed since this manager last read them,
// which costs one row read when they did not. Run calls it every
// PollInterval.
func (m *Manager) Poll(ctx context.Context) error {
	v, err := m.store.SigningKeysVersion(ctx)
	if err != nil {
		return fmt.Errorf("keys: read version: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if v == m.version {
		return nil
	}
	return m.reload(ctx)
}

// reload reads the keys and swaps them in. The version is read first: a
// change made while listing raises it again, and the next Poll reloads.
func (m *Manager) reload(ctx context.Context) error {
	v, err := m.store.SigningKeysVersion(ctx)
	if err != nil {
		return fmt.Errorf("keys: read version: %w", err)
	}
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	if err := m.load(recs); err != nil {
		return err
	}
	m.version = v
	return nil
}

// DefaultAlgorithm is the algorithm tokens are signed with unless asked
// otherwise.
func (m *Manager) DefaultAlgorithm() string { return m.opts.Algorithms[0] }

// MaxTokenLifetime is the longest lifetime of a token the instance keys
// sign (keys.max_token_lifetime).
func (m *Manager) MaxTokenLifetime() time.Duration { return m.opts.MaxTokenLifetime }

// Algorithms lists the algorithms that have a current key.
func (m *Manager) Algorithms() []string { return slices.Clone(m.opts.Algorithms) }

// Current returns the current key for alg.
func (m *Manager) Current(alg string) (*Key, error) {
	if k := m.snap.Load().current[alg]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %s", ErrNoActiveKey, alg)
}

// Sign signs payload, a JSON claims set, with the current key for alg and
// returns a compact JWS. expires is the token's exp: a token that would
// outlive its key's publication is refused.
func (m *Manager) Sign(alg string, payload []byte, expires time.Time) (string, error) {
	k := m.snap.Load().current[alg]
	if k == nil {
		return "", fmt.Errorf("%w: %s", ErrNoActiveKey, alg)
	}
	if expires.After(m.opts.Now().Add(m.opts.MaxTokenLifetime)) {
		return "", ErrLifetimeTooLong
	}
	jws, err := k.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// PublicKeys returns every published key: current, next and retired.
func (m *Manager) PublicKeys() []jose.JSONWebKey { return m.snap.Load().public }

// Maintain brings the keys in line with the options and the clock, then
// reloads them: it creates missing current keys, creates next keys ahead
// of rotation, promotes next keys that have been published long enough,
// retires keys of algorithms no longer configured, and deletes retired keys
// whose tokens have all expired. Replicas may run it concurrently: the
// database allows one current key per algorithm, and a replica that loses
// a race simply reloads.
func (m *Manager) Maintain(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.store.SigningKeysVersion(ctx)
	if err != nil {
		return fmt.Errorf("keys: read version: %w", err)
	}
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list: %w", err)
	}
	now := m.opts.Now()
	changed := false
	for _, alg := range m.opts.Algorithms {
		cur, next := pick(recs, alg)
		var err error
		switch {
		case cur == nil && next == nil:
			_, err = m.create(ctx, alg, storage.KeyCurrent)
		case cur == nil:
			err = m.promote(ctx, next, nil)
		case next != nil && !now.Before(next.CreatedAt.Add(m.opts.publishAhead())):
			err = m.promote(ctx, next, cur)
		case next == nil && !now.Before(cur.ActivatedAt.Add(m.opts.RotationPeriod-m.opts.publishAhead())):
			_, err = m.create(ctx, alg, storage.KeyNext)
		default:
			continue
		}
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			return err
		}
		changed = true
	}
	for _, r := range recs {
		var err error
		switch {
		case r.State == storage.KeyRetired && !now.Before(r.DeleteAfter):
			if err = m.store.DeleteSigningKey(ctx, r.ID); err == nil {
				m.opts.Log.Info("deleted retired signing key", "kid", r.ID, "alg", r.Algorithm)
			}
		case r.State != storage.KeyRetired && !slices.Contains(m.opts.Algorithms, r.Algorithm):
			err = m.retire(ctx, r)
		default:
			continue
		}
		if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("keys: %s: %w", r.ID, err)
		}
		changed = true
	}
	if changed {
		return m.reload(ctx)
	}
	if err := m.load(recs); err != nil {
		return err
	}
	m.version = v
	return nil
}

// pick returns the current key and the newest next key for alg.
func pick(recs []*storage.SigningKey, alg string) (cur, next *storage.SigningKey) {
	for _, r := range recs {
		if r.Algorithm != alg {
			continue
		}
		switch r.State {
		case storage.KeyCurrent:
			cur = r
		case storage.KeyNext:
			next = r // recs are oldest first
		}
	}
	return cur, next
}

// create generates a key of alg in state (next or current) and stores it.
func (m *Manager) create(ctx context.Context, alg, state string) (*storage.SigningKey, error) {
	priv, err := generate(alg)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keys: encode %s key: %w", alg, err)
	}
	now := m.opts.Now().UTC()
	rec := &storage.SigningKey{ID: storage.NewID(storage.PrefixSigningKey), Algorithm: alg, State: state, CreatedAt: now}
	if state == storage.KeyCurrent {
		rec.ActivatedAt = now
	}
	rec.PrivateKeyEncrypted = m.sealer.Seal(der, []byte(rec.ID))
	rec.PublicKeyJWK, err = jose.JSONWebKey{Key: priv.Public(), KeyID: rec.ID, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("keys: encode %s public key: %w", alg, err)
	}
	if err := m.store.CreateSigningKey(ctx, rec); err != nil {
		return nil, fmt.Errorf("keys: store %s key: %w", alg, err)
	}
	m.seen[rec.ID] = m.opts.Now()
	m.opts.Log.Info("created signing key", "kid", rec.ID, "alg", alg, "state", state)
	return rec, nil
}

func generate(alg string) (crypto.Signer, error) {
	switch jose.SignatureAlgorithm(alg) {
	case jose.RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	case jose.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("keys: unknown signing algorithm %q", alg)
}

// errStale means another replica changed a key between our read and our
// transaction; the next reload picks up what it did.
var errStale = fmt.Errorf("%w: the keys changed meanwhile", storage.ErrConflict)

// promote makes next current and retires cur (if any), in one transaction.
func (m *Manager) promote(ctx context.Context, next, cur *storage.SigningKey) error {
	now := m.opts.Now().UTC()
	err := m.store.InTx(ctx, func(tx storage.Tx) error {
		n, err := tx.GetSigningKey(ctx, next.ID)
		if err != nil || n.State != storage.KeyNext {
			return errStale
		}
		if cur != nil {
			c, err := tx.GetSigningKey(ctx, cur.ID)
			if err != nil || c.State != storage.KeyCurrent {
				return errStale
			}
			c.State, c.RetiredAt, c.DeleteAfter = storage.KeyRetired, now, now.Add(m.opts.retention())
			if err := tx.UpdateSigningKey(ctx, c); err != nil {
				return err
			}
		}
		n.State, n.ActivatedAt = storage.KeyCurrent, now
		return tx.UpdateSigningKey(ctx, n)
	})
	if err != nil {
		return fmt.Errorf("keys: promote %s: %w", next.ID, err)
	}
	m.opts.Log.Info("signing key is now current", "kid", next.ID, "alg", next.Algorithm)
	return nil
}

// retire takes a key out of signing; it stays published for retention. It
// changes the key only if it is still in the state r says, so a replica
// that promoted it meanwhile is not undone: that is errStale.
func (m *Manager) retire(ctx context.Context, r *storage.SigningKey) error {
	now := m.opts.Now().UTC()
	var deleteAfter time.Time
	err := m.store.InTx(ctx, func(tx storage.Tx) error {
		k, err := tx.GetSigningKey(ctx, r.ID)
		if err != nil {
			return err
		}
		if k.State != r.State {
			return errStale
		}
		k.State, k.RetiredAt, k.DeleteAfter = storage.KeyRetired, now, now.Add(m.opts.retention())
		if r.State == storage.KeyNext {
			k.DeleteAfter = now // it never signed anything
		}
		deleteAfter = k.DeleteAfter
		return tx.UpdateSigningKey(ctx, k)
	})
	if err != nil {
		return err
	}
	m.opts.Log.Info("retired signing key", "kid", r.ID, "alg", r.Algorithm, "delete_after", deleteAfter)
	return nil
}

// load builds a new snapshot from recs, unsealing private keys it has not
// opened before.
func (m *Manager) load(recs []*storage.SigningKey) error {
	now := m.opts.Now()
	seen := make(map[string]time.Time, len(recs))
	for _, r := range recs {
		seen[r.ID] = now
		if t, ok := m.seen[r.ID]; ok {
			seen[r.ID] = t
		}
	}
	m.seen = seen
	fp := fingerprint(recs)
	if old := m.snap.Load(); old != nil && old.fingerprint == fp {
		return nil
	}
	s := &snapshot{current: make(map[string]*Key), fingerprint: fp}
	order := map[string]int{storage.KeyCurrent: 0, storage.KeyNext: 1, storage.KeyRetired: 2}
	sorted := slices.Clone(recs)
	slices.SortStableFunc(sorted, func(a, b *storage.SigningKey) int { return order[a.State] - order[b.State] })
	opened := make(map[string]*Key)
	for _, r := range sorted {
		var pub jose.JSONWebKey
		if err := pub.UnmarshalJSON(r.PublicKeyJWK); err != nil || !pub.IsPublic() || pub.KeyID != r.ID {
			return fmt.Errorf("keys: signing key %s is damaged: its public key does not parse", r.ID)
		}
		s.public = append(s.public, pub)
		if r.State == storage.KeyRetired {
			continue
		}
		k, err := m.open(r)
		if err != nil {
			return err
		}
		opened[r.ID] = k
		if r.State == storage.KeyCurrent {
			s.current[r.Algorithm] = k
		}
	}
	body, err := json.Marshal(jose.JSONWebKeySet{Keys: s.public})
	if err != nil {
		return fmt.Errorf("keys: render JWKS: %w", err)
	}
	s.jwks = body
	s.etag = etagOf(body)
	m.opened = opened
	m.snap.Store(s)
	return nil
}

// open unseals a private key, once per kid.
func (m *Manager) open(r *storage.SigningKey) (*Key, error) {
	if k := m.opened[r.ID]; k != nil {
		return k, nil
	}
	der, err := m.sealer.Open(r.PrivateKeyEncrypted, []byte(r.ID))
	switch {
	case errors.Is(err, ErrMasterKeyMismatch):
		return nil, fmt.Errorf("keys: cannot decrypt signing keys: %w (the keys were sealed under another master key; set the master key they were created with)", err)
	case err != nil:
		return nil, fmt.Errorf("keys: signing key %s is damaged: %w", r.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s is damaged: %w", r.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok || !slices.Contains(Algorithms, r.Algorithm) {
		return nil, fmt.Errorf("keys: signing key %s has an unusable algorithm %q", r.ID, r.Algorithm)
	}
	alg := jose.SignatureAlgorithm(r.Algorithm)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: r.ID, Algorithm: r.Algorithm}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("keys: signing key %s: %w", r.ID, err)
	}
	return &Key{id: r.ID, alg: alg, priv: priv, signer: signer}, nil
}

func fingerprint(recs []*storage.SigningKey) string {
	b := make([]byte, 0, 64*len(recs))
	for _, r := range recs {
		b = append(b, r.ID...)
		b = append(b, ':')
		b = append(b, r.State...)
		b = append(b, ';')
	}
	return string(b)
}
