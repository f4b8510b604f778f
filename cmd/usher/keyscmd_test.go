package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/usher-id/usher/storage/postgres/pgtest"
)

const (
	masterKeyA = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	masterKeyB = "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA="
)

func fetchJWKS(t *testing.T, base string) (jose.JSONWebKeySet, *http.Response) {
	t.Helper()
	resp, err := http.Get(base + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	return set, resp
}

func kids(set jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestServePublishesJWKSAndKeysCommands(t *testing.T) {
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(t.TempDir(), "usher.db"), "USHER_LISTEN=127.0.0.1:0")
	base, stop := startServe(t, env)
	set, resp := fetchJWKS(t, base)
	if len(set.Keys) != 1 || set.Keys[0].Algorithm != "RS256" || set.Keys[0].Use != "sig" || !set.Keys[0].IsPublic() {
		t.Fatalf("JWKS after first start = %+v", set.Keys)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=900" || resp.Header.Get("ETag") == "" {
		t.Fatalf("Cache-Control %q, ETag %q", cc, resp.Header.Get("ETag"))
	}
	first := set.Keys[0].KeyID
	if code := stop(); code != 0 {
		t.Fatalf("serve exit %d", code)
	}

	code, out, errOut := runCmd(t, env, "keys", "list")
	if code != 0 || !strings.Contains(out, first) || !strings.Contains(out, "current") {
		t.Fatalf("keys list: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runCmd(t, env, "keys", "rotate", "--immediately")
	if code != 0 || !strings.Contains(out, "is now the current key") || !strings.Contains(out, "retired") {
		t.Fatalf("keys rotate --immediately: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, env, "keys", "rotate", "--alg", "ES256")
	if code != 1 {
		t.Fatalf("rotating an algorithm that is not configured: exit %d, %q", code, out)
	}
	code, _, errOut = runCmd(t, env, "keys", "retire", "key_nonexistent")
	if code != 1 || !strings.Contains(errOut, "no signing key key_nonexistent") {
		t.Fatalf("retire unknown kid: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd(t, env, "keys", "shred")
	if code != 2 {
		t.Fatalf("keys shred: exit %d, %q", code, errOut)
	}

	// The next start publishes both keys: the old one until its tokens expire.
	base, stop = startServe(t, env)
	defer stop()
	set, _ = fetchJWKS(t, base)
	if len(set.Keys) != 2 || !strings.Contains(strings.Join(kids(set), " "), first) {
		t.Fatalf("JWKS after rotation = %v, want the new key and %s", kids(set), first)
	}
}

// usher keys revoke takes a leaked key out of the JWKS at once; the only
// current key is replaced first, so the server keeps signing.
func TestKeysRevoke(t *testing.T) {
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(t.TempDir(), "usher.db"), "USHER_LISTEN=127.0.0.1:0")
	base, stop := startServe(t, env)
	set, _ := fetchJWKS(t, base)
	if code := stop(); code != 0 || len(set.Keys) != 1 {
		t.Fatalf("serve exit %d, JWKS %v", code, kids(set))
	}
	leaked := set.Keys[0].KeyID

	for _, args := range [][]string{{"keys", "revoke", "key_nonexistent"}, {"keys", "revoke", "not a kid"}} {
		code, out, errOut := runCmd(t, env, args...)
		if code != 1 || !strings.HasPrefix(errOut, "usher: ") || !strings.Contains(errOut, "no signing key") ||
			strings.Count(errOut, "\n") != 1 || out != "" {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want exit 1 and one usher: line", args, code, out, errOut)
		}
	}
	if code, _, errOut := runCmd(t, env, "keys", "revoke"); code != 2 || !strings.Contains(errOut, "revoke KID") {
		t.Fatalf("keys revoke without a kid: exit %d, %q", code, errOut)
	}

	code, out, errOut := runCmd(t, env, "keys", "revoke", leaked)
	if code != 0 || !strings.Contains(out, leaked+" is revoked") || !strings.Contains(out, "current") {
		t.Fatalf("keys revoke: exit %d, %q %q", code, out, errOut)
	}
	_, out, _ = runCmd(t, env, "keys", "list")
	if strings.Contains(out, leaked) || strings.Count(out, "current") != 1 {
		t.Fatalf("keys list after revoke:\n%s", out)
	}

	base, stop = startServe(t, env)
	defer stop()
	set, _ = fetchJWKS(t, base)
	if len(set.Keys) != 1 || set.Keys[0].KeyID == leaked {
		t.Fatalf("JWKS after revoking %s = %v, want only its replacement", leaked, kids(set))
	}
}

func TestMasterKeyMismatchStopsStartup(t *testing.T) {
	db := filepath.Join(t.TempDir(), "usher.db")
	env := testEnv("USHER_DATABASE_URL="+db, "USHER_LISTEN=127.0.0.1:0", "USHER_MASTER_KEY="+masterKeyA)
	_, stop := startServe(t, env)
	stop()
	code, _, errOut := runCmd(t, testEnv("USHER_DATABASE_URL="+db, "USHER_LISTEN=127.0.0.1:0", "USHER_MASTER_KEY="+masterKeyB), "serve")
	if code != 1 || !strings.Contains(errOut, "cannot decrypt signing keys: the master key does not match") {
		t.Fatalf("serve with another master key: exit %d, %q", code, errOut)
	}
	if strings.Contains(errOut, masterKeyB) || strings.Contains(errOut, masterKeyA) {
		t.Fatal("the master key was printed")
	}
	// Rotating the master key: new key current, old key previous, rewrap.
	rotated := testEnv("USHER_DATABASE_URL="+db, "USHER_MASTER_KEY="+masterKeyB, "USHER_MASTER_KEY_PREVIOUS="+masterKeyA)
	code, out, errOut := runCmd(t, rotated, "keys", "rewrap")
	if code != 0 || !strings.Contains(out, "re-sealed 6 secret(s)") {
		t.Fatalf("keys rewrap: exit %d, %q %q", code, out, errOut)
	}
	_, stop = startServe(t, testEnv("USHER_DATABASE_URL="+db, "USHER_LISTEN=127.0.0.1:0", "USHER_MASTER_KEY="+masterKeyB))
	if code := stop(); code != 0 {
		t.Fatalf("serve with the new master key after rewrap: exit %d", code)
	}
}

func TestProductionModeNeedsMasterKey(t *testing.T) {
	code, _, errOut := runCmd(t, testEnv("USHER_MODE=production", "USHER_DATABASE_URL="+filepath.Join(t.TempDir(), "usher.db")), "serve")
	if code != 1 || !strings.Contains(errOut, "master_key (USHER_MASTER_KEY): required outside development mode") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

func TestDevModeGeneratesMasterKeyFile(t *testing.T) {
	dir := t.TempDir()
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(dir, "usher.db"), "USHER_LISTEN=127.0.0.1:0")
	_, stop := startServe(t, env)
	stop()
	k1, created, err := devMasterKey(filepath.Join(dir, "usher.master.key"))
	if err != nil || created || len(k1) != 32 {
		t.Fatalf("master key file after first start: created=%v len=%d err=%v", created, len(k1), err)
	}
}

// Two replicas on one PostgreSQL: a rotation made with the CLI reaches both
// within a poll, and they publish the same keys; a revocation leaves both.
func TestPostgresReplicasShareRotation(t *testing.T) {
	url := pgtest.URL(t)
	env := testEnv("USHER_DATABASE_URL="+url, "USHER_LISTEN=127.0.0.1:0", "USHER_MASTER_KEY="+masterKeyA, "USHER_KEYS_REFRESH_INTERVAL=1s")
	baseA, stopA := startServe(t, env)
	defer stopA()
	baseB, stopB := startServe(t, env)
	defer stopB()
	setA, _ := fetchJWKS(t, baseA)
	setB, _ := fetchJWKS(t, baseB)
	if len(setA.Keys) != 1 || strings.Join(kids(setA), ",") != strings.Join(kids(setB), ",") {
		t.Fatalf("replicas publish %v and %v, want the same single key", kids(setA), kids(setB))
	}
	old := kids(setA)[0]
	code, out, errOut := runCmd(t, env, "keys", "rotate", "--immediately")
	if code != 0 {
		t.Fatalf("rotate: %q %q", out, errOut)
	}
	current, _, _ := strings.Cut(out, " ")
	// until polls both replicas' JWKS until they are want, or fails.
	deadline := time.Now().Add(20 * time.Second)
	until := func(what string, want ...string) {
		t.Helper()
		for {
			setA, _ = fetchJWKS(t, baseA)
			setB, _ = fetchJWKS(t, baseB)
			if slices.Equal(slices.Sorted(slices.Values(kids(setA))), want) && slices.Equal(slices.Sorted(slices.Values(kids(setB))), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after %s replicas publish %v and %v, want %v", what, kids(setA), kids(setB), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	until("the rotation", slices.Sorted(slices.Values([]string{old, current}))...)

	// Tokens issued by each replica after the rotation are signed with the
	// new key (once the replica has polled) and verify against the other
	// replica's JWKS.
	code, out, errOut = runCmd(t, env, "clients", "create", "--name", "svc", "--grant", "client_credentials", "--scope", "jobs")
	if code != 0 {
		t.Fatalf("clients create: %s", errOut)
	}
	var client struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &client); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{baseA, baseB}, {baseB, baseA}} {
		cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: client.Secret, TokenURL: pair[0] + "/oauth/token", Scopes: []string{"jobs"}}
		for {
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("token from %s: %v", pair[0], err)
			}
			jws, err := jose.ParseSigned(tok.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			kid := jws.Signatures[0].Header.KeyID
			other, _ := fetchJWKS(t, pair[1])
			keys := other.Key(kid)
			if len(keys) != 1 {
				t.Fatalf("a token from %s is signed with %s, which %s does not publish", pair[0], kid, pair[1])
			}
			if _, err := jws.Verify(keys[0]); err != nil {
				t.Fatalf("a token from %s does not verify with %s's JWKS: %v", pair[0], pair[1], err)
			}
			if kid == current {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still signs with %s, want %s", pair[0], kid, current)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Revoking the old key takes it out of both replicas' JWKS.
	if code, out, errOut := runCmd(t, env, "keys", "revoke", old); code != 0 {
		t.Fatalf("revoke: %q %q", out, errOut)
	}
	until("revoking "+old, current)
}
