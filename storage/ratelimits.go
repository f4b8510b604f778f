package storage

import (
	"context"
	"time"
)

// MaxRateLimitWindow is the longest window; DeleteExpired forgets counts
// older than that.
const MaxRateLimitWindow = 24 * time.Hour

// RateLimits counts events per key in fixed windows, in the database, so
// every replica enforces one limit (a per-replica count would multiply an
// attacker's budget by the number of replicas).
type RateLimits interface {
	// HitRateLimit counts one event for key and returns how many the
	// current window holds, this one included. A window starts with the
	// first event after the previous one ended.
	HitRateLimit(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
	// RateLimitCount returns how many events the current window of key
	// holds, without counting one.
	RateLimitCount(ctx context.Context, key string, window time.Duration, now time.Time) (int, error)
}
