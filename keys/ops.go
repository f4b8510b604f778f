package keys

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/usher-id/usher/storage"
)

// Rotate starts a rotation of alg's key. Normally it creates a next key,
// which the servers promote once it has been published for the JWKS cache
// lifetime, so no verifier ever meets an unknown kid. With immediately (for
// a compromised key) the new key becomes current at once; verifiers holding
// a cached JWKS must refetch it when they meet the new kid.
func (m *Manager) Rotate(ctx context.Context, alg string, immediately bool) (*storage.SigningKey, error) {
	if !slices.Contains(m.opts.Algorithms, alg) {
		return nil, fmt.Errorf("keys: %s is not in keys.algorithms %v", alg, m.opts.Algorithms)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	cur, next := pick(recs, alg)
	if next == nil {
		if next, err = m.create(ctx, alg, storage.KeyNext); err != nil {
			return nil, err
		}
	}
	if immediately {
		if err := m.promote(ctx, next, cur); err != nil {
			return nil, err
		}
	}
	if recs, err = m.store.ListSigningKeys(ctx); err != nil {
		return nil, err
	}
	if err := m.load(recs); err != nil {
		return nil, err
	}
	return m.store.GetSigningKey(ctx, next.ID)
}

// Retire takes the key kid out of signing. A current key is replaced at
// once (by the next key if there is one, else by a new key); it stays
// published until the tokens it signed have expired. A next key, which
// never signed, is removed at the next maintenance.
func (m *Manager) Retire(ctx context.Context, kid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.store.GetSigningKey(ctx, kid)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("keys: no signing key %s", kid)
	}
	if err != nil {
		return err
	}
	switch r.State {
	case storage.KeyRetired:
		return fmt.Errorf("keys: %s is already retired", kid)
	case storage.KeyNext:
		if err = m.retire(ctx, r); errors.Is(err, errStale) {
			return fmt.Errorf("keys: %s changed state while being retired; look at usher keys list and try again", kid)
		}
	case storage.KeyCurrent:
		recs, lerr := m.store.ListSigningKeys(ctx)
		if lerr != nil {
			return lerr
		}
		_, next := pick(recs, r.Algorithm)
		if next == nil {
			if next, err = m.create(ctx, r.Algorithm, storage.KeyNext); err != nil {
				return err
			}
		}
		err = m.promote(ctx, next, r)
	}
	if err != nil {
		return err
	}
	recs, err := m.store.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	return m.load(recs)
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
