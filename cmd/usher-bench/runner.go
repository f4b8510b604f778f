package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one concurrent client of a scenario. op runs one timed
// operation.
type worker interface {
	op(ctx context.Context) error
}

// resetter is a worker whose state an error may break (a refresh token
// chain): after a failed op it starts over, untimed. A failed reset stops
// the worker.
type resetter interface {
	reset(ctx context.Context) error
}

// scenario is a named load: newWorker prepares worker i, untimed.
type scenario struct {
	name      string
	newWorker func(ctx context.Context, i int) (worker, error)
}

// limits bound one scenario's run.
type limits struct {
	duration    time.Duration
	requests    int
	concurrency int
	// serverCPU, when set, reads the CPU time the server has used, so the
	// result can say how busy it was and what one core of it serves.
	serverCPU func() (time.Duration, error)
}

// result is what one scenario measured.
type result struct {
	name          string
	ops, errors   int64
	elapsed       time.Duration
	p50, p99, max time.Duration
	firstErr      error
	serverCPU     time.Duration // CPU the server used meanwhile; 0 if unknown
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// busy is the share of one core the server used.
func (r result) busy() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return r.serverCPU.Seconds() / r.elapsed.Seconds()
}

// perCore is the operations per second one fully used server core would
// serve at the CPU cost per operation measured.
func (r result) perCore() float64 {
	if r.serverCPU <= 0 {
		return 0
	}
	return float64(r.ops) / r.serverCPU.Seconds()
}

// maxSamples bounds the latencies kept per scenario; past it each worker
// keeps a uniform sample of its own (reservoir sampling), so memory stays
// fixed however long the run.
const maxSamples = 1_000_000

// recorder is one worker's tally; only that worker writes it.
type recorder struct {
	samples  []time.Duration
	limit    int
	ops      int64
	errors   int64
	max      time.Duration
	firstErr error
}

func (r *recorder) add(d time.Duration) {
	r.ops++
	r.max = max(r.max, d)
	if len(r.samples) < r.limit {
		r.samples = append(r.samples, d)
		return
	}
	if j := rand.Int64N(r.ops); j < int64(r.limit) {
		r.samples[j] = d
	}
}

func (r *recorder) fail(err error) {
	r.errors++
	if r.firstErr == nil {
		r.firstErr = err
	}
}

// runScenario prepares the workers, then runs them together until the
// duration has passed or the requests are spent. An operation in flight
// when the time is up finishes and counts; none starts after it.
func runScenario(ctx context.Context, sc scenario, lim limits) (result, error) {
	workers := make([]worker, lim.concurrency)
	errs := make([]error, lim.concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { workers[i], errs[i] = sc.newWorker(ctx, i) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return result{name: sc.name}, fmt.Errorf("%s: setup: %w", sc.name, err)
		}
	}

	recs := make([]recorder, lim.concurrency)
	limit := max(1, maxSamples/lim.concurrency)
	var budget atomic.Int64
	budget.Store(int64(lim.requests))
	var cpu0 time.Duration
	if lim.serverCPU != nil {
		var err error
		if cpu0, err = lim.serverCPU(); err != nil {
			return result{name: sc.name}, err
		}
	}
	start := time.Now()
	deadline := start.Add(lim.duration)
	for i, w := range workers {
		rec := &recs[i]
		rec.limit = limit
		rec.samples = make([]time.Duration, 0, min(limit, lim.requests/lim.concurrency+1, 1<<16))
		wg.Go(func() {
			for ctx.Err() == nil && budget.Add(-1) >= 0 {
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				err := w.op(ctx)
				d := time.Since(t0)
				if err == nil {
					rec.add(d)
					continue
				}
				if ctx.Err() != nil {
					return // interrupted: not the server's failure
				}
				rec.fail(err)
				if r, ok := w.(resetter); ok {
					if err := r.reset(ctx); err != nil {
						if ctx.Err() == nil {
							rec.fail(fmt.Errorf("starting over after an error: %w", err))
						}
						return
					}
				}
			}
		})
	}
	wg.Wait()
	res := result{name: sc.name, elapsed: time.Since(start)}
	if lim.serverCPU != nil {
		cpu1, err := lim.serverCPU()
		if err != nil {
			return res, err
		}
		res.serverCPU = cpu1 - cpu0
	}
	var all []time.Duration
	for i := range recs {
		r := &recs[i]
		res.ops += r.ops
		res.errors += r.errors
		res.max = max(res.max, r.max)
		if res.firstErr == nil {
			res.firstErr = r.firstErr
		}
		all = append(all, r.samples...)
	}
	slices.Sort(all)
	res.p50, res.p99 = percentile(all, 0.50), percentile(all, 0.99)
	return res, nil
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
