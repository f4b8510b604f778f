package provider

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rs/cors"

	"github.com/usher-id/usher/storage"
)

// originSet is the union of the CORS origins clients are configured with,
// re-read at most every ttl.
type originSet struct {
	mu      sync.Mutex
	origins map[string]bool
	loaded  time.Time
}

// corsOptions replace the library's default, which reflects any origin
// with credentials: discovery and the JWKS are public; every other
// endpoint answers only origins some client was configured with.
func (p *Provider) corsOptions() *cors.Options {
	return &cors.Options{
		AllowOriginVaryRequestFunc: func(r *http.Request, origin string) (bool, []string) {
			switch r.URL.Path {
			case "/.well-known/openid-configuration", "/keys":
				return true, nil
			}
			return p.originAllowed(r.Context(), origin), nil
		},
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type"},
		MaxAge:         600,
	}
}

func (p *Provider) originAllowed(ctx context.Context, origin string) bool {
	s := &p.origins
	s.mu.Lock()
	defer s.mu.Unlock()
	now := p.opts.Now()
	if s.origins == nil || now.Sub(s.loaded) > p.opts.ClientCacheTTL {
		origins := make(map[string]bool)
		for page := (storage.Page{Limit: 500}); ; page.Offset += page.Limit {
			list, err := p.opts.Store.ListClients(ctx, page)
			if err != nil {
				p.opts.Log.Error("loading client CORS origins", "err", err)
				return s.origins[origin] // keep the last good view
			}
			for _, c := range list {
				for _, o := range c.CORSOrigins {
					origins[o] = true
				}
			}
			if len(list) < page.Limit {
				break
			}
		}
		s.origins, s.loaded = origins, now
	}
	return s.origins[origin] && !slices.Contains([]string{"", "null"}, origin)
}
