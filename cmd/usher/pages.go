package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/federation"
	"github.com/usher-id/usher/internal/geoip"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/mail"
	"github.com/usher-id/usher/session"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
	"github.com/usher-id/usher/web"
)

// codeKeyName names the instance secret that keys the hashes of emailed
// codes, shared by every replica.
const codeKeyName = "web.code_hmac_key"

// userService is the accounts service with the configured password cost
// and lockout.
func userService(cfg config.Config, db storage.Storage) *users.Service {
	p := users.DefaultParams()
	a := cfg.Accounts
	p.Memory, p.Iterations, p.Parallelism = uint32(a.Argon2MemoryKiB), uint32(a.Argon2Iterations), uint8(a.Argon2Parallelism)
	s := users.NewService(db, users.NewHasher(p, 0), time.Now)
	s.Lockout = users.Lockout{MaxAttempts: a.LockoutAttempts, Duration: a.LockoutDuration.Std()}
	return s
}

// accountPages builds the hosted pages. Email goes through the configured
// SMTP server; without one (development only: production requires it),
// into the /dev/mail mailbox. With accounts.geoip_database the pages show
// roughly where each address is; the database closes when ctx ends (a
// lookup after that finds nothing).
func accountPages(ctx context.Context, cfg config.Config, db storage.Storage, km *keys.Manager, us *users.Service, sessions *session.Manager, log *slog.Logger) (*web.Handler, error) {
	codeKey, err := km.Secret(ctx, codeKeyName, 32)
	if err != nil {
		return nil, err
	}
	opts := web.Options{
		Issuer: cfg.Issuer, Store: db, Users: us, Sessions: sessions, CodeKey: codeKey, Log: log,
		Brand: web.Brand{ProductName: cfg.Branding.ProductName, LogoURL: cfg.Branding.LogoURL, PrimaryColor: cfg.Branding.PrimaryColor,
			SupportEmail: cfg.Branding.SupportEmail, TermsURL: cfg.Branding.TermsURL, PrivacyURL: cfg.Branding.PrivacyURL},
		SignUp: cfg.Accounts.SignUp, RequireName: cfg.Accounts.RequireName, RequireUsername: cfg.Accounts.RequireUsername,
		CodeTTL: cfg.Accounts.EmailCodeTTL.Std(),
		Federation: &federation.Connectors{RedirectURI: cfg.Issuer + web.PathUpstreamCallback,
			OpenSecret: func(c *storage.Connection) (string, error) {
				if len(c.ClientSecret) == 0 {
					return "", nil
				}
				b, err := km.Open(c.ClientSecret, keys.ConnectionSecretPurpose(c.ID))
				return string(b), err
			}},
		SealToken: km.Seal,
	}
	switch {
	case cfg.SMTP.Host != "":
		s := cfg.SMTP
		opts.Mail, err = mail.NewSMTP(mail.SMTPConfig{Host: s.Host, Port: s.Port, Username: s.Username, Password: s.Password,
			From: s.From, TLS: s.TLS, Timeout: s.Timeout.Std()}, log)
		if err != nil {
			return nil, err
		}
	case cfg.DevMode():
		box := mail.NewMailbox(log)
		opts.Mail, opts.Mailbox = box, box
	default:
		return nil, errors.New("smtp.host (USHER_SMTP_HOST): set a mail server; users could not receive verification and sign-in emails")
	}
	if path := cfg.Accounts.GeoIPDatabase; path != "" {
		geo, err := geoip.Open(path)
		if err != nil {
			return nil, fmt.Errorf("accounts.geoip_database (USHER_ACCOUNTS_GEOIP_DATABASE): %w", err)
		}
		context.AfterFunc(ctx, func() { _ = geo.Close() })
		opts.Locate = geo.Locate
	}
	return web.New(opts)
}

// sessionKeyName names the instance secret that keys CSRF tokens and
// browser bindings; every replica reads the same one.
const sessionKeyName = "session.key"

// browserSessions builds the browser side: sessions with their lifetimes,
// cookies, CSRF, client addresses and sign-in flows.
func browserSessions(ctx context.Context, cfg config.Config, db storage.Storage, km *keys.Manager, log *slog.Logger) (*session.Manager, error) {
	key, err := km.Secret(ctx, sessionKeyName, 32)
	if err != nil {
		return nil, err
	}
	proxies, _ := cfg.TrustedProxyPrefixes() // validated with the configuration
	return session.New(session.Options{Issuer: cfg.Issuer, Store: db, Key: key, Log: log, TrustedProxies: proxies,
		IdleTimeout: cfg.Sessions.IdleTimeout.Std(), MaxLifetime: cfg.Sessions.MaxLifetime.Std()})
}
