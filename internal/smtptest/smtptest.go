// Package smtptest runs a real SMTP server in the test process, so code that
// sends email is tested over the wire (TLS, AUTH, replies) instead of against
// a fake. It records what it receives, parses the MIME parts the way a mail
// client would, and can be told to fail messages with a chosen SMTP code.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSMode says how the server offers TLS.
type TLSMode int

const (
	// NoTLS serves plain SMTP and does not offer STARTTLS.
	NoTLS TLSMode = iota
	// StartTLS serves plain SMTP and offers STARTTLS.
	StartTLS
	// ImplicitTLS speaks TLS from the first byte, like port 465.
	ImplicitTLS
)

// Options configures a Server. The zero value is a plain server that accepts
// every message without authentication.
type Options struct {
	TLS TLSMode
	// Username and Password, when Username is set, make AUTH PLAIN
	// mandatory before MAIL FROM. Over NoTLS the server allows AUTH without
	// TLS, which is fine on loopback.
	Username string
	Password string
	// FailNext fails the first FailNext messages at the end of DATA with
	// FailCode (451 when zero). Server.FailNext changes it later.
	FailNext int
	FailCode int
}

// waitLimit bounds WaitFor and WaitForAttempts, so a message that never
// comes fails the test instead of hanging it.
const waitLimit = 10 * time.Second

// Message is one message the server accepted.
type Message struct {
	From string   // MAIL FROM
	To   []string // RCPT TO, in order
	Data []byte   // the raw message as received after DATA

	// Parsed from Data: headers, the decoded Subject, and the decoded
	// text/plain and text/html parts (the first of each).
	Header  mail.Header
	Subject string
	Text    string
	HTML    string
	// ParseErr is set when Data is not a message this package can parse;
	// WaitFor reports it as a test error.
	ParseErr error
}

// Server is a running SMTP server on 127.0.0.1. Start returns it; it stops
// when the test ends.
type Server struct {
	opts    Options
	srv     *smtp.Server
	ln      net.Listener
	addr    *net.TCPAddr
	roots   *x509.CertPool
	served  chan struct{} // closed when Serve returns
	session sync.WaitGroup

	mu          sync.Mutex
	messages    []Message
	attempts    int
	connections int
	failNext    int
	failCode    int
	changed     chan struct{} // closed and replaced whenever the counts change
	closed      bool
}

// Start starts a server on 127.0.0.1 with a free port and stops it in
// t.Cleanup. A self-signed certificate for 127.0.0.1 and localhost is made
// at start; RootCAs returns a pool that trusts it.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	cert, roots, err := selfSigned()
	if err != nil {
		t.Fatalf("smtptest: certificate: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{
		opts:     opts,
		ln:       ln,
		addr:     ln.Addr().(*net.TCPAddr),
		roots:    roots,
		served:   make(chan struct{}),
		failNext: opts.FailNext,
		failCode: opts.FailCode,
		changed:  make(chan struct{}),
	}
	tlsConfig := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	var l net.Listener = &countingListener{Listener: ln, s: s}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.ReadTimeout = waitLimit
	srv.WriteTimeout = waitLimit
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0) // connections the client drops are not news
	switch opts.TLS {
	case NoTLS:
		srv.AllowInsecureAuth = true
	case StartTLS:
		srv.TLSConfig = tlsConfig
	case ImplicitTLS:
		srv.TLSConfig = tlsConfig
		l = tls.NewListener(l, tlsConfig)
	default:
		t.Fatalf("smtptest: unknown TLS mode %d", opts.TLS)
	}
	s.srv = srv

	go func() {
		defer close(s.served)
		_ = srv.Serve(l)
	}()
	t.Cleanup(s.Close)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return s.addr.String() }

// Host is the IP address the server listens on, "127.0.0.1".
func (s *Server) Host() string { return s.addr.IP.String() }

// Port is the TCP port the server listens on.
func (s *Server) Port() int { return s.addr.Port }

// RootCAs trusts the server's self-signed certificate.
func (s *Server) RootCAs() *x509.CertPool { return s.roots }

// FailNext makes the next n messages fail at the end of DATA with code
// (451 when zero), replacing any failures still pending.
func (s *Server) FailNext(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext, s.failCode = n, code
}

// Messages returns a copy of the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Attempts counts the messages clients transmitted with DATA, accepted or
// failed on purpose.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Connections counts the TCP connections accepted.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connections
}

// WaitFor waits until at least n messages have been accepted and returns
// them all. It fails the test if they do not come within a generous bound,
// and reports messages that could not be parsed.
func (s *Server) WaitFor(t testing.TB, n int) []Message {
	t.Helper()
	if !s.wait(func() bool { return len(s.messages) >= n }) {
		t.Fatalf("smtptest: waited %s for %d messages, got %d", waitLimit, n, len(s.Messages()))
	}
	msgs := s.Messages()
	for i, m := range msgs {
		if m.ParseErr != nil {
			t.Errorf("smtptest: message %d: %v", i, m.ParseErr)
		}
	}
	return msgs
}

// WaitForAttempts waits until clients have transmitted at least n messages
// (see Attempts).
func (s *Server) WaitForAttempts(t testing.TB, n int) {
	t.Helper()
	if !s.wait(func() bool { return s.attempts >= n }) {
		t.Fatalf("smtptest: waited %s for %d attempts, got %d", waitLimit, n, s.Attempts())
	}
}

// wait blocks until done (called with s.mu held) holds, or waitLimit passes.
func (s *Server) wait(done func() bool) bool {
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		ok, changed := done(), s.changed
		s.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// notify wakes the waiters; s.mu must be held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Close stops the server and waits (bounded) for its connections to end.
// Start registers it with t.Cleanup; calling it again is harmless.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()

	_ = s.srv.Close()
	// go-smtp closes only the listeners Serve has registered; if Serve has
	// not started yet, closing ours is what makes it return.
	_ = s.ln.Close()
	<-s.served
	done := make(chan struct{})
	go func() {
		s.session.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(waitLimit):
	}
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.connections++
		l.s.notify()
		l.s.mu.Unlock()
	}
	return c, err
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	b.s.session.Add(1)
	return &session{s: b.s}, nil
}

// session is one SMTP session; go-smtp calls it from one goroutine.
type session struct {
	s      *Server
	authed bool
	from   string
	to     []string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || ss.s.opts.Username == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if identity != "" && identity != username {
			return smtp.ErrAuthFailed
		}
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := ss.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	defer s.notify()
	if s.failNext > 0 {
		s.failNext--
		code := s.failCode
		if code == 0 {
			code = 451
		}
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "smtptest: failure injected by the test"}
	}
	m := Message{From: ss.from, To: append([]string(nil), ss.to...), Data: raw}
	m.ParseErr = parse(&m)
	s.messages = append(s.messages, m)
	return nil
}

func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error {
	ss.s.session.Done()
	return nil
}

// parse fills the parsed fields of m from m.Data.
func parse(m *Message) error {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		return fmt.Errorf("read message: %w", err)
	}
	m.Header = msg.Header
	var dec mime.WordDecoder
	if m.Subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return fmt.Errorf("subject: %w", err)
	}
	return parsePart(m, msg.Header, msg.Body)
}

// parsePart walks one MIME entity: multiparts recursively, and the first
// text/plain and text/html leaves into m.Text and m.HTML.
func parsePart(m *Message, h map[string][]string, body io.Reader) error {
	get := func(k string) string {
		if v := h[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	ct := get("Content-Type")
	if ct == "" {
		ct = "text/plain; charset=us-ascii"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart leaves quoted-printable alone; decoding happens
			// below, the same way for single-part messages.
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := parsePart(m, p.Header, p); err != nil {
				return err
			}
		}
	}
	if mediaType != "text/plain" && mediaType != "text/html" {
		return nil
	}
	switch cs := strings.ToLower(params["charset"]); cs {
	case "", "utf-8", "us-ascii":
	default:
		return fmt.Errorf("charset %q: only UTF-8 is decoded", cs)
	}
	var r io.Reader = body
	switch cte := strings.ToLower(strings.TrimSpace(get("Content-Transfer-Encoding"))); cte {
	case "", "7bit", "8bit", "binary":
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: body})
	default:
		return fmt.Errorf("transfer encoding %q", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("%s body: %w", mediaType, err)
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	if mediaType == "text/plain" && m.Text == "" {
		m.Text = text
	}
	if mediaType == "text/html" && m.HTML == "" {
		m.HTML = text
	}
	return nil
}

// newlineStripper drops CR and LF, which base64 bodies are wrapped with.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		out := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[out] = c
				out++
			}
		}
		if out > 0 || err != nil {
			return out, err
		}
	}
}

// selfSigned makes a P-256 certificate for 127.0.0.1, ::1 and localhost
// that is its own root.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "smtptest " + strconv.FormatInt(now.UnixNano(), 36)},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
