package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// The values of SMTPConfig.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS; required, never optional
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS, usually port 465)
	TLSNone     = "none"     // no TLS: only for a relay on the loopback interface
)

const (
	defaultTimeout = 10 * time.Second
	maxAttempts    = 3
)

// SMTPConfig says how to reach the SMTP server that relays Usher's email.
type SMTPConfig struct {
	Host string
	// Port defaults by TLS mode: 587 for starttls, 465 for tls, 25 for none.
	Port     int
	Username string // empty: no SMTP AUTH
	Password string
	// From is the sender, an RFC 5322 address that may carry a display
	// name: "Acme <no-reply@acme.example>".
	From string
	// TLS is "starttls" (the default), "tls" or "none". "none" is refused
	// unless Host is a loopback address, so credentials and codes never
	// cross a network in the clear.
	TLS string
	// Timeout bounds dialling and each SMTP command; default 10s.
	Timeout time.Duration
	// RootCAs verifies the server certificate; nil means the system roots.
	// There is deliberately no switch to skip verification: tests trust
	// their own certificate here instead.
	RootCAs *x509.CertPool
}

// SMTP sends email through an SMTP server with go-mail, one connection per
// message. It is safe for concurrent use.
type SMTP struct {
	host     string
	port     int
	mode     string
	username string
	password string
	from     *netmail.Address
	timeout  time.Duration
	tls      *tls.Config
	log      *slog.Logger
	// backoff[i] is the wait before attempt i+2. A field rather than a
	// constant so tests can stretch it to prove ctx ends the wait.
	backoff []time.Duration
}

// NewSMTP checks cfg and returns a sender. It does not connect: a server
// that is down at start-up must not stop Usher from starting.
func NewSMTP(cfg SMTPConfig, log *slog.Logger) (*SMTP, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(cfg.Host), "["), "]")
	if host == "" {
		return nil, errors.New("mail: smtp host is required")
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return nil, fmt.Errorf("mail: smtp host %q includes a port: set the port on its own", cfg.Host)
	}
	mode := strings.ToLower(strings.TrimSpace(cfg.TLS))
	port := cfg.Port
	switch mode {
	case "", TLSStartTLS:
		mode = TLSStartTLS
		if port == 0 {
			port = 587
		}
	case TLSImplicit:
		if port == 0 {
			port = 465
		}
	case TLSNone:
		if !isLoopback(host) {
			return nil, fmt.Errorf("mail: smtp tls %q is only allowed for a loopback host (localhost, 127.0.0.1, ::1), not %q: use %q or %q",
				TLSNone, host, TLSStartTLS, TLSImplicit)
		}
		if port == 0 {
			port = 25
		}
	default:
		return nil, fmt.Errorf("mail: smtp tls must be %q, %q or %q, not %q", TLSStartTLS, TLSImplicit, TLSNone, cfg.TLS)
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("mail: smtp port %d is out of range 1-65535", port)
	}
	if strings.TrimSpace(cfg.From) == "" {
		return nil, errors.New(`mail: smtp from address is required, e.g. "Acme <no-reply@acme.example>"`)
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp from %q is not an email address: %w", cfg.From, err)
	}
	if cfg.Username != "" && cfg.Password == "" {
		return nil, errors.New("mail: smtp password is required when a username is set")
	}
	if cfg.Username == "" && cfg.Password != "" {
		return nil, errors.New("mail: smtp username is required when a password is set")
	}
	timeout := cfg.Timeout
	if timeout < 0 {
		return nil, fmt.Errorf("mail: smtp timeout %s is negative", timeout)
	}
	if timeout == 0 {
		timeout = defaultTimeout
	}
	return &SMTP{
		host:     host,
		port:     port,
		mode:     mode,
		username: cfg.Username,
		password: cfg.Password,
		from:     from,
		timeout:  timeout,
		tls:      &tls.Config{ServerName: host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		log:      log,
		backoff:  []time.Duration{100 * time.Millisecond, 400 * time.Millisecond},
	}, nil
}

// isLoopback accepts "localhost" and loopback IP literals. Other names are
// not resolved: what a name points to can change after start-up.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers m, trying up to three times when the failure is transient
// (a network error or a 4xx reply) and not at all again after a permanent
// one (5xx, a certificate that does not verify). Every error wraps
// ErrNotSent.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := checkMessage(m)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return &notSentError{attempts: attempt - 1, cause: err}
		}
		msg, err := s.build(to, m)
		if err != nil {
			return &notSentError{attempts: attempt - 1, cause: err}
		}
		err = s.attempt(ctx, msg)
		if err == nil || msg.IsDelivered() {
			// A message the server accepted is sent, even if the QUIT or
			// RSET after it failed: sending it again would duplicate it.
			s.log.DebugContext(ctx, "mail sent", "recipient_domain", domainOf(to.Address), "attempts", attempt)
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return &notSentError{attempts: attempt, cause: fmt.Errorf("%w (last attempt: %w)", ctxErr, err), redact: to.Address}
		}
		transient := isTransient(err)
		s.log.WarnContext(ctx, "mail send attempt failed", "attempt", attempt, "transient", transient,
			"err", redact(err.Error(), to.Address))
		if !transient || attempt == maxAttempts {
			return &notSentError{attempts: attempt, cause: err, redact: to.Address}
		}
		t := time.NewTimer(s.backoff[attempt-1])
		select {
		case <-ctx.Done():
			t.Stop()
			return &notSentError{attempts: attempt, cause: fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err), redact: to.Address}
		case <-t.C:
		}
	}
}

// checkMessage refuses what no retry can fix. Line breaks in the recipient
// or subject are refused rather than cleaned: they would be header
// injection, and they only get there through a bug.
func checkMessage(m Message) (*netmail.Address, error) {
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(m.Subject, "\r\n") {
		return nil, fmt.Errorf("%w: recipient or subject contains a line break", ErrNotSent)
	}
	to, err := netmail.ParseAddress(m.To)
	if err != nil {
		return nil, fmt.Errorf("%w: recipient is not an email address: %w", ErrNotSent, err)
	}
	if m.Text == "" {
		return nil, fmt.Errorf("%w: message has no text body", ErrNotSent)
	}
	return to, nil
}

// build makes a fresh go-mail message per attempt, since go-mail records
// delivery state on it.
func (s *SMTP) build(to *netmail.Address, m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to)
	msg.Subject(m.Subject)
	msg.SetDate()
	id, err := messageID(s.from.Address)
	if err != nil {
		return nil, err
	}
	msg.SetMessageIDWithValue(id)
	// RFC 3834: tells vacation responders and the like not to answer.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID uses the sender's domain rather than this machine's host name,
// which is often an internal container name that spam filters frown on.
func messageID(from string) (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	return fmt.Sprintf("%x@%s", b, domainOf(from)), nil
}

// attempt sends msg over one new connection.
func (s *SMTP) attempt(ctx context.Context, msg *gomail.Msg) error {
	// go-mail honours ctx only while dialling; after that it relies on its
	// per-command timeout. Closing the connection when ctx ends makes a
	// cancelled request stop now rather than up to Timeout later.
	var stop func() bool
	dial := func(dialCtx context.Context, network, _ string) (net.Conn, error) {
		// go-mail's own address is host + ":" + port, which is wrong for
		// an IPv6 literal; JoinHostPort brackets it.
		var d net.Dialer
		conn, err := d.DialContext(dialCtx, network, net.JoinHostPort(s.host, strconv.Itoa(s.port)))
		if err != nil {
			return nil, err
		}
		if s.mode == TLSImplicit {
			tc := tls.Client(conn, s.tls)
			if err := tc.HandshakeContext(dialCtx); err != nil {
				_ = conn.Close()
				return nil, err
			}
			conn = tc
		}
		stop = context.AfterFunc(ctx, func() { _ = conn.Close() })
		return conn, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithDialContextFunc(dial),
		gomail.WithTLSConfig(s.tls),
	}
	switch s.mode {
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case TLSImplicit:
		// The dialler above already speaks TLS; this only stops go-mail
		// from trying STARTTLS on top of it.
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.username != "" {
		mechs := []gomail.SMTPAuthType{gomail.SMTPAuthPlain, gomail.SMTPAuthLogin}
		if s.mode == TLSNone {
			// Allowed only on loopback (NewSMTP checks), where the
			// password never leaves the machine.
			mechs = []gomail.SMTPAuthType{gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc}
		}
		opts = append(opts, gomail.WithOpportunisticSMTPAuth(mechs...),
			gomail.WithUsername(s.username), gomail.WithPassword(s.password))
	}
	client, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if stop != nil {
		stop()
	}
	return err
}

// isTransient says whether trying again may succeed: 4xx replies and broken
// connections yes; 5xx replies, TLS verification failures and anything we
// do not recognise no, so a misconfiguration never turns into a retry storm.
func isTransient(err error) bool {
	var se *gomail.SendError
	if errors.As(err, &se) {
		if code := se.ErrorCode(); code != 0 {
			return code/100 == 4
		}
		if se.IsTemp() {
			return true
		}
		// With no SMTP reply code, these steps failed on the connection.
		switch se.Reason {
		case gomail.ErrConnCheck, gomail.ErrSMTPMailFrom, gomail.ErrSMTPRcptTo, gomail.ErrSMTPData,
			gomail.ErrWriteContent, gomail.ErrSMTPDataClose:
			return true
		}
		return false
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply.Code/100 == 4
	}
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		record    tls.RecordHeaderError
		alert     tls.AlertError
	)
	if errors.As(err, &verify) || errors.As(err, &authority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &record) || errors.As(err, &alert) {
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// notSentError keeps the cause for errors.Is/As while its text leaves out
// the recipient address, which SMTP replies and go-mail errors often quote.
type notSentError struct {
	attempts int
	cause    error
	redact   string
}

func (e *notSentError) Error() string {
	cause := redact(e.cause.Error(), e.redact)
	if e.attempts == 0 {
		return fmt.Sprintf("%s: %s", ErrNotSent, cause)
	}
	return fmt.Sprintf("%s after %d attempt(s): %s", ErrNotSent, e.attempts, cause)
}

func (e *notSentError) Unwrap() []error { return []error{ErrNotSent, e.cause} }

// redact replaces addr in s, ignoring case: servers echo addresses back
// lower-cased.
func redact(s, addr string) string {
	if addr == "" {
		return s
	}
	return regexp.MustCompile(`(?i)`+regexp.QuoteMeta(addr)).ReplaceAllLiteralString(s, "<recipient>")
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}
