package mail

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usher-id/usher/internal/smtptest"
)

const (
	testUser     = "usher"
	testPassword = "correct-horse-battery-staple"
)

// syncBuffer is a log destination the race detector is happy with.
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

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// newSender points an SMTP sender at srv with auth and a quick backoff;
// change adjusts the config first.
func newSender(t *testing.T, srv *smtptest.Server, tlsMode string, change func(*SMTPConfig)) (*SMTP, *syncBuffer) {
	t.Helper()
	cfg := SMTPConfig{
		Host:     srv.Host(),
		Port:     srv.Port(),
		Username: testUser,
		Password: testPassword,
		From:     "Acme Accounts <no-reply@acme.example>",
		TLS:      tlsMode,
		RootCAs:  srv.RootCAs(),
	}
	if change != nil {
		change(&cfg)
	}
	log, buf := testLogger()
	s, err := NewSMTP(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	s.backoff = []time.Duration{time.Millisecond, time.Millisecond}
	return s, buf
}

func verifyMessage(t *testing.T) Message {
	t.Helper()
	m, err := Render(VerifyEmail, sample())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// checkDelivered compares what the server got with what was sent.
func checkDelivered(t *testing.T, got smtptest.Message, sent Message) {
	t.Helper()
	if got.From != "no-reply@acme.example" {
		t.Errorf("MAIL FROM = %q", got.From)
	}
	if len(got.To) != 1 || got.To[0] != sent.To {
		t.Errorf("RCPT TO = %q, want [%q]", got.To, sent.To)
	}
	if got.Subject != sent.Subject {
		t.Errorf("Subject = %q, want %q", got.Subject, sent.Subject)
	}
	if got.Text != sent.Text {
		t.Errorf("text part differs:\ngot:\n%s\nwant:\n%s", got.Text, sent.Text)
	}
	if got.HTML != sent.HTML {
		t.Errorf("html part differs:\ngot:\n%s\nwant:\n%s", got.HTML, sent.HTML)
	}
	if from := got.Header.Get("From"); !strings.Contains(from, "Acme Accounts") || !strings.Contains(from, "<no-reply@acme.example>") {
		t.Errorf("From header = %q", from)
	}
	if ct := got.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("Content-Type = %q, want multipart/alternative", ct)
	}
	if id := got.Header.Get("Message-Id"); !strings.HasSuffix(id, "@acme.example>") {
		t.Errorf("Message-ID = %q, want one at the sender's domain", id)
	}
	if v := got.Header.Get("Auto-Submitted"); v != "auto-generated" {
		t.Errorf("Auto-Submitted = %q", v)
	}
}

// checkLogHygiene fails if the log holds what it must never hold.
func checkLogHygiene(t *testing.T, log string, m Message) {
	t.Helper()
	for _, secret := range []string{testPassword, m.Subject, "482913", "token=abc123", "ada@"} {
		if strings.Contains(log, secret) {
			t.Errorf("log contains %q:\n%s", secret, log)
		}
	}
}

func TestSMTPSendsOverSTARTTLSWithAuth(t *testing.T) {
	// The server allows AUTH only after STARTTLS, so a delivery here proves
	// the connection was upgraded.
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS, Username: testUser, Password: testPassword})
	s, logs := newSender(t, srv, "", nil) // "" is starttls
	m := verifyMessage(t)
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, 1)
	checkDelivered(t, got[0], m)
	checkLogHygiene(t, logs.String(), m)
}

func TestSMTPSendsOverImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.ImplicitTLS, Username: testUser, Password: testPassword})
	s, _ := newSender(t, srv, "tls", nil)
	m := verifyMessage(t)
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, srv.WaitFor(t, 1)[0], m)
}

func TestSMTPSendsWithoutTLSOnLoopback(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.NoTLS, Username: testUser, Password: testPassword})
	s, _ := newSender(t, srv, "none", nil)
	m := verifyMessage(t)
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	checkDelivered(t, srv.WaitFor(t, 1)[0], m)
}

func TestSMTPTextOnly(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS})
	s, _ := newSender(t, srv, "starttls", func(c *SMTPConfig) { c.Username, c.Password = "", "" })
	if err := s.Send(t.Context(), Message{To: "bob@example.com", Subject: "Hi", Text: "plain ünïcode\n"}); err != nil {
		t.Fatal(err)
	}
	got := srv.WaitFor(t, 1)[0]
	if got.Text != "plain ünïcode\n" || got.HTML != "" {
		t.Errorf("text %q, html %q", got.Text, got.HTML)
	}
}

func TestNewSMTPRejectsBadConfig(t *testing.T) {
	good := SMTPConfig{Host: "smtp.example.com", From: "no-reply@acme.example", Username: "u", Password: "p"}
	tests := []struct {
		name   string
		change func(*SMTPConfig)
		want   string
	}{
		{"no host", func(c *SMTPConfig) { c.Host = "" }, "host is required"},
		{"host with port", func(c *SMTPConfig) { c.Host = "smtp.example.com:587" }, "includes a port"},
		{"none on a remote host", func(c *SMTPConfig) { c.TLS = "none" }, "only allowed for a loopback host"},
		{"none on a private address", func(c *SMTPConfig) { c.Host, c.TLS = "10.0.0.5", "none" }, "only allowed for a loopback host"},
		{"unknown tls", func(c *SMTPConfig) { c.TLS = "ssl" }, `must be "starttls", "tls" or "none"`},
		{"port out of range", func(c *SMTPConfig) { c.Port = 70000 }, "out of range"},
		{"no from", func(c *SMTPConfig) { c.From = "" }, "from address is required"},
		{"bad from", func(c *SMTPConfig) { c.From = "Acme no-reply" }, "not an email address"},
		{"username without password", func(c *SMTPConfig) { c.Password = "" }, "password is required"},
		{"password without username", func(c *SMTPConfig) { c.Username = "" }, "username is required"},
		{"negative timeout", func(c *SMTPConfig) { c.Timeout = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.change(&cfg)
			_, err := NewSMTP(cfg, nil)
			if err == nil {
				t.Fatal("NewSMTP accepted the config")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "p\"") && tt.name != "bad from" {
				t.Errorf("error %q may quote the password", err)
			}
		})
	}

	for _, host := range []string{"localhost", "127.0.0.1", "::1", "[::1]", "127.0.0.2"} {
		if _, err := NewSMTP(SMTPConfig{Host: host, From: "a@example.com", TLS: "none"}, nil); err != nil {
			t.Errorf("tls none on %s: %v", host, err)
		}
	}
}

func TestSMTPWrongPasswordIsNotRetried(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS, Username: testUser, Password: testPassword})
	s, logs := newSender(t, srv, "starttls", func(c *SMTPConfig) { c.Password = "wrong-password" })
	m := verifyMessage(t)
	err := s.Send(t.Context(), m)
	if !errors.Is(err, ErrNotSent) {
		t.Fatalf("err = %v, want ErrNotSent", err)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1: a rejected password must not be retried", n)
	}
	if n := srv.Attempts(); n != 0 {
		t.Errorf("%d messages transmitted, want 0", n)
	}
	if !strings.Contains(err.Error(), "535") {
		t.Errorf("error %q does not carry the SMTP reply", err)
	}
	if strings.Contains(err.Error(), "wrong-password") || strings.Contains(logs.String(), "wrong-password") {
		t.Error("the password leaked into the error or the log")
	}
	checkLogHygiene(t, logs.String(), m)
}

func TestSMTPUntrustedCertificateIsNotRetried(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS})
	s, _ := newSender(t, srv, "starttls", func(c *SMTPConfig) {
		c.RootCAs = nil // system roots: the test certificate is not among them
		c.Username, c.Password = "", ""
	})
	err := s.Send(t.Context(), verifyMessage(t))
	if !errors.Is(err, ErrNotSent) {
		t.Fatalf("err = %v, want ErrNotSent", err)
	}
	if n := srv.Connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestSMTPRetriesTransientFailure(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS, Username: testUser, Password: testPassword, FailNext: 1, FailCode: 451})
	s, logs := newSender(t, srv, "starttls", nil)
	m := verifyMessage(t)
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(t, 1); len(got) != 1 {
		t.Errorf("%d messages delivered, want 1", len(got))
	}
	if n := srv.Attempts(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	if !strings.Contains(logs.String(), "mail send attempt failed") {
		t.Errorf("the failed attempt was not logged:\n%s", logs)
	}
	checkLogHygiene(t, logs.String(), m)
}

func TestSMTPGivesUpAfterThreeAttempts(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS, Username: testUser, Password: testPassword, FailNext: 10, FailCode: 421})
	s, _ := newSender(t, srv, "starttls", nil)
	err := s.Send(t.Context(), verifyMessage(t))
	if !errors.Is(err, ErrNotSent) {
		t.Fatalf("err = %v, want ErrNotSent", err)
	}
	if n := srv.Attempts(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if !strings.Contains(err.Error(), "3 attempt(s)") {
		t.Errorf("error %q does not say how often it tried", err)
	}
}

func TestSMTPPermanentFailureIsNotRetried(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS, Username: testUser, Password: testPassword, FailNext: 1, FailCode: 550})
	s, _ := newSender(t, srv, "starttls", nil)
	m := verifyMessage(t)
	err := s.Send(t.Context(), m)
	if !errors.Is(err, ErrNotSent) {
		t.Fatalf("err = %v, want ErrNotSent", err)
	}
	if n := srv.Attempts(); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	if strings.Contains(err.Error(), m.To) {
		t.Errorf("error %q names the recipient", err)
	}
	// The failure was used up: the next message goes through.
	if err := s.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, 1)
}

func TestSMTPRetriesBrokenConnections(t *testing.T) {
	// A server that hangs up before its greeting: a connection error,
	// which is worth trying again.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.Close()
		}
	}()
	log, _ := testLogger()
	s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "a@acme.example", TLS: "none"}, log)
	if err != nil {
		t.Fatal(err)
	}
	s.backoff = []time.Duration{time.Millisecond, time.Millisecond}
	if err := s.Send(t.Context(), verifyMessage(t)); !errors.Is(err, ErrNotSent) {
		t.Fatalf("err = %v, want ErrNotSent", err)
	}
	// Each attempt failed only after the server closed its connection,
	// so all of them were counted before Send returned.
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

func TestSMTPStopsWhenContextIsCancelled(t *testing.T) {
	t.Run("before sending", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS})
		s, _ := newSender(t, srv, "starttls", nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := s.Send(ctx, verifyMessage(t))
		if !errors.Is(err, ErrNotSent) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrNotSent and context.Canceled", err)
		}
		if n := srv.Connections(); n != 0 {
			t.Errorf("%d connections, want 0", n)
		}
	})

	t.Run("during the backoff", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS, Username: testUser, Password: testPassword, FailNext: 10, FailCode: 451})
		s, _ := newSender(t, srv, "starttls", nil)
		// A backoff no test would wait out: Send returns only if it
		// notices the cancellation.
		s.backoff = []time.Duration{time.Hour, time.Hour}
		// The failed attempt is logged just before the wait: cancelling
		// then lands in the backoff, not in the attempt.
		failed := make(chan struct{}, 1)
		s.log = slog.New(notifyHandler{Handler: slog.DiscardHandler, msg: "mail send attempt failed", ch: failed})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Send(ctx, verifyMessage(t)) }()
		select {
		case <-failed:
		case err := <-done:
			t.Fatalf("Send returned before its first attempt failed: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("the first attempt did not fail")
		}
		cancel()
		err := waitErr(t, done)
		if !errors.Is(err, ErrNotSent) || !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want ErrNotSent and context.Canceled", err)
		}
		if n := srv.Attempts(); n != 1 {
			t.Errorf("%d attempts, want 1", n)
		}
	})

	t.Run("during the conversation", func(t *testing.T) {
		// A server that greets, reads EHLO and then says nothing more; the
		// command timeout is far longer than the test waits, so only ctx
		// can end Send.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		talking := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("220 localhost ESMTP\r\n"))
			// Once EHLO arrives the client is past dialling, where ctx
			// is honoured anyway, and waits for a reply.
			if _, err := bufio.NewReader(c).ReadString('\n'); err == nil {
				talking <- c
			} else {
				_ = c.Close()
			}
		}()
		s, err := NewSMTP(SMTPConfig{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, From: "a@acme.example", TLS: "none", Timeout: time.Hour}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Send(ctx, verifyMessage(t)) }()
		select {
		case c := <-talking:
			t.Cleanup(func() { _ = c.Close() })
		case err := <-done:
			t.Fatalf("Send returned before the conversation: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("Send did not say EHLO")
		}
		cancel()
		if err := waitErr(t, done); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrNotSent) {
			t.Fatalf("err = %v, want ErrNotSent and context.Canceled", err)
		}
	})
}

// notifyHandler signals ch when a record with message msg is logged.
type notifyHandler struct {
	slog.Handler
	msg string
	ch  chan struct{}
}

func (notifyHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h notifyHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.ch <- struct{}{}:
		default:
		}
	}
	return h.Handler.Handle(ctx, r)
}

// waitErr waits for Send to return; the bound only turns a hang into a
// failure, it measures nothing.
func waitErr(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after its context was cancelled")
		return nil
	}
}

func TestSMTPRefusesMalformedMessages(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: smtptest.StartTLS})
	s, _ := newSender(t, srv, "starttls", func(c *SMTPConfig) { c.Username, c.Password = "", "" })
	for _, m := range []Message{
		{To: "not an address", Subject: "s", Text: "t"},
		{To: "a@example.com\r\nBcc: b@example.com", Subject: "s", Text: "t"},
		{To: "a@example.com", Subject: "s\r\nBcc: b@example.com", Text: "t"},
		{To: "a@example.com", Subject: "s"},
	} {
		if err := s.Send(t.Context(), m); !errors.Is(err, ErrNotSent) {
			t.Errorf("Send(%q) = %v, want ErrNotSent", m, err)
		}
	}
	if n := srv.Connections(); n != 0 {
		t.Errorf("%d connections, want 0", n)
	}
}

func TestIsTransient(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{errors.New("something odd"), false},
	}
	for _, tt := range tests {
		if got := isTransient(tt.err); got != tt.want {
			t.Errorf("isTransient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
