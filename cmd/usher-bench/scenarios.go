package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
)

// env is what every scenario of one run shares.
type env struct {
	opts options
	ep   endpoints
	hc   *http.Client // keep-alive, never follows redirects, no cookies
	tr   *http.Transport

	mu    sync.Mutex
	conns []*fastConn // closed when the scenario ends
}

func (e *env) fastConn(method, rawURL, id, secret string) (*fastConn, error) {
	fc, err := newFastConn(e.tr, method, rawURL, id, secret)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.conns = append(e.conns, fc)
	e.mu.Unlock()
	return fc, nil
}

// close closes the workers' connections; call it when they have stopped.
func (e *env) close() {
	for _, fc := range e.conns {
		fc.close()
	}
	e.tr.CloseIdleConnections()
}

// scenarioFor builds the named scenario. Setup shared by all its workers
// (the access token introspect checks) happens here, untimed. The timed
// requests go through each worker's own fastConn; the sign-in pages, with
// their cookies and redirects, through net/http.
func scenarioFor(ctx context.Context, e *env, name string) (scenario, error) {
	sc := scenario{name: name}
	o := e.opts
	switch name {
	case "discovery":
		sc.newWorker = getter(e, e.ep.discovery)
	case "jwks":
		sc.newWorker = getter(e, e.ep.jwks)
	case "client_credentials":
		sc.newWorker = func(context.Context, int) (worker, error) {
			fc, err := e.fastConn(http.MethodPost, e.ep.token, o.clientID, o.clientSecret)
			if err != nil {
				return nil, err
			}
			return opFunc(func(ctx context.Context) error {
				_, err := parseToken(fc.do(ctx, "grant_type=client_credentials"))
				return err
			}), nil
		}
	case "introspect":
		tr, err := token(ctx, e.hc, e.ep.token, "grant_type=client_credentials", o.clientID, o.clientSecret)
		if err != nil {
			return sc, fmt.Errorf("introspect: setup: client_credentials: %w", err)
		}
		form := url.Values{"token": {tr.AccessToken}, "token_type_hint": {"access_token"}}.Encode()
		sc.newWorker = func(context.Context, int) (worker, error) {
			fc, err := e.fastConn(http.MethodPost, e.ep.introspect, o.clientID, o.clientSecret)
			if err != nil {
				return nil, err
			}
			return opFunc(func(ctx context.Context) error { return parseIntrospection(fc.do(ctx, form)) }), nil
		}
	case "refresh":
		sc.newWorker = func(ctx context.Context, _ int) (worker, error) {
			fc, err := e.fastConn(http.MethodPost, e.ep.token, o.appID, o.appSecret)
			if err != nil {
				return nil, err
			}
			w := &refreshWorker{s: newSession(e), fc: fc}
			if err := w.s.signIn(ctx); err != nil {
				return nil, err
			}
			return w, w.reset(ctx)
		}
	case "sso":
		sc.newWorker = func(ctx context.Context, _ int) (worker, error) {
			s := newSession(e)
			if err := s.signIn(ctx); err != nil {
				return nil, err
			}
			return opFunc(func(ctx context.Context) error {
				_, err := s.codeFlow(ctx, ssoScope)
				return err
			}), nil
		}
	default:
		return sc, fmt.Errorf("unknown scenario %q", name)
	}
	return sc, nil
}

// opFunc is a worker without state between operations.
type opFunc func(ctx context.Context) error

func (f opFunc) op(ctx context.Context) error { return f(ctx) }

// getter is a scenario of GETs of one URL that must answer 200.
func getter(e *env, u string) func(context.Context, int) (worker, error) {
	return func(context.Context, int) (worker, error) {
		fc, err := e.fastConn(http.MethodGet, u, "", "")
		if err != nil {
			return nil, err
		}
		return opFunc(func(ctx context.Context) error {
			status, body, err := fc.do(ctx, "")
			if err != nil {
				return err
			}
			if status != http.StatusOK || len(body) == 0 {
				return fmt.Errorf("GET %s answered %d", u, status)
			}
			return nil
		}), nil
	}
}

func parseIntrospection(status int, body []byte, err error) error {
	if err != nil {
		return err
	}
	var ir struct {
		Active bool `json:"active"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &ir) != nil {
		return fmt.Errorf("introspection answered %d: %q", status, snippet(body))
	}
	if !ir.Active {
		return errors.New("introspection answered active: false for a live token")
	}
	return nil
}

// refreshWorker refreshes its own token chain, always with the newest
// refresh token, as a client that rotates correctly does.
type refreshWorker struct {
	s  *session
	fc *fastConn
	rt string
}

func (w *refreshWorker) op(ctx context.Context) error {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {w.rt}}.Encode()
	tr, err := parseToken(w.fc.do(ctx, form))
	if err != nil {
		return err
	}
	if tr.RefreshToken == "" {
		return errors.New("the refresh answer has no refresh token")
	}
	w.rt = tr.RefreshToken
	return nil
}

// reset starts a new chain from the worker's session: a failed refresh
// may have rotated the token without the worker learning its successor.
func (w *refreshWorker) reset(ctx context.Context) error {
	tr, err := w.s.codeFlow(ctx, refreshScope)
	if err != nil {
		return err
	}
	if tr.RefreshToken == "" {
		return errors.New("no refresh token from the code flow: does the app client have the refresh_token grant and the offline_access scope?")
	}
	w.rt = tr.RefreshToken
	return nil
}
