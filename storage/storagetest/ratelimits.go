package storagetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testRateLimits(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"CountsInWindows", rateLimitWindows},
		{"ConcurrentHitsAllCount", rateLimitConcurrent},
		{"Invalid", rateLimitInvalid},
		{"OldCountsDeleted", rateLimitCleanup},
	})
}

func rateLimitWindows(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	n := now()
	const w = 10 * time.Minute
	got, err := s.RateLimitCount(ctx, "ip:1", w, n)
	must(t, err, "RateLimitCount of an unknown key")
	eq(t, "count of an unknown key", got, 0)
	for i := 1; i <= 3; i++ {
		hits, err := s.HitRateLimit(ctx, "ip:1", w, n.Add(time.Duration(i)*time.Minute))
		must(t, err, "HitRateLimit")
		eq(t, "hits after a hit", hits, i)
	}
	other, err := s.HitRateLimit(ctx, "ip:2", w, n)
	must(t, err, "HitRateLimit of another key")
	eq(t, "hits of another key", other, 1)
	got, err = s.RateLimitCount(ctx, "ip:1", w, n.Add(5*time.Minute))
	must(t, err, "RateLimitCount")
	eq(t, "count inside the window", got, 3)
	// The window started at the first hit (n+1m); at n+11m it is over.
	got, err = s.RateLimitCount(ctx, "ip:1", w, n.Add(11*time.Minute))
	must(t, err, "RateLimitCount after the window")
	eq(t, "count after the window", got, 0)
	hits, err := s.HitRateLimit(ctx, "ip:1", w, n.Add(11*time.Minute))
	must(t, err, "HitRateLimit in a new window")
	eq(t, "hits in a new window", hits, 1)
}

func rateLimitConcurrent(t *testing.T, s storage.Storage) {
	const hitters = 10
	n := now()
	counts := make([]int, hitters)
	errs := make([]error, hitters)
	var wg sync.WaitGroup
	for i := range hitters {
		wg.Go(func() { counts[i], errs[i] = s.HitRateLimit(t.Context(), "login:jane", time.Minute, n) })
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err, "concurrent HitRateLimit")
	}
	slices.Sort(counts)
	for i, c := range counts {
		eq(t, "the counts the concurrent hits saw, sorted", c, i+1)
	}
}

func rateLimitInvalid(t *testing.T, s storage.Storage) {
	_, err := s.HitRateLimit(t.Context(), "", time.Minute, now())
	wantErr(t, err, storage.ErrInvalid, "HitRateLimit without a key")
	_, err = s.HitRateLimit(t.Context(), "k", 48*time.Hour, now())
	wantErr(t, err, storage.ErrInvalid, "HitRateLimit with a window over the maximum")
}

func rateLimitCleanup(t *testing.T, s storage.Storage) {
	n := now()
	_, err := s.HitRateLimit(t.Context(), "old", time.Hour, n.Add(-storage.MaxRateLimitWindow-time.Hour))
	must(t, err, "HitRateLimit long ago")
	_, err = s.HitRateLimit(t.Context(), "new", time.Hour, n)
	must(t, err, "HitRateLimit now")
	c, err := s.DeleteExpired(t.Context(), n)
	must(t, err, "DeleteExpired")
	eq(t, "rate limit counts deleted", c.RateLimits, int64(1))
}
