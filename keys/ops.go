package keys

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/usher-id/usher/storage"
)

// ErrUnknownKey means no signing key has the kid given.
var ErrUnknownKey = errors.New("keys: no signing key")

// Rotate starts a rotation of alg's key. Normally it creates a next key,
// which the servers promote once it has been published for the JWKS cache
// lifetime, so no verifier ever meets an unknown kid. With immediately (for
// a compromised key) the new key becomes current as soon as every replica
// publishes it, about twice PollInterval later: Rotate waits that long.
// Verifiers holding a cached JWKS must refetch it when they meet the new
// kid.
func (m *Manager) Rotate(ctx context.Context, alg string, immediately bool) (*storage.SigningKey, error) {
	if !slices.Contains(m.opts.Algorithms, alg) {
		return nil, fmt.Errorf("keys: %s is not in keys.algorithms %v", alg, m.opts.Algorithms)
	}
	next, err := m.ensureNext(ctx, alg)
	if err != nil {
		return nil, err
	}
	if immediately {
		if err := m.succeed(ctx, next, "", false); err != nil {
			return nil, err
		}
	}
	return m.store.GetSigningKey(ctx, next.ID)
}

// Retire takes the key kid out of signing. A current key is replaced by
// the next key (a new one if there is none) as soon as every replica
// publishes that, within about twice PollInterval; the retired key stays
// published until the tokens it signed have expired. A next key, which
// never signed, is removed at the next maintenance.
func (m *Manager) Retire(ctx context.Context, kid string) error {
	r, err := m.store.GetSigningKey(ctx, kid)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w %s", ErrUnknownKey, kid)
	}
	if err != nil {
		return err
	}
	switch r.State {
	case storage.KeyRetired:
		return fmt.Errorf("keys: %s is already retired", kid)
	case storage.KeyCurrent:
		next, err := m.ensureNext(ctx, r.Algorithm)
		if err != nil {
			return err
		}
		return m.succeed(ctx, next, kid, false)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err = m.retire(ctx, r); errors.Is(err, errStale) {
		return fmt.Errorf("keys: %s changed state while being retired; look at usher keys list and try again", kid)
	}
	if err != nil {
		return err
	}
	return m.reload(ctx)
}

// Revoke removes the key kid at once, for a key that has leaked: it leaves
// the JWKS, so every token it signed stops verifying, on every replica
// within PollInterval. A current key is first replaced by the next key of
// its algorithm (a new one if there is none) once every replica publishes
// that, so signing never stops; Revoke waits for it, about twice
// PollInterval. Tokens the key signed that verifiers have already checked
// cannot be recalled, and verifiers keep a cached JWKS for up to
// JWKSMaxAge.
func (m *Manager) Revoke(ctx context.Context, kid string) error {
	r, err := m.store.GetSigningKey(ctx, kid)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w %s", ErrUnknownKey, kid)
	}
	if err != nil {
		return err
	}
	if m.signs(r) {
		next, err := m.ensureNext(ctx, r.Algorithm)
		if err != nil {
			return err
		}
		return m.succeed(ctx, next, kid, true)
	}
	// A next or retired key, or one of an algorithm no longer configured:
	// nothing needs it to sign, unless a replica promoted it meanwhile.
	m.mu.Lock()
	defer m.mu.Unlock()
	err = m.store.InTx(ctx, func(tx storage.Tx) error {
		k, err := tx.GetSigningKey(ctx, kid)
		if err != nil {
			return err
		}
		if m.signs(k) {
			return errStale
		}
		return tx.DeleteSigningKey(ctx, kid)
	})
	switch {
	case errors.Is(err, errStale):
		return fmt.Errorf("keys: %s became current while being revoked; run usher keys revoke %s again", kid, kid)
	case errors.Is(err, storage.ErrNotFound):
		// Revoked meanwhile.
	case err != nil:
		return fmt.Errorf("keys: revoke %s: %w", kid, err)
	default:
		m.opts.Log.Warn("revoked signing key", "kid", kid, "alg", r.Algorithm, "state", r.State)
	}
	return m.reload(ctx)
}

// signs reports whether r is a current key that signing relies on: one of
// a configured algorithm.
func (m *Manager) signs(r *storage.SigningKey) bool {
	return r.State == storage.KeyCurrent && slices.Contains(m.opts.Algorithms, r.Algorithm)
}

// ensureNext returns alg's next key, creating it if there is none.
func (m *Manager) ensureNext(ctx context.Context, alg string) (*storage.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	if _, next := pick(recs, alg); next != nil {
		return next, m.load(recs)
	}
	next, err := m.create(ctx, alg, storage.KeyNext)
	if err != nil {
		return nil, err
	}
	return next, m.reload(ctx)
}

// succeed makes next the current key of its algorithm once every replica
// publishes it, and retires the key it replaces (or deletes it, with
// revoke). old names the key to replace; "" means whichever is current.
// A replica that promotes next on schedule meanwhile is no error: a key
// old that is no longer current then needs no replacing.
func (m *Manager) succeed(ctx context.Context, next *storage.SigningKey, old string, revoke bool) error {
	if err := m.waitPublished(ctx, next.ID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now().UTC()
	var replaced *storage.SigningKey
	promoted := false
	err := m.store.InTx(ctx, func(tx storage.Tx) error {
		replaced, promoted = nil, false
		recs, err := tx.ListSigningKeys(ctx)
		if err != nil {
			return err
		}
		c, _ := pick(recs, next.Algorithm)
		if old != "" {
			if c = find(recs, old); c == nil {
				return nil // revoked or deleted meanwhile: nothing to do
			}
		}
		if c != nil && c.ID == next.ID {
			return nil // promoted meanwhile
		}
		if c != nil && c.State != storage.KeyCurrent {
			// Retired meanwhile by a promotion on schedule.
			if revoke {
				replaced = c
				return tx.DeleteSigningKey(ctx, c.ID)
			}
			return nil
		}
		n := find(recs, next.ID)
		if n == nil || n.State != storage.KeyNext {
			return errStale
		}
		if c != nil {
			// The old key stops being current first: one current key per
			// algorithm.
			if err := m.demote(ctx, tx, c, revoke, now); err != nil {
				return err
			}
			replaced = c
		}
		n.State, n.ActivatedAt = storage.KeyCurrent, now
		promoted = true
		return tx.UpdateSigningKey(ctx, n)
	})
	if errors.Is(err, errStale) {
		return fmt.Errorf("keys: the keys of %s changed meanwhile; look at usher keys list and try again", next.Algorithm)
	}
	if err != nil {
		return fmt.Errorf("keys: promote %s: %w", next.ID, err)
	}
	if promoted {
		m.opts.Log.Info("signing key is now current", "kid", next.ID, "alg", next.Algorithm)
	}
	if replaced != nil && revoke {
		m.opts.Log.Warn("revoked signing key", "kid", replaced.ID, "alg", replaced.Algorithm)
	}
	return m.reload(ctx)
}

// demote takes the current key c out of signing in tx: retired and still
// published for retention, or deleted at once when revoked.
func (m *Manager) demote(ctx context.Context, tx storage.Tx, c *storage.SigningKey, revoke bool, now time.Time) error {
	if revoke {
		return tx.DeleteSigningKey(ctx, c.ID)
	}
	c.State, c.RetiredAt, c.DeleteAfter = storage.KeyRetired, now, now.Add(m.opts.retention())
	return tx.UpdateSigningKey(ctx, c)
}

// waitPublished returns once kid has been in the database for publishWait,
// by this manager's own clock: it was there when this manager first read
// it, and every replica reads the keys' version every PollInterval, so by
// then every replica's JWKS has it. Only durations of this manager's clock
// count, so clocks that disagree between machines do not shorten the wait.
func (m *Manager) waitPublished(ctx context.Context, kid string) error {
	m.mu.Lock()
	since, ok := m.seen[kid]
	m.mu.Unlock()
	now := m.opts.Now()
	if !ok {
		since = now
	}
	d := since.Add(m.opts.publishWait()).Sub(now)
	if d <= 0 {
		return nil
	}
	m.opts.Log.Info("waiting for every replica to publish the new signing key before it signs", "kid", kid, "wait", d)
	if err := m.opts.Wait(ctx, d); err != nil {
		return fmt.Errorf("keys: waiting for %s to be published: %w", kid, err)
	}
	return nil
}

func find(recs []*storage.SigningKey, kid string) *storage.SigningKey {
	for _, r := range recs {
		if r.ID == kid {
			return r
		}
	}
	return nil
}

// Secret returns the instance secret called name, creating it with size
// random bytes the first time. Every replica gets the same value.
func (m *Manager) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	aad := []byte("secret:" + name)
	for range 2 {
		s, err := m.store.GetSecret(ctx, name)
		if err == nil {
			v, err := m.sealer.Open(s.ValueEncrypted, aad)
			switch {
			case errors.Is(err, ErrMasterKeyMismatch):
				return nil, fmt.Errorf("keys: cannot decrypt secret %s: %w", name, err)
			case err != nil:
				return nil, fmt.Errorf("keys: secret %s is damaged: %w", name, err)
			case len(v) != size:
				return nil, fmt.Errorf("keys: secret %s is %d bytes, want %d", name, len(v), size)
			}
			return v, nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		v := make([]byte, size)
		_, _ = rand.Read(v)
		err = m.store.CreateSecret(ctx, &storage.Secret{Name: name, ValueEncrypted: m.sealer.Seal(v, aad)})
		if err == nil {
			return v, nil
		}
		if !errors.Is(err, storage.ErrConflict) {
			return nil, err
		}
		// Another replica created it first: read theirs.
	}
	return nil, fmt.Errorf("keys: secret %s: created and gone again", name)
}

// RewrapStore is what Rewrap needs.
type RewrapStore interface {
	storage.SigningKeys
	storage.Secrets
	storage.JWTTemplates
	storage.Connections
}

// Rewrap re-seals every private key, secret and template key under the sealer's current
// master key, opening them with the current or a previous one. It returns
// how many it re-sealed. Run it after changing the master key, then drop
// the previous key from the configuration.
func Rewrap(ctx context.Context, store RewrapStore, sealer *Sealer) (int, error) {
	n := 0
	recs, err := store.ListSigningKeys(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		if sealer.Current(r.PrivateKeyEncrypted) {
			continue
		}
		plain, err := sealer.Open(r.PrivateKeyEncrypted, []byte(r.ID))
		if err != nil {
			return n, fmt.Errorf("keys: rewrap signing key %s: %w", r.ID, err)
		}
		r.PrivateKeyEncrypted = sealer.Seal(plain, []byte(r.ID))
		if err := store.UpdateSigningKey(ctx, r); err != nil {
			return n, fmt.Errorf("keys: rewrap signing key %s: %w", r.ID, err)
		}
		n++
	}
	secrets, err := store.ListSecrets(ctx)
	if err != nil {
		return n, err
	}
	for _, s := range secrets {
		if sealer.Current(s.ValueEncrypted) {
			continue
		}
		aad := []byte("secret:" + s.Name)
		plain, err := sealer.Open(s.ValueEncrypted, aad)
		if err != nil {
			return n, fmt.Errorf("keys: rewrap secret %s: %w", s.Name, err)
		}
		s.ValueEncrypted = sealer.Seal(plain, aad)
		if err := store.UpdateSecret(ctx, s); err != nil {
			return n, fmt.Errorf("keys: rewrap secret %s: %w", s.Name, err)
		}
		n++
	}
	templates, err := store.ListJWTTemplates(ctx)
	if err != nil {
		return n, err
	}
	for _, t := range templates {
		if len(t.CustomKey) == 0 || sealer.Current(t.CustomKey) {
			continue
		}
		aad := []byte("sealed:" + TemplateKeyPurpose(t.Name))
		plain, err := sealer.Open(t.CustomKey, aad)
		if err != nil {
			return n, fmt.Errorf("keys: rewrap the key of template %s: %w", t.Name, err)
		}
		t.CustomKey = sealer.Seal(plain, aad)
		if err := store.UpdateJWTTemplate(ctx, t); err != nil {
			return n, fmt.Errorf("keys: rewrap the key of template %s: %w", t.Name, err)
		}
		n++
	}
	conns, err := store.ListConnections(ctx)
	if err != nil {
		return n, err
	}
	for _, c := range conns {
		if len(c.ClientSecret) == 0 || sealer.Current(c.ClientSecret) {
			continue
		}
		aad := []byte("sealed:" + ConnectionSecretPurpose(c.ID))
		plain, err := sealer.Open(c.ClientSecret, aad)
		if err != nil {
			return n, fmt.Errorf("keys: rewrap the secret of connection %s: %w", c.Slug, err)
		}
		c.ClientSecret = sealer.Seal(plain, aad)
		if err := store.UpdateConnection(ctx, c); err != nil {
			return n, fmt.Errorf("keys: rewrap the secret of connection %s: %w", c.Slug, err)
		}
		n++
	}
	return n, nil
}

// ConnectionSecretPurpose binds an upstream connection's sealed client
// secret to the connection (see Seal).
func ConnectionSecretPurpose(id string) string { return "connection-secret:" + id }

// TemplateKeyPurpose binds a JWT template's own sealed signing key to the
// template (see Seal); a template keeps its name for that reason.
func TemplateKeyPurpose(name string) string { return "template-key:" + name }

// Seal encrypts a secret kept in another record (a JWT template's own
// signing key, say) under the master key. purpose is bound into the
// ciphertext, so a sealed value cannot be moved to another record.
func (m *Manager) Seal(plaintext []byte, purpose string) []byte {
	return m.sealer.Seal(plaintext, []byte("sealed:"+purpose))
}

// Open decrypts what Seal sealed for the same purpose.
func (m *Manager) Open(sealed []byte, purpose string) ([]byte, error) {
	v, err := m.sealer.Open(sealed, []byte("sealed:"+purpose))
	if err != nil {
		return nil, fmt.Errorf("keys: cannot open a sealed secret: %w", err)
	}
	return v, nil
}
