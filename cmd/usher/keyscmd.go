package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/usher-id/usher/config"
	"github.com/usher-id/usher/keys"
	"github.com/usher-id/usher/storage"
)

func keysOptions(cfg config.Config, log *slog.Logger) keys.Options {
	return keys.Options{
		Algorithms:       cfg.Keys.Algorithms,
		RotationPeriod:   cfg.Keys.RotationPeriod.Std(),
		JWKSMaxAge:       cfg.Keys.JWKSMaxAge.Std(),
		RefreshInterval:  cfg.Keys.RefreshInterval.Std(),
		MaxTokenLifetime: cfg.Keys.MaxTokenLifetime.Std(),
		Log:              log,
	}
}

const keysUsage = "usage: usher keys list | rotate [--alg ALG] [--immediately] | retire KID | revoke KID | rewrap  [--config FILE]"

func keysCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usher keys", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	alg := fs.String("alg", "", "the `algorithm` to rotate (default: the first of keys.algorithms)")
	now := fs.Bool("immediately", false, "make the new key current as soon as every server publishes it (about 2s) instead of after the JWKS cache lifetime (for a compromised key)")
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return &usageError{keysUsage}
	}
	action, rest := pos[0], pos[1:]
	wantArgs := map[string]int{"list": 0, "rotate": 0, "retire": 1, "revoke": 1, "rewrap": 0}
	n, known := wantArgs[action]
	if !known || len(rest) != n {
		return &usageError{keysUsage}
	}
	if (*alg != "" || *now) && action != "rotate" {
		return &usageError{"--alg and --immediately go with rotate"}
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
	if action == "list" {
		return listKeys(ctx, db, stdout)
	}
	mk, err := loadMasterKey(cfg)
	if err != nil {
		return err
	}
	if action == "rewrap" {
		n, err := keys.Rewrap(ctx, db, mk.sealer)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "re-sealed %d secret(s) under the current master key; master_key_previous can now be removed\n", n)
		return nil
	}
	km, err := keys.New(ctx, db, mk.sealer, keysOptions(cfg, log))
	if err != nil {
		return err
	}
	switch action {
	case "rotate":
		a := *alg
		if a == "" {
			a = km.DefaultAlgorithm()
		}
		k, err := km.Rotate(ctx, a, *now)
		if err != nil {
			return err
		}
		if k.State == storage.KeyCurrent {
			fmt.Fprintf(stdout, "%s (%s) is now the current key\n", k.ID, k.Algorithm)
		} else {
			fmt.Fprintf(stdout, "%s (%s) is published and becomes current after %s, when every JWKS cache has it\n",
				k.ID, k.Algorithm, (cfg.Keys.JWKSMaxAge.Std() + cfg.Keys.RefreshInterval.Std()).String())
		}
	case "retire":
		if err := km.Retire(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is retired: it signs nothing more and stays published until its tokens have expired\n", rest[0])
	case "revoke":
		if err := km.Revoke(ctx, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is revoked: every server stops publishing it within a second and refuses the tokens it signed; "+
			"relying parties drop it when their cached JWKS expires (keys.jwks_max_age, %s)\n", rest[0], cfg.Keys.JWKSMaxAge.Std())
	}
	return listKeys(ctx, db, stdout)
}

// listKeys prints every key's public facts; private material never leaves
// the database.
func listKeys(ctx context.Context, db storage.SigningKeys, w io.Writer) error {
	recs, err := db.ListSigningKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tUNPUBLISHED AFTER")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Algorithm, r.State,
			stamp(r.CreatedAt), stamp(r.ActivatedAt), stamp(r.RetiredAt), stamp(r.DeleteAfter))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
