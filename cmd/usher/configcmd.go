package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/usher-id/usher/config"
	"io"

	"go.yaml.in/yaml/v3"
)

// configCommand prints the settings Usher would run with, after the file
// and the environment, with secrets replaced by xxxxx: the answer to "which
// value won?".
func configCommand(_ context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("usher config", flag.ContinueOnError)
	cfgPath := configFlag(fs)
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &usageError{"usage: usher config [--config FILE]"}
	}
	cfg, err := config.Load(*cfgPath, environ)
	if err != nil {
		return err
	}
	out, err := yaml.Marshal(cfg.Redacted())
	if err != nil {
		return fmt.Errorf("render configuration: %w", err)
	}
	_, err = stdout.Write(out)
	return err
}
