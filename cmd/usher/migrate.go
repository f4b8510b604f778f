package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/usher-id/usher/config"
	"io"
)

func migrateCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usher migrate", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "up" && pos[0] != "status") {
		return &usageError{"usage: usher migrate up|status [--config FILE]"}
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		return err
	}
	db, err := openStorage(ctx, cfg, pos[0] == "up")
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.SchemaStatus(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s\n", db.Describe(), describeSchema(st))
	for _, m := range st.Pending {
		fmt.Fprintf(stdout, "  pending %04d_%s\n", m.Version, m.Name)
	}
	return nil
}
