package provider

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/rs/cors"

	"github.com/usher-id/usher/storage"
)

// clientFacts are what some answers need to know about all clients: the
// union of their CORS origins, and whether any may use the JWT bearer
// grant (discovery lists it only then). They are re-read at most every
// ClientCacheTTL.
type clientFacts struct {
	mu        sync.Mutex
	origins   map[string]bool
	jwtBearer bool
	loaded    time.Time
}

// corsOptions replace the library's default, which reflects any origin
// with credentials: discovery and the JWKS are public; every other
// endpoint answers only origins some client was configured with.
func (p *Provider) corsOptions() *cors.Options {
	return &cors.Options{
		AllowOriginVaryRequestFunc: func(r *http.Request, origin string) (bool, []string) {
			switch r.URL.Path {
			case "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server", "/keys":
				return true, nil
			}
			origins, _ := p.facts(r.Context())
			return origin != "" && origin != "null" && origins[origin], nil
		},
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type"},
		MaxAge:         600,
	}
}

// facts returns the current client facts, reloading them when stale. On
// a storage error it keeps the last good view.
func (p *Provider) facts(ctx context.Context) (origins map[string]bool, jwtBearer bool) {
	f := &p.clientFacts
	f.mu.Lock()
	defer f.mu.Unlock()
	now := p.opts.Now()
	if f.origins != nil && now.Sub(f.loaded) <= p.opts.ClientCacheTTL {
		return f.origins, f.jwtBearer
	}
	fresh, bearer := make(map[string]bool), false
	for page := (storage.Page{Limit: 500}); ; page.Offset += page.Limit {
		list, err := p.opts.Store.ListClients(ctx, page)
		if err != nil {
			p.opts.Log.Error("loading clients for CORS and discovery", "err", err)
			return f.origins, f.jwtBearer
		}
		for _, c := range list {
			for _, o := range c.CORSOrigins {
				fresh[o] = true
			}
			bearer = bearer || jwtBearerAllowed(c)
		}
		if len(list) < page.Limit {
			break
		}
	}
	f.origins, f.jwtBearer, f.loaded = fresh, bearer, now
	return fresh, bearer
}
