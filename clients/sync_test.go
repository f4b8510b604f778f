package clients

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/usher-id/usher/storage"
)

func TestSync(t *testing.T) {
	ctx := context.Background()
	svc, store := newService(t)
	secret := strings.Repeat("s", 40)
	declared := []Declared{
		{Client: storage.Client{ID: "billing", Name: "Billing", RedirectURIs: []string{"https://billing.example/cb"}}, Secret: secret},
		{Client: storage.Client{ID: "spa", Name: "SPA", RedirectURIs: []string{"https://spa.example/cb"}}, Public: true},
	}
	res, err := svc.Sync(ctx, declared)
	if err != nil || res != (SyncResult{Created: 2}) {
		t.Fatalf("first Sync = %+v, %v", res, err)
	}
	if _, err := svc.Authenticate(ctx, "billing", secret); err != nil {
		t.Fatalf("the declared secret does not authenticate: %v", err)
	}
	// Changing the file: a new secret and name, and one client removed.
	declared[0].Secret = strings.Repeat("t", 40)
	declared[0].Client.Name = "Billing v2"
	res, err = svc.Sync(ctx, declared[:1])
	if err != nil || res != (SyncResult{Updated: 1, Deleted: 1}) {
		t.Fatalf("second Sync = %+v, %v", res, err)
	}
	c, err := svc.Get(ctx, "billing")
	if err != nil || c.Name != "Billing v2" || c.Source != SourceConfig {
		t.Fatalf("billing after Sync = %+v, %v", c, err)
	}
	if _, err := svc.Authenticate(ctx, "billing", secret); err == nil {
		t.Fatal("the old secret still works after the file changed it")
	}
	if _, err := svc.Get(ctx, "spa"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a client removed from the file is still there: %v", err)
	}
	// A client made with the CLI is never taken over or deleted.
	api := &storage.Client{ID: "cli-made", Name: "CLI", RedirectURIs: []string{"https://cli.example/cb"}}
	if _, err := svc.Create(ctx, api, false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Sync(ctx, append(declared[:1:1], Declared{Client: storage.Client{ID: "cli-made", Name: "x", RedirectURIs: []string{"https://cli.example/cb"}}, Secret: secret})); err == nil {
		t.Fatal("Sync took over a client created with the CLI")
	}
	if _, err := svc.Sync(ctx, declared[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, "cli-made"); err != nil {
		t.Fatalf("Sync deleted a client created with the CLI: %v", err)
	}
	_ = store
}

func TestSyncRefusesBadDeclarations(t *testing.T) {
	ctx := context.Background()
	svc, _ := newService(t)
	ok := storage.Client{ID: "a", Name: "A", RedirectURIs: []string{"https://a.example/cb"}}
	tests := []struct {
		name string
		d    []Declared
		want string
	}{
		{"no id", []Declared{{Client: storage.Client{Name: "A"}}}, "id is required"},
		{"short secret", []Declared{{Client: ok, Secret: "short"}}, "at least 32 characters"},
		{"twice", []Declared{{Client: ok, Secret: strings.Repeat("s", 40)}, {Client: ok, Secret: strings.Repeat("s", 40)}}, "declared twice"},
		{"invalid", []Declared{{Client: storage.Client{ID: "b", Name: "B", RedirectURIs: []string{"http://example.com/cb"}}, Secret: strings.Repeat("s", 40)}}, "client b: "},
	}
	for _, tt := range tests {
		if _, err := svc.Sync(ctx, tt.d); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Sync = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestVerifySecret(t *testing.T) {
	svc, _ := newService(t)
	c := &storage.Client{Name: "x", RedirectURIs: []string{"https://x.example/cb"}}
	secret, err := svc.Create(context.Background(), c, false)
	if err != nil {
		t.Fatal(err)
	}
	pub := &storage.Client{Name: "p", RedirectURIs: []string{"https://p.example/cb"}}
	if _, err := svc.Create(context.Background(), pub, true); err != nil {
		t.Fatal(err)
	}
	if !svc.VerifySecret(c, secret) || svc.VerifySecret(c, secret+"x") || svc.VerifySecret(pub, "") || svc.VerifySecret(pub, secret) {
		t.Fatal("VerifySecret disagrees with the stored hashes")
	}
}
