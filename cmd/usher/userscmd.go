package main

import (
	"context"
	"io"
)

func usersCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	return &usageError{"usage: usher users create --email E --password P [--name N]"}
}
