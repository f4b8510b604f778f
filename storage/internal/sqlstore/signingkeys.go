package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

const signingKeyColumns = `id, algorithm, state, private_key_encrypted, public_key_jwk, created_at, activated_at, retired_at, delete_after`

func scanSigningKey(r Row) (*storage.SigningKey, error) {
	k := new(storage.SigningKey)
	err := r.Scan(&k.ID, &k.Algorithm, &k.State, &k.PrivateKeyEncrypted, raw(&k.PublicKeyJWK),
		tm(&k.CreatedAt), tm(&k.ActivatedAt), tm(&k.RetiredAt), tm(&k.DeleteAfter))
	return k, err
}

func validKeyState(state string) error {
	switch state {
	case storage.KeyNext, storage.KeyCurrent, storage.KeyRetired:
		return nil
	}
	return fmt.Errorf("%w: signing key state %q is not next, current or retired", storage.ErrInvalid, state)
}

// CreateSigningKey implements storage.SigningKeys. The partial unique index
// on current keys turns a second current key into ErrConflict, which is
// what keeps two replicas from both creating one.
func (s *Store) CreateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	if err := validKeyState(k.State); err != nil {
		return err
	}
	if k.ID == "" {
		k.ID = storage.NewID(storage.PrefixSigningKey)
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	return s.atomic(ctx, func(tx *Store) error {
		_, err := tx.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			k.ID, k.Algorithm, k.State, k.PrivateKeyEncrypted, string(k.PublicKeyJWK),
			s.t(k.CreatedAt), s.t(k.ActivatedAt), s.t(k.RetiredAt), s.t(k.DeleteAfter))
		if err != nil {
			return err
		}
		return tx.bumpSigningKeysVersion(ctx)
	})
}

// GetSigningKey implements storage.SigningKeys.
func (s *Store) GetSigningKey(ctx context.Context, id string) (*storage.SigningKey, error) {
	k, err := scanSigningKey(s.q.QueryRow(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys WHERE id = $1`, id))
	return k, s.d.MapError(err)
}

// ListSigningKeys implements storage.SigningKeys.
func (s *Store) ListSigningKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	return queryList(ctx, s, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, id`, nil, scanSigningKey)
}

// UpdateSigningKey implements storage.SigningKeys.
func (s *Store) UpdateSigningKey(ctx context.Context, k *storage.SigningKey) error {
	if err := validKeyState(k.State); err != nil {
		return err
	}
	return s.atomic(ctx, func(tx *Store) error {
		err := tx.execOne(ctx, `UPDATE signing_keys SET state = $2, private_key_encrypted = $3, activated_at = $4,
			retired_at = $5, delete_after = $6 WHERE id = $1`,
			k.ID, k.State, k.PrivateKeyEncrypted, s.t(k.ActivatedAt), s.t(k.RetiredAt), s.t(k.DeleteAfter))
		if err != nil {
			return err
		}
		return tx.bumpSigningKeysVersion(ctx)
	})
}

// DeleteSigningKey implements storage.SigningKeys.
func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.atomic(ctx, func(tx *Store) error {
		if err := tx.execOne(ctx, `DELETE FROM signing_keys WHERE id = $1`, id); err != nil {
			return err
		}
		return tx.bumpSigningKeysVersion(ctx)
	})
}

// SigningKeysVersion implements storage.SigningKeys.
func (s *Store) SigningKeysVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.queryRow(ctx, `SELECT version FROM signing_keys_version WHERE id = 1`, nil, &v)
	return v, err
}

// bumpSigningKeysVersion raises the version in the transaction of the change,
// so a replica that reads the new version also reads the change.
func (s *Store) bumpSigningKeysVersion(ctx context.Context) error {
	return s.execOne(ctx, `UPDATE signing_keys_version SET version = version + 1 WHERE id = 1`)
}
