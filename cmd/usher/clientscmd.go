package main

import (
	"context"
	"io"
)

func clientsCommand(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	return &usageError{"usage: usher clients create|list|get|update|delete|rotate-secret"}
}
