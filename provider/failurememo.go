package provider

import (
	"sync"
	"time"
)

// The failure limits of clientGuard are kept in the database, so every
// replica enforces one count; reading the counts of a request's two keys
// cost two queries on every request, most of the cost of an introspection.
// A replica therefore remembers, for a short while, the counts it last
// read or wrote (countFailure learns the new count from the write it does
// anyway), and reads again only when what it knows is older than
// failureMemoTTL or the key is halfway to its limit. A key no replica has
// seen fail is read once per failureMemoTTL instead of on every request;
// a key that is failing is read on every request, as before. The only
// staleness is that failures counted by other replicas within the last
// failureMemoTTL are noticed that much later while the key was below half
// its limit; any failure on this replica refreshes its count at once.
const (
	failureMemoTTL = time.Second
	failureMemoMax = 1 << 14
)

type failureMemo struct {
	mu   sync.Mutex
	seen map[string]failureSeen
}

type failureSeen struct {
	n  int
	at time.Time
}

// quiet reports whether the key is known, recently enough, to be far
// below its limit, so that the database need not be asked.
func (m *failureMemo) quiet(key string, limit int, now time.Time) bool {
	m.mu.Lock()
	s, ok := m.seen[key]
	m.mu.Unlock()
	return ok && 2*s.n < limit && !now.Before(s.at) && now.Sub(s.at) < failureMemoTTL
}

// note records the count the database just gave for the key.
func (m *failureMemo) note(key string, n int, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil || len(m.seen) >= failureMemoMax {
		// Forgetting only costs a read per key: start afresh.
		m.seen = make(map[string]failureSeen)
	}
	m.seen[key] = failureSeen{n: n, at: now}
}
