package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/storage/postgres/pgtest"
	"github.com/usher-id/usher/storage/sqlite"
)

// TestMain lets a test run this binary as the real usher command, so
// signals and exit codes are observed on a real process.
func TestMain(m *testing.M) {
	if os.Getenv("USHER_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	code := m.Run()
	stopOPPlan() // the usher serve the OpenID conformance tests share
	os.Exit(code)
}

// syncBuffer is a bytes.Buffer safe for a server goroutine to write while
// the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is a clean environment: the host's USHER_* variables must not leak
// into the command under test.
func testEnv(kv ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH")}, kv...)
}

func runCmd(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, env, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"version", []string{"version"}, nil, 0, "usher ", ""},
		{"help", []string{"help"}, nil, 0, "usher serve", ""},
		{"no command", nil, nil, 2, "", "usher: no command given"},
		{"unknown command", []string{"frobnicate"}, nil, 2, "", `usher: unknown command "frobnicate"`},
		{"unknown flag", []string{"serve", "--colour"}, nil, 2, "", "flag provided but not defined: -colour"},
		{"migrate without action", []string{"migrate"}, nil, 2, "", "usage: usher migrate up|status"},
		{"missing config file", []string{"serve", "--config", "/nonexistent/usher.yaml"}, nil, 1, "", "/nonexistent/usher.yaml"},
		{"every bad setting at once", []string{"serve"}, []string{"USHER_LOG_LEVEL=loud", "USHER_DATABASE_MAX_CONNS=many", "USHER_ISSUER=ftp://x"}, 1, "",
			"log.level (USHER_LOG_LEVEL)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, testEnv(tt.env...), tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout containing %q, stderr containing %q",
					code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestEveryConfigProblemIsListed(t *testing.T) {
	_, _, errOut := runCmd(t, testEnv("USHER_LOG_LEVEL=loud", "USHER_DATABASE_MAX_CONNS=many", "USHER_ISSUER=ftp://x"), "serve")
	for _, want := range []string{"USHER_LOG_LEVEL", "USHER_DATABASE_MAX_CONNS", "issuer"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not name %s:\n%s", want, errOut)
		}
	}
}

func TestMigrateSQLite(t *testing.T) {
	env := testEnv("USHER_DATABASE_URL=" + filepath.Join(t.TempDir(), "usher.db"))
	code, out, errOut := runCmd(t, env, "migrate", "status")
	if code != 0 || !strings.Contains(out, "pending 0001_initial") {
		t.Fatalf("migrate status on a new database: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runCmd(t, env, "migrate", "up")
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate up: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, env, "migrate", "status")
	if code != 0 || strings.Contains(out, "pending") || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate status after up: exit %d, %q", code, out)
	}
}

func TestPostgresMigrate(t *testing.T) {
	env := testEnv("USHER_DATABASE_URL=" + pgtest.URL(t))
	code, out, errOut := runCmd(t, env, "migrate", "up", "--config", "")
	if code != 0 || !strings.Contains(out, "PostgreSQL at") || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate up: exit %d, %q %q", code, out, errOut)
	}
}

func TestServeRefusesBadDatabases(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	if err := os.WriteFile(corrupt, bytes.Repeat([]byte("garbage!"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, url, want string }{
		{"corrupt sqlite", corrupt, "is not a SQLite database or is corrupt"},
		{"unreachable postgres", "postgres://postgres@127.0.0.1:1/usher?connect_timeout=2", "cannot connect to PostgreSQL at 127.0.0.1:1/usher"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, testEnv("USHER_DATABASE_URL="+tt.url, "USHER_LISTEN=127.0.0.1:0"), "serve")
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 and one line containing %q", code, errOut, tt.want)
			}
		})
	}
}

var listening = regexp.MustCompile(`Listening\s+(\S+)`)

// startServe runs `usher serve` in-process and returns its base URL and a
// function that stops it and returns its exit code.
func startServe(t *testing.T, env []string) (base string, stop func() int) {
	t.Helper()
	return startServeArgs(t, env)
}

// startServeArgs is startServe with extra serve arguments.
func startServeArgs(t *testing.T, env []string, extra ...string) (base string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, extra...), env, out, errOut) }()
	deadline := time.After(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited with %d before listening: %s", code, errOut)
		case <-deadline:
			cancel()
			t.Fatal("serve did not start within 30s")
		case <-time.After(10 * time.Millisecond):
		}
	}
	return base, func() int {
		cancel()
		return <-done
	}
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return resp.StatusCode, body
}

func TestServeSQLite(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "usher.db")
	base, stop := startServe(t, testEnv("USHER_DATABASE_URL="+dbPath, "USHER_LISTEN=127.0.0.1:0"))
	if code, body := getJSON(t, base+"/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatalf("/healthz = %d %v", code, body)
	}
	if code, body := getJSON(t, base+"/readyz"); code != 200 || body["status"] != "ready" {
		t.Fatalf("/readyz = %d %v", code, body)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d after cancel", code)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("the database file was not created: %v", err)
	}
}

// In development mode on PostgreSQL, the generated master key is kept in
// the working folder.
func TestServePostgres(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	base, stop := startServe(t, testEnv("USHER_DATABASE_URL="+pgtest.URL(t), "USHER_LISTEN=127.0.0.1:0"))
	if fi, err := os.Stat(filepath.Join(dir, "usher.master.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("development master key in the working folder: %v %v", fi, err)
	}
	if code, body := getJSON(t, base+"/readyz"); code != 200 || body["status"] != "ready" {
		t.Fatalf("/readyz = %d %v", code, body)
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
}

// With migrate_on_start off, serve refuses a database that is behind, and
// starts once it has been migrated.
func TestServeWithoutAutoMigrateWantsMigrations(t *testing.T) {
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(t.TempDir(), "usher.db"), "USHER_LISTEN=127.0.0.1:0", "USHER_DATABASE_MIGRATE_ON_START=false")
	code, _, errOut := runCmd(t, env, "serve")
	if code != 1 || !strings.Contains(errOut, "is at schema version 0 of") || !strings.Contains(errOut, "run usher migrate up") {
		t.Fatalf("serve on an unmigrated database: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd(t, env, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up: %s", errOut)
	}
	base, stop := startServe(t, env)
	defer stop()
	if code, body := getJSON(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz after migrate up = %d %v", code, body)
	}
}

// Shutdown lets a request that is already running finish, and refuses new
// connections.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "finished")
	})}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- serveUntilDone(ctx, srv, ln, 30*time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-entered
	cancel()
	// Wait until the listener is closed before releasing the request.
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	r := <-got
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request = %q, %v; want it to finish", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serveUntilDone = %v", err)
	}
}

func TestGracefulShutdownIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
	})}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() {
		served <- serveUntilDone(ctx, srv, ln, 50*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	go http.Get("http://" + ln.Addr().String())
	<-entered
	cancel()
	if err := <-served; err == nil || !strings.Contains(err.Error(), "cut off") {
		t.Fatalf("serveUntilDone with a stuck request = %v, want it to give up", err)
	}
}

// The real process stops cleanly on SIGTERM and closes the database.
func TestServeStopsOnSIGTERM(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "usher.db")
	cmd := exec.Command(os.Args[0], "serve")
	cmd.Env = testEnv("USHER_TEST_RUN_MAIN=1", "USHER_DATABASE_URL="+dbPath, "USHER_LISTEN=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var base string
	for sc.Scan() {
		if m := listening.FindStringSubmatch(sc.Text()); m != nil {
			base = "http://" + m[1]
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if base == "" {
		cmd.Process.Kill()
		t.Fatalf("no Listening line; stderr: %s", stderr.String())
	}
	if code, _ := getJSON(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d", code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("usher exited with %v after SIGTERM; stderr: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "usher stopped") {
		t.Fatalf("no clean stop logged: %s", stderr.String())
	}
	// Closing the database checkpoints the WAL into the main file.
	if _, err := os.Stat(dbPath + "-wal"); err == nil {
		t.Errorf("%s-wal is left behind: the database was not closed", dbPath)
	}
}

// cleanExpired runs a first pass at once and stops with its context.
func TestCleanExpired(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "usher.db"), sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u := &storage.User{Emails: []storage.EmailAddress{{Email: "x@example.com"}}}
	if err := db.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	s := &storage.Session{TokenHash: []byte("t"), UserID: u.ID, AuthTime: past, CreatedAt: past, LastActiveAt: past, ExpiresAt: past.Add(time.Minute)}
	if err := db.CreateSession(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { cleanExpired(ctx, db, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil))); close(done) }()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := db.GetSession(t.Context(), s.ID); errors.Is(err, storage.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired session was not deleted")
		}
	}
	cancel()
	<-done
}

func TestConfigCommandHidesSecrets(t *testing.T) {
	env := testEnv("USHER_LOG_LEVEL=debug", "USHER_MASTER_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"USHER_DATABASE_URL=postgres://usher:hunter2hunter2@db.example:5432/usher")
	code, out, errOut := runCmd(t, env, "config")
	if code != 0 {
		t.Fatalf("usher config: %d %s", code, errOut)
	}
	for _, want := range []string{"level: debug", "master_key: xxxxx", "usher:xxxxx@db.example", "rotation_period: 90d"} {
		if !strings.Contains(out, want) {
			t.Errorf("usher config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") || strings.Contains(out, "MDEyMzQ1") {
		t.Fatalf("usher config printed a secret:\n%s", out)
	}
}
