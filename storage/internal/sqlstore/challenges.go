package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

const challengeColumns = `id, purpose, user_id, email_id, email, code_hash, link_hash, flow_id,
	browser_hash, ip_address, user_agent, attempts, created_at, expires_at, used_at`

func scanChallenge(r Row) (*storage.EmailChallenge, error) {
	c := new(storage.EmailChallenge)
	err := r.Scan(&c.ID, &c.Purpose, &c.UserID, &c.EmailID, &c.Email, &c.CodeHash, &c.LinkHash, &c.FlowID,
		&c.BrowserHash, &c.IPAddress, &c.UserAgent, &c.Attempts, tm(&c.CreatedAt), tm(&c.ExpiresAt), tm(&c.UsedAt))
	return c, err
}

// createChallengeTries bounds how often CreateEmailChallenge supersedes a
// challenge that a concurrent call stored after its own supersede ran.
const createChallengeTries = 5

// CreateEmailChallenge implements storage.EmailChallenges. A unique index
// holds at most one unused challenge per user and purpose. Outside a
// serializable transaction a concurrent call may store one between this
// call's supersede and insert: the insert then does nothing, and the next
// round supersedes that one too, so the newest call wins rather than fails.
func (s *Store) CreateEmailChallenge(ctx context.Context, c *storage.EmailChallenge) error {
	switch c.Purpose {
	case storage.ChallengeVerifyEmail, storage.ChallengeSignIn, storage.ChallengeResetPassword:
	default:
		return fmt.Errorf("%w: unknown email challenge purpose %q", storage.ErrInvalid, c.Purpose)
	}
	if c.UserID == "" || c.EmailID == "" || c.Email == "" || len(c.CodeHash) == 0 || len(c.LinkHash) == 0 || c.ExpiresAt.IsZero() {
		return fmt.Errorf("%w: an email challenge needs a user, an address, a code hash, a link hash and an expiry", storage.ErrInvalid)
	}
	if c.ID == "" {
		c.ID = storage.NewID(storage.PrefixChallenge)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now().UTC().Truncate(time.Microsecond)
	}
	err := s.atomic(ctx, func(tx *Store) error {
		for range createChallengeTries {
			if _, err := tx.SupersedeEmailChallenges(ctx, c.UserID, c.Purpose, c.CreatedAt); err != nil {
				return err
			}
			n, err := tx.exec(ctx, `INSERT INTO email_challenges (`+challengeColumns+`)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
				ON CONFLICT (user_id, purpose) WHERE used_at IS NULL DO NOTHING`,
				c.ID, c.Purpose, c.UserID, c.EmailID, c.Email, c.CodeHash, c.LinkHash, c.FlowID,
				c.BrowserHash, c.IPAddress, c.UserAgent, c.Attempts, tx.t(c.CreatedAt), tx.t(c.ExpiresAt), tx.t(c.UsedAt))
			if err != nil || n == 1 {
				return err
			}
		}
		return fmt.Errorf("%w: other email challenges of the same user and purpose keep being created", storage.ErrConflict)
	})
	if errors.Is(err, storage.ErrInvalid) {
		return fmt.Errorf("%w: no user %q or no address %q", storage.ErrInvalid, c.UserID, c.EmailID)
	}
	return err
}

// GetEmailChallenge implements storage.EmailChallenges.
func (s *Store) GetEmailChallenge(ctx context.Context, id string) (*storage.EmailChallenge, error) {
	c, err := scanChallenge(s.q.QueryRow(ctx, `SELECT `+challengeColumns+` FROM email_challenges WHERE id = $1`, id))
	return c, s.d.MapError(err)
}

// GetEmailChallengeByLinkHash implements storage.EmailChallenges.
func (s *Store) GetEmailChallengeByLinkHash(ctx context.Context, linkHash []byte) (*storage.EmailChallenge, error) {
	c, err := scanChallenge(s.q.QueryRow(ctx, `SELECT `+challengeColumns+` FROM email_challenges WHERE link_hash = $1`, linkHash))
	return c, s.d.MapError(err)
}

// TakeEmailChallengeAttempt implements storage.EmailChallenges in one
// conditional UPDATE: the limit is checked and the try counted together.
func (s *Store) TakeEmailChallengeAttempt(ctx context.Context, id string, max int, now time.Time) (int, error) {
	var n int
	err := s.queryRow(ctx, `UPDATE email_challenges SET attempts = attempts + 1
		WHERE id = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3 RETURNING attempts`, []any{id, s.t(now), max}, &n)
	if !errors.Is(err, storage.ErrNotFound) {
		return n, err
	}
	var exists int
	if err := s.queryRow(ctx, `SELECT 1 FROM email_challenges WHERE id = $1`, []any{id}, &exists); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%w: the email challenge is used up, superseded or has expired", storage.ErrConflict)
}

// UseEmailChallenge implements storage.EmailChallenges with a
// compare-and-set, so of two concurrent uses one wins.
func (s *Store) UseEmailChallenge(ctx context.Context, id string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE email_challenges SET used_at = $2
		WHERE id = $1 AND used_at IS NULL AND expires_at > $2`, id, s.t(at))
	if err != nil || n == 1 {
		return err
	}
	var exists int
	if err := s.queryRow(ctx, `SELECT 1 FROM email_challenges WHERE id = $1`, []any{id}, &exists); err != nil {
		return err
	}
	return fmt.Errorf("%w: the email challenge was already used, superseded or has expired", storage.ErrConflict)
}

// SupersedeEmailChallenges implements storage.EmailChallenges. It spells out
// "used_at IS NULL" so that SQLite and PostgreSQL use the partial index of
// unused challenges.
func (s *Store) SupersedeEmailChallenges(ctx context.Context, userID, purpose string, at time.Time) (int64, error) {
	return s.exec(ctx, `UPDATE email_challenges SET used_at = $3
		WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`, userID, purpose, s.t(at))
}
