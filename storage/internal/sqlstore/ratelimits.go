package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/usher-id/usher/storage"
)

// HitRateLimit implements storage.RateLimits as one upsert, so concurrent
// hits from several replicas all count.
func (s *Store) HitRateLimit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	if key == "" || window <= 0 || window > storage.MaxRateLimitWindow {
		return 0, fmt.Errorf("%w: a rate limit needs a key and a window", storage.ErrInvalid)
	}
	var hits int
	err := s.queryRow(ctx, `INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, 1)
		ON CONFLICT (key) DO UPDATE SET
			hits = CASE WHEN rate_limits.window_start <= $3 THEN 1 ELSE rate_limits.hits + 1 END,
			window_start = CASE WHEN rate_limits.window_start <= $3 THEN excluded.window_start ELSE rate_limits.window_start END
		RETURNING hits`, []any{key, s.t(now), s.t(now.Add(-window))}, &hits)
	return hits, err
}

// RateLimitCount implements storage.RateLimits.
func (s *Store) RateLimitCount(ctx context.Context, key string, window time.Duration, now time.Time) (int, error) {
	var hits int
	err := s.queryRow(ctx, `SELECT hits FROM rate_limits WHERE key = $1 AND window_start > $2`,
		[]any{key, s.t(now.Add(-window))}, &hits)
	if errors.Is(err, storage.ErrNotFound) {
		return 0, nil
	}
	return hits, err
}
