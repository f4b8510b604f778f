package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/internal/health"
	"github.com/usher-id/usher/internal/httpx"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/storage"
)

func serveCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usher serve", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{fmt.Sprintf("serve takes no arguments, got %q", pos[0])}
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	// zitadel/oidc logs through the default logger; the provider's
	// wrapper keeps clients' mistakes out of the error log.
	slog.SetDefault(slog.New(provider.LibraryLogHandler(log.Handler())))

	db, err := openStorage(ctx, cfg, cfg.Database.MigrateOnStart)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			log.Error("closing the database", "err", err)
		}
	}()
	st, err := db.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	if !st.UpToDate() {
		return fmt.Errorf("%s is at schema version %d of %d: run usher migrate up (or set database.migrate_on_start)",
			db.Describe(), st.Current, st.Latest)
	}

	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	km, err := keys.New(ctx, db, mk.sealer, keysOptions(cfg, log))
	if err != nil {
		return err
	}
	cs, err := clientServiceWith(ctx, km, db)
	if err != nil {
		return err
	}
	synced, err := cs.Sync(ctx, declaredClients(cfg))
	if err != nil {
		return fmt.Errorf("clients in the configuration file: %w", err)
	}
	if synced != (clients.SyncResult{}) {
		log.Info("synced clients from the configuration file", "created", synced.Created, "updated", synced.Updated, "deleted", synced.Deleted)
	}
	us := userService(cfg, db)
	sessions, err := browserSessions(ctx, cfg, db, km, log)
	if err != nil {
		return err
	}
	pages, err := accountPages(ctx, cfg, db, km, us, sessions, log)
	if err != nil {
		return err
	}
	op, err := provider.New(ctx, provider.Options{
		Issuer:      cfg.Issuer,
		Store:       db,
		Keys:        km,
		Clients:     cs,
		Sessions:    sessions,
		Interaction: pages,
		Log:         log,

		RefreshReuseGrace: noneIfZero(cfg.Tokens.RefreshReuseGrace.Std()),
	})
	if err != nil {
		return err
	}
	pages.UseProvider(op)

	if c, u, err := syncTemplates(ctx, cfg.Templates, &provider.Templates{Store: db, Keys: km, Provider: op}); err != nil {
		return err
	} else if c+u > 0 {
		log.Info("synced JWT templates from the configuration file", "created", c, "updated", u)
	}
	if c, u, err := syncConnections(ctx, cfg.Connections, db, km); err != nil {
		return err
	} else if c+u > 0 {
		log.Info("synced connections from the configuration file", "created", c, "updated", u)
	}
	mux := http.NewServeMux()
	health.Routes(mux, db, log)
	pages.Routes(mux)
	mux.Handle("/", op)

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Listen, err)
	}
	// Background work starts once start-up can no longer fail, so a
	// refused start leaves nothing running behind it.
	go km.Run(ctx)
	go cleanExpired(ctx, db, 10*time.Minute, log)
	var handler http.Handler = mux
	if strings.HasPrefix(cfg.Issuer, "https://") {
		handler = httpx.HSTS(cfg.HSTSMaxAge.Std(), mux)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	printWelcome(stdout, cfg, ln.Addr().String(), db.Describe(), describeSchema(st), mk.source)
	log.Info("usher started", "version", version, "issuer", cfg.Issuer, "listen", ln.Addr().String())
	return serveUntilDone(ctx, srv, ln, cfg.ShutdownTimeout.Std(), log)
}

// serveUntilDone serves on ln until ctx ends, then stops accepting and gives
// in-flight requests up to grace to finish.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", "grace", grace.String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("requests still running after %s were cut off", grace)
		}
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	log.Info("usher stopped")
	return nil
}

func printWelcome(w io.Writer, cfg config.Config, addr, data, schema, masterKey string) {
	mode := "production"
	if cfg.DevMode() {
		mode = "development"
	}
	fmt.Fprintf(w, `
  Usher is running in %s mode.

  Issuer      %s
  Listening   %s
  Data        %s (%s)
  Master key  %s
  Discovery   %s/.well-known/openid-configuration
  Health      %s/healthz and %s/readyz
  Sign up     %s/sign-up   (profile at %s/account)%s

  Try it: usher users create --email you@example.com --password-stdin
         usher clients create --name "My app" --redirect-uri http://localhost:3000/callback
  Configure with --config usher.yaml or USHER_* variables (see the README).
  Stop with Ctrl-C.

`, mode, cfg.Issuer, addr, data, schema, masterKey, cfg.Issuer, cfg.Issuer, cfg.Issuer, cfg.Issuer, cfg.Issuer, mailLine(cfg))
}

// mailLine says where emails go, for the welcome text.
func mailLine(cfg config.Config) string {
	if cfg.SMTP.Host != "" {
		return "\n  Email       through " + cfg.SMTP.Host
	}
	return "\n  Email       not sent: read it at " + cfg.Issuer + "/dev/mail (no smtp.host set)"
}

// cleanExpired deletes expired sessions, codes and tokens every interval
// until ctx ends. Replicas may all do it; the deletes do not conflict.
func cleanExpired(ctx context.Context, db storage.Cleaner, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := db.DeleteExpired(ctx, time.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("deleting expired records", "err", err)
		case n != (storage.CleanupCounts{}):
			log.Info("deleted expired records", "sessions", n.Sessions, "auth_requests", n.AuthRequests,
				"refresh_tokens", n.RefreshTokens, "access_tokens", n.AccessTokens, "device_authorizations", n.DeviceAuthorizations,
				"rate_limits", n.RateLimits, "email_challenges", n.EmailChallenges, "upstream_logins", n.UpstreamLogins)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// noneIfZero maps a configured 0 ("none") to the provider's negative
// ("none"), since the provider reads 0 as "the default".
func noneIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
