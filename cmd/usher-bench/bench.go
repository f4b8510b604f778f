package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"text/tabwriter"
	"time"
)

// bench runs the chosen scenarios one after the other and prints the
// table. Each scenario gets fresh connections. A scenario whose setup
// fails is reported and the others still run; any failure, in setup or
// under load, makes the exit code 1.
func bench(ctx context.Context, o options, stdout, stderr io.Writer) error {
	setup := newTransport(4)
	defer setup.CloseIdleConnections()
	ep, err := discover(ctx, &http.Client{Transport: setup, CheckRedirect: noRedirects}, o.url)
	if err != nil {
		return err
	}
	lim := limits{duration: o.duration, requests: o.requests, concurrency: o.concurrency}
	if o.serverPID != 0 {
		lim.serverCPU = func() (time.Duration, error) { return procCPU(o.serverPID) }
		if _, err := lim.serverCPU(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "usher-bench: %s (issuer %s): %d workers, each scenario %s or %d operations\n",
		o.url, ep.issuer, o.concurrency, o.duration, o.requests)
	var results []result
	var failed []error
	for _, name := range o.scenarios {
		if ctx.Err() != nil {
			break
		}
		res, err := runOne(ctx, o, ep, name, lim)
		if err != nil {
			failed = append(failed, err)
			fmt.Fprintf(stderr, "usher-bench: %v\n", err)
			continue
		}
		results = append(results, res)
		if res.errors > 0 {
			failed = append(failed, fmt.Errorf("%s: %d operations failed, the first: %w", res.name, res.errors, res.firstErr))
			fmt.Fprintf(stderr, "usher-bench: %s: %d operations failed, the first: %v\n", res.name, res.errors, res.firstErr)
		}
	}
	if err := writeTable(stdout, results, o.serverPID != 0); err != nil {
		return err
	}
	switch {
	case ctx.Err() != nil:
		return errors.New("interrupted")
	case len(failed) == 1:
		return failed[0]
	case len(failed) > 1:
		return fmt.Errorf("%d scenarios had failures (see above)", len(failed))
	}
	return nil
}

func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// runOne runs one scenario on its own connections.
func runOne(ctx context.Context, o options, ep endpoints, name string, lim limits) (result, error) {
	tr := newTransport(lim.concurrency + 2)
	e := &env{opts: o, ep: ep, tr: tr, hc: &http.Client{Transport: tr, CheckRedirect: noRedirects}}
	defer e.close()
	sc, err := scenarioFor(ctx, e, name)
	if err != nil {
		return result{}, err
	}
	return runScenario(ctx, sc, lim)
}

// writeTable prints one aligned line per scenario; with serverCPU, also
// how busy the server was (share of one core) and what one core serves.
func writeTable(w io.Writer, results []result, serverCPU bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "scenario\tops\treq/s\tp50\tp99\tmax\terrors"
	if serverCPU {
		head += "\tserver_cpu\treq/s/core"
	}
	fmt.Fprintln(tw, head)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d", r.name, r.ops, r.rate(),
			formatDuration(r.p50), formatDuration(r.p99), formatDuration(r.max), r.errors)
		if serverCPU {
			fmt.Fprintf(tw, "\t%.0f%%\t%.0f", 100*r.busy(), r.perCore())
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// formatDuration keeps about four significant digits.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		d = d.Round(time.Microsecond)
	case d < time.Second:
		d = d.Round(10 * time.Microsecond)
	default:
		d = d.Round(time.Millisecond)
	}
	return d.String()
}
