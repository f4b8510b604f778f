package clients

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/sqlite"
)

func newService(t *testing.T) (*Service, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "usher.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	secrets, err := NewSecrets(testKey(7))
	if err != nil {
		t.Fatal(err)
	}
	return NewService(db, secrets), db
}

func TestCreateConfidentialAndAuthenticate(t *testing.T) {
	ctx := t.Context()
	svc, db := newService(t)
	c := &storage.Client{Name: "Web app", RedirectURIs: []string{"https://app.example.com/cb"}}
	secret, err := svc.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, "client_") || !strings.HasPrefix(secret, SecretPrefix) {
		t.Fatalf("id %q, secret %q", c.ID, secret)
	}
	stored, err := db.GetClient(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored.SecretHash) != 32 || bytes.Contains(stored.SecretHash, []byte(secret)) || stored.AuthMethod != AuthClientSecretBasic {
		t.Fatalf("stored hash %x, method %s: want a 32-byte hash, not the secret", stored.SecretHash, stored.AuthMethod)
	}
	if stored.Source != SourceAPI || !stored.FirstParty || !stored.IDTokenUserinfoClaims {
		t.Fatalf("stored defaults: %+v", stored)
	}

	got, err := svc.Authenticate(ctx, c.ID, secret)
	if err != nil || got.ID != c.ID {
		t.Fatalf("Authenticate with the right secret = %v, %v", got, err)
	}
	for name, tc := range map[string][2]string{
		"wrong secret":   {c.ID, secret + "x"},
		"empty secret":   {c.ID, ""},
		"unknown client": {"client_nope", secret},
		"empty id":       {"", secret},
	} {
		if _, err := svc.Authenticate(ctx, tc[0], tc[1]); !errors.Is(err, ErrInvalidClient) {
			t.Errorf("%s: Authenticate = %v, want ErrInvalidClient", name, err)
		}
	}

	// The public view never shows the hash.
	b, err := json.Marshal(JSON(stored))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"hash", `"client_secret"`, string(stored.SecretHash), base64.StdEncoding.EncodeToString(stored.SecretHash),
		hex.EncodeToString(stored.SecretHash), secret} {
		if bytes.Contains(b, []byte(leak)) {
			t.Fatalf("JSON view contains %q: %s", leak, b)
		}
	}
	var view map[string]any
	json.Unmarshal(b, &view)
	for _, k := range []string{"client_id", "name", "application_type", "token_endpoint_auth_method", "redirect_uris",
		"post_logout_redirect_uris", "grant_types", "response_types", "scopes", "cors_origins", "access_token_format",
		"access_token_ttl_seconds", "id_token_ttl_seconds", "refresh_token_idle_ttl_seconds", "refresh_token_max_ttl_seconds",
		"id_token_userinfo_claims", "first_party", "created_at", "updated_at"} {
		if _, ok := view[k]; !ok {
			t.Errorf("JSON view lacks %s: %s", k, b)
		}
	}
	if view["access_token_ttl_seconds"] != float64(900) || view["cors_origins"] == nil {
		t.Errorf("JSON view: %s", b)
	}
}

func TestCreatePublic(t *testing.T) {
	ctx := t.Context()
	svc, db := newService(t)
	c := &storage.Client{Name: "CLI", ApplicationType: AppNative, RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.cli:/cb"}}
	secret, err := svc.Create(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.GetClient(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" || len(stored.SecretHash) != 0 || stored.AuthMethod != AuthNone {
		t.Fatalf("public client: secret %q, hash %x, method %s", secret, stored.SecretHash, stored.AuthMethod)
	}
	if _, err := svc.Authenticate(ctx, c.ID, ""); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("Authenticate of a public client = %v", err)
	}
	if _, err := svc.RotateSecret(ctx, c.ID); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("RotateSecret of a public client = %v", err)
	}
	conflict := &storage.Client{Name: "x", AuthMethod: AuthClientSecretPost, RedirectURIs: []string{"https://e.com/cb"}}
	var ve *ValidationError
	if _, err := svc.Create(ctx, conflict, true); !errors.As(err, &ve) || ve.Problems[0].Field != "token_endpoint_auth_method" {
		t.Fatalf("Create public with client_secret_post = %v", err)
	}
}

func TestCreateRejectsInvalid(t *testing.T) {
	svc, db := newService(t)
	_, err := svc.Create(t.Context(), &storage.Client{Name: "x", RedirectURIs: []string{"http://example.com/cb"}}, false)
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Problems[0].Field != "redirect_uris[0]" {
		t.Fatalf("Create = %v", err)
	}
	if list, _ := db.ListClients(t.Context(), storage.Page{}); len(list) != 0 {
		t.Fatalf("an invalid client was stored: %+v", list)
	}
}

func TestCreateWithIDTwice(t *testing.T) {
	svc, _ := newService(t)
	mk := func() *storage.Client {
		return &storage.Client{ID: "my-app", Name: "x", RedirectURIs: []string{"https://e.com/cb"}}
	}
	if _, err := svc.Create(t.Context(), mk(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(t.Context(), mk(), false); !errors.Is(err, ErrExists) {
		t.Fatalf("second Create = %v, want ErrExists", err)
	}
}

func TestRotateSecret(t *testing.T) {
	ctx := t.Context()
	svc, _ := newService(t)
	c := &storage.Client{Name: "x", RedirectURIs: []string{"https://e.com/cb"}}
	old, err := svc.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := svc.RotateSecret(ctx, c.ID)
	if err != nil || fresh == old {
		t.Fatalf("RotateSecret = %q, %v", fresh, err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, old); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("old secret after rotation: %v", err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, fresh); err != nil {
		t.Fatalf("new secret after rotation: %v", err)
	}
	if _, err := svc.RotateSecret(ctx, "client_nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RotateSecret of an unknown client = %v", err)
	}
}

func TestUpdate(t *testing.T) {
	ctx := t.Context()
	svc, _ := newService(t)
	c := &storage.Client{Name: "x", RedirectURIs: []string{"https://e.com/cb"}}
	secret, err := svc.Create(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.Get(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	got.Name = "renamed"
	got.FirstParty = false
	got.RedirectURIs = []string{"https://e.com/cb2"}
	if err := svc.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	again, _ := svc.Get(ctx, c.ID)
	if again.Name != "renamed" || again.FirstParty || again.RedirectURIs[0] != "https://e.com/cb2" {
		t.Fatalf("after Update: %+v", again)
	}
	if _, err := svc.Authenticate(ctx, c.ID, secret); err != nil {
		t.Fatalf("the secret stopped working after Update: %v", err)
	}

	again.RedirectURIs = []string{"https://e.com/*"}
	var ve *ValidationError
	if err := svc.Update(ctx, again); !errors.As(err, &ve) {
		t.Fatalf("Update with a wildcard = %v", err)
	}

	// Going public drops the secret; going back needs a rotation.
	again, _ = svc.Get(ctx, c.ID)
	again.AuthMethod = AuthNone
	if err := svc.Update(ctx, again); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, secret); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("a client made public still takes its secret: %v", err)
	}
	again, _ = svc.Get(ctx, c.ID)
	if len(again.SecretHash) != 0 {
		t.Fatalf("a public client keeps a secret hash")
	}
	again.AuthMethod = AuthClientSecretPost
	if err := svc.Update(ctx, again); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, ""); !errors.Is(err, ErrInvalidClient) {
		t.Fatalf("a confidential client without a secret authenticates with an empty one: %v", err)
	}
	fresh, err := svc.RotateSecret(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, c.ID, fresh); err != nil {
		t.Fatal(err)
	}

	missing := goodClient()
	missing.ID = "client_nope"
	if err := svc.Update(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Update of an unknown client = %v", err)
	}
}

func TestGetListDelete(t *testing.T) {
	ctx := t.Context()
	svc, _ := newService(t)
	var ids []string
	for _, name := range []string{"a", "b", "c"} {
		c := &storage.Client{Name: name, RedirectURIs: []string{"https://e.com/cb"}}
		if _, err := svc.Create(ctx, c, false); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	list, err := svc.List(ctx, storage.Page{})
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %d clients, %v", len(list), err)
	}
	if err := svc.Delete(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(ctx, ids[1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if err := svc.Delete(ctx, ids[1]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete = %v", err)
	}
	if list, _ := svc.List(ctx, storage.Page{}); len(list) != 2 {
		t.Fatalf("List after Delete = %d clients", len(list))
	}
}
