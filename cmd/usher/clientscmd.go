package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/usher-id/usher/clients"
	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
)

// clientSecretKeyName names the instance secret that keys client secret
// hashes. Changing it would invalidate every client secret.
const clientSecretKeyName = "clients.secret_hmac_key"

// clientService returns the clients.Service that the CLI and the provider
// share: client secrets are hashed under an instance key kept, sealed under
// the master key, in the database, so every replica checks them alike.
func clientService(ctx context.Context, cfg config.Config, db storage.Storage, log *slog.Logger) (*clients.Service, error) {
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return nil, err
	}
	km, err := keys.New(ctx, db, mk.sealer, keysOptions(cfg, log))
	if err != nil {
		return nil, err
	}
	return clientServiceWith(ctx, km, db)
}

// clientServiceWith builds the client service on an existing key manager:
// the secrets' HMAC key is an instance secret every replica shares.
func clientServiceWith(ctx context.Context, km *keys.Manager, db storage.Storage) (*clients.Service, error) {
	key, err := km.Secret(ctx, clientSecretKeyName, 32)
	if err != nil {
		return nil, err
	}
	secrets, err := clients.NewSecrets(key)
	if err != nil {
		return nil, err
	}
	return clients.NewService(db, secrets), nil
}

const clientsUsage = `usage: usher clients create --name N [--redirect-uri URI ...] [settings]
       usher clients list | get ID | delete ID | rotate-secret ID
       usher clients update ID [settings]
settings: --redirect-uri URI, --post-logout-redirect-uri URI, --grant G, --scope S,
  --cors-origin O (each repeatable; on update a list given replaces the old one,
  and a single empty value empties it), --public, --native, --third-party,
  --auth-method M, --access-token-format jwt|opaque, --access-token-template NAME
  (its JWT access tokens for users also carry that JWT template's claims; on
  update "" clears it), --jwks-uri URL, --access-token-ttl D, --id-token-ttl D,
  --refresh-token-idle-ttl D, --refresh-token-max-ttl D,
  --id-token-userinfo-claims=false; and --config FILE`

// clientListFlag is a repeatable flag. With split, each value is also split on
// whitespace, so --scope "openid profile" gives two scopes. An empty value
// leaves the list empty, which on update clears it.
type clientListFlag struct {
	vals  []string
	split bool
}

func (l *clientListFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.vals, " ")
}

func (l *clientListFlag) Set(v string) error {
	if l.split {
		l.vals = append(l.vals, strings.Fields(v)...)
	} else if v != "" {
		l.vals = append(l.vals, v)
	}
	return nil
}

// clientFlags are the settings create and update accept.
type clientFlags struct {
	name, authMethod, format, template, jwksURI  string
	redirects, postLogout, grants, scopes, cors  clientListFlag
	public, native, thirdParty, userinfoClaims   bool
	accessTTL, idTTL, refreshIdleTTL, refreshMax time.Duration
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	f.grants.split, f.scopes.split = true, true
	fs.StringVar(&f.name, "name", "", "the client's display `name`")
	fs.Var(&f.redirects, "redirect-uri", "an allowed redirect `URI` (repeatable)")
	fs.Var(&f.postLogout, "post-logout-redirect-uri", "an allowed post-logout redirect `URI` (repeatable)")
	fs.Var(&f.grants, "grant", "an allowed grant `type` (repeatable; default authorization_code and refresh_token)")
	fs.Var(&f.scopes, "scope", "an allowed `scope` (repeatable; default openid profile email offline_access)")
	fs.Var(&f.cors, "cors-origin", "a browser `origin` allowed to call the token endpoints (repeatable)")
	fs.BoolVar(&f.public, "public", false, "a public client: no secret, PKCE required")
	fs.BoolVar(&f.native, "native", false, "a native app: loopback redirects on any port and custom schemes")
	fs.BoolVar(&f.thirdParty, "third-party", false, "ask users for consent (first-party clients skip it)")
	fs.StringVar(&f.authMethod, "auth-method", "", "token endpoint auth `method`: client_secret_basic, client_secret_post, private_key_jwt or none")
	fs.StringVar(&f.format, "access-token-format", "", "access token `format`: jwt or opaque")
	fs.StringVar(&f.template, "access-token-template", "", "a JWT template whose claims JWT access tokens also carry (`name`; \"\" clears it)")
	fs.StringVar(&f.jwksURI, "jwks-uri", "", "the client's public keys, for private_key_jwt (`URL`)")
	fs.DurationVar(&f.accessTTL, "access-token-ttl", 0, "access token `lifetime` (default 15m)")
	fs.DurationVar(&f.idTTL, "id-token-ttl", 0, "ID token `lifetime` (default 1h)")
	fs.DurationVar(&f.refreshIdleTTL, "refresh-token-idle-ttl", 0, "refresh token idle `lifetime` (default 720h)")
	fs.DurationVar(&f.refreshMax, "refresh-token-max-ttl", 0, "refresh token absolute `lifetime` (default 2160h)")
	fs.BoolVar(&f.userinfoClaims, "id-token-userinfo-claims", true, "put profile and email claims in ID tokens")
}

// apply writes the settings that were given on the command line to c.
func (f *clientFlags) apply(c *storage.Client, set map[string]bool) {
	if set["name"] {
		c.Name = f.name
	}
	if set["public"] {
		switch {
		case f.public:
			c.AuthMethod = clients.AuthNone
		case c.AuthMethod == clients.AuthNone:
			c.AuthMethod = clients.AuthClientSecretBasic
		}
	}
	if set["auth-method"] {
		c.AuthMethod = f.authMethod
	}
	if set["native"] {
		c.ApplicationType = clients.AppWeb
		if f.native {
			c.ApplicationType = clients.AppNative
		}
	}
	lists := []struct {
		flag string
		l    *clientListFlag
		dst  *[]string
	}{
		{"redirect-uri", &f.redirects, &c.RedirectURIs},
		{"post-logout-redirect-uri", &f.postLogout, &c.PostLogoutRedirectURIs},
		{"grant", &f.grants, &c.GrantTypes},
		{"scope", &f.scopes, &c.Scopes},
		{"cors-origin", &f.cors, &c.CORSOrigins},
	}
	for _, x := range lists {
		if set[x.flag] {
			*x.dst = x.l.vals
		}
	}
	if set["third-party"] {
		c.FirstParty = !f.thirdParty
	}
	if set["access-token-format"] {
		c.AccessTokenFormat = f.format
	}
	if set["access-token-template"] {
		c.AccessTokenTemplate = f.template
	}
	if set["jwks-uri"] {
		c.JWKSURI = f.jwksURI
	}
	durations := []struct {
		flag string
		v    time.Duration
		dst  *time.Duration
	}{
		{"access-token-ttl", f.accessTTL, &c.AccessTokenTTL},
		{"id-token-ttl", f.idTTL, &c.IDTokenTTL},
		{"refresh-token-idle-ttl", f.refreshIdleTTL, &c.RefreshTokenIdleTTL},
		{"refresh-token-max-ttl", f.refreshMax, &c.RefreshTokenMaxTTL},
	}
	for _, d := range durations {
		if set[d.flag] {
			*d.dst = d.v
		}
	}
	if set["id-token-userinfo-claims"] {
		c.IDTokenUserinfoClaims = f.userinfoClaims
	}
}

// clientOutput is what create, update and rotate-secret print: the public
// view, plus the secret on the one occasion it exists in the clear.
type clientOutput struct {
	clients.View
	ClientSecret string `json:"client_secret,omitempty"`
}

func clientsCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usher clients", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	var f clientFlags
	f.register(fs)
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &usageError{clientsUsage}
	}
	action, rest := pos[0], pos[1:]
	wantArgs := map[string]int{"create": 0, "list": 0, "get": 1, "update": 1, "delete": 1, "rotate-secret": 1}
	n, known := wantArgs[action]
	if !known || len(rest) != n {
		return &usageError{clientsUsage}
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name != "config" {
			set[fl.Name] = true
		}
	})
	switch {
	case action != "create" && action != "update" && len(set) > 0:
		return &usageError{"client settings go with create and update; " + action + " takes only --config"}
	case action == "create" && !set["name"]:
		return &usageError{"clients create needs --name"}
	case action == "update" && len(set) == 0:
		return &usageError{"clients update needs at least one setting to change"}
	case set["public"] && f.public && set["auth-method"] && f.authMethod != clients.AuthNone:
		return &usageError{"a --public client authenticates with none, not --auth-method " + f.authMethod}
	}

	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	db, err := openStorage(ctx, cfg, cfg.Database.MigrateOnStart)
	if err != nil {
		return err
	}
	defer db.Close()
	var svc *clients.Service
	switch action {
	case "create", "update", "rotate-secret":
		if svc, err = clientService(ctx, cfg, db, log); err != nil {
			return err
		}
	default:
		// Reading and deleting needs no secret key, hence no master key.
		svc = clients.NewService(db, nil)
	}

	switch action {
	case "create":
		c := &storage.Client{}
		if f.public {
			c.AuthMethod = clients.AuthNone
		}
		clients.ApplyDefaults(c)
		f.apply(c, set)
		secret, err := svc.Create(ctx, c, f.public)
		if err != nil {
			return clientError(err, "")
		}
		warnMissingTemplate(ctx, db, log, c)
		return writeClientJSON(stdout, clientOutput{View: clients.JSON(c), ClientSecret: secret})
	case "list":
		var all []clients.View
		page := storage.Page{Limit: 500}
		for {
			cs, err := svc.List(ctx, page)
			if err != nil {
				return err
			}
			for _, c := range cs {
				all = append(all, clients.JSON(c))
			}
			if len(cs) < page.Limit {
				break
			}
			page.Offset += len(cs)
		}
		if all == nil {
			all = []clients.View{}
		}
		return writeClientJSON(stdout, all)
	case "get":
		c, err := svc.Get(ctx, rest[0])
		if err != nil {
			return clientError(err, rest[0])
		}
		return writeClientJSON(stdout, clients.JSON(c))
	case "update":
		c, err := svc.Get(ctx, rest[0])
		if err != nil {
			return clientError(err, rest[0])
		}
		f.apply(c, set)
		if err := svc.Update(ctx, c); err != nil {
			return clientError(err, rest[0])
		}
		if set["access-token-template"] {
			warnMissingTemplate(ctx, db, log, c)
		}
		out := clientOutput{View: clients.JSON(c)}
		if clients.UsesSecret(c.AuthMethod) && len(c.SecretHash) == 0 {
			// Made confidential: it needs a secret, shown this once.
			if out.ClientSecret, err = svc.RotateSecret(ctx, c.ID); err != nil {
				return clientError(err, c.ID)
			}
		}
		return writeClientJSON(stdout, out)
	case "delete":
		if err := svc.Delete(ctx, rest[0]); err != nil {
			return clientError(err, rest[0])
		}
		return writeClientJSON(stdout, map[string]any{"client_id": rest[0], "deleted": true})
	case "rotate-secret":
		secret, err := svc.RotateSecret(ctx, rest[0])
		if err != nil {
			return clientError(err, rest[0])
		}
		return writeClientJSON(stdout, map[string]string{"client_id": rest[0], "client_secret": secret})
	}
	return nil
}

// warnMissingTemplate tells the operator when the client names a JWT
// template that does not exist (yet): its access tokens carry no template
// claims until one is created with that name.
func warnMissingTemplate(ctx context.Context, db storage.JWTTemplates, log *slog.Logger, c *storage.Client) {
	if c.AccessTokenTemplate == "" {
		return
	}
	if _, err := db.GetJWTTemplateByName(ctx, c.AccessTokenTemplate); errors.Is(err, storage.ErrNotFound) {
		log.Warn("no JWT template has this name yet: the client's access tokens carry no template claims until one does",
			"client_id", c.ID, "template", c.AccessTokenTemplate)
	}
}

// clientError turns a clients error into the line the operator reads.
func clientError(err error, id string) error {
	var ve *clients.ValidationError
	switch {
	case errors.As(err, &ve):
		return fmt.Errorf("invalid client: %w", err)
	case errors.Is(err, clients.ErrNotFound):
		return fmt.Errorf("no client %s", id)
	case errors.Is(err, clients.ErrNoSecret):
		return fmt.Errorf("client %s has no secret to rotate: it is public or uses private_key_jwt", id)
	}
	return err
}

// writeClientJSON prints v as indented JSON, URLs left unescaped.
func writeClientJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// declaredClients turns the file's clients into what clients.Sync takes.
func declaredClients(cfg config.Config) []clients.Declared {
	out := make([]clients.Declared, len(cfg.Clients))
	for i, c := range cfg.Clients {
		d := clients.Declared{Secret: c.Secret, Public: c.Public, Client: storage.Client{
			ID: c.ID, Name: c.Name, ApplicationType: c.ApplicationType, AuthMethod: c.AuthMethod,
			RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
			GrantTypes: c.GrantTypes, Scopes: c.Scopes, CORSOrigins: c.CORSOrigins, JWKSURI: c.JWKSURI,
			AccessTokenFormat: c.AccessTokenFormat, AccessTokenTemplate: c.AccessTokenTemplate,
			AccessTokenTTL: c.AccessTokenTTL.Std(), IDTokenTTL: c.IDTokenTTL.Std(),
			RefreshTokenIdleTTL: c.RefreshTokenIdleTTL.Std(), RefreshTokenMaxTTL: c.RefreshTokenMaxTTL.Std(),
			FirstParty: c.FirstParty == nil || *c.FirstParty, IDTokenUserinfoClaims: c.IDTokenUserinfoClaims == nil || *c.IDTokenUserinfoClaims,
		}}
		out[i] = d
	}
	return out
}
