package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// clientKeySets resolves the public keys a client signs its assertions
// with (private_key_jwt): an inline JWKS, or a JWKS URI fetched with a
// timeout and cached.
type clientKeySets struct {
	http  *http.Client
	ttl   time.Duration
	mu    sync.Mutex
	cache map[string]cachedKeySet
}

type cachedKeySet struct {
	set     jose.JSONWebKeySet
	fetched time.Time
}

func newClientKeySets() *clientKeySets {
	return &clientKeySets{http: &http.Client{Timeout: 5 * time.Second}, ttl: 5 * time.Minute, cache: make(map[string]cachedKeySet)}
}

// GetKeyByIDAndClientID returns the client's public key with that kid.
func (s *opStorage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	c, err := s.p.client(ctx, clientID)
	if err != nil {
		return nil, err
	}
	set, err := s.p.keySets.get(ctx, c.c.JWKS, c.c.JWKSURI, s.now())
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("the client's keys cannot be read").WithParent(err)
	}
	for _, k := range set.Key(keyID) {
		if k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			return &k, nil
		}
	}
	return nil, oidc.ErrInvalidClient().WithDescription("no key with that kid is registered for the client")
}

func (c *clientKeySets) get(ctx context.Context, inline json.RawMessage, uri string, now time.Time) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	switch {
	case len(inline) > 0:
		err := json.Unmarshal(inline, &set)
		return set, err
	case uri == "":
		return set, errors.New("the client has no registered keys")
	}
	c.mu.Lock()
	cached, ok := c.cache[uri]
	c.mu.Unlock()
	if ok && now.Sub(cached.fetched) < c.ttl {
		return cached.set, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return set, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return set, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return set, fmt.Errorf("jwks_uri answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return set, fmt.Errorf("jwks_uri: %w", err)
	}
	c.mu.Lock()
	c.cache[uri] = cachedKeySet{set: set, fetched: now}
	c.mu.Unlock()
	return set, nil
}
