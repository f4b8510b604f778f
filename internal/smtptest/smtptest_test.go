package smtptest

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// A multipart/alternative message the way mail libraries write it: a
// quoted-printable text part and a base64 HTML part.
const multipartMessage = "From: Acme <no-reply@acme.example>\r\n" +
	"To: ada@example.com\r\n" +
	"Subject: =?UTF-8?q?Your_code:_123456_=E2=9C=93?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/alternative; boundary=\"b1\"\r\n" +
	"\r\n" +
	"--b1\r\n" +
	"Content-Type: text/plain; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Your code is 123456. Caf=C3=A9 =3D ok, and a long line that is wrapped=\r\n" +
	" softly.\r\n" +
	"--b1\r\n" +
	"Content-Type: text/html; charset=UTF-8\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"PHA+WW91ciBjb2RlIGlzIDxiPjEyMzQ1NjwvYj48L3A+\r\n" +
	"--b1--\r\n"

func send(t *testing.T, s *Server, tlsConfig *tls.Config, user, pass, msg string) error {
	t.Helper()
	var c *smtp.Client
	var err error
	if tlsConfig != nil && s.opts.TLS == ImplicitTLS {
		c, err = smtp.DialTLS(s.Addr(), tlsConfig)
	} else if tlsConfig != nil {
		c, err = smtp.DialStartTLS(s.Addr(), tlsConfig)
	} else {
		c, err = smtp.Dial(s.Addr())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if user != "" {
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			return err
		}
	}
	return c.SendMail("no-reply@acme.example", []string{"ada@example.com"}, strings.NewReader(msg))
}

func TestReceivesAndParses(t *testing.T) {
	for _, mode := range []TLSMode{NoTLS, StartTLS, ImplicitTLS} {
		s := Start(t, Options{TLS: mode, Username: "u", Password: "p"})
		var tc *tls.Config
		if mode != NoTLS {
			tc = &tls.Config{RootCAs: s.RootCAs(), ServerName: "127.0.0.1"}
		}
		if err := send(t, s, tc, "u", "p", multipartMessage); err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		m := s.WaitFor(t, 1)[0]
		if m.From != "no-reply@acme.example" || len(m.To) != 1 || m.To[0] != "ada@example.com" {
			t.Errorf("envelope %q -> %q", m.From, m.To)
		}
		if m.Subject != "Your code: 123456 ✓" {
			t.Errorf("Subject = %q", m.Subject)
		}
		if want := "Your code is 123456. Café = ok, and a long line that is wrapped softly."; m.Text != want {
			t.Errorf("Text = %q, want %q", m.Text, want)
		}
		if want := "<p>Your code is <b>123456</b></p>"; m.HTML != want {
			t.Errorf("HTML = %q, want %q", m.HTML, want)
		}
		if !strings.Contains(string(m.Data), "quoted-printable") {
			t.Error("Data is not the raw message")
		}
	}
}

func TestRequiresAuth(t *testing.T) {
	s := Start(t, Options{Username: "u", Password: "p"})
	err := send(t, s, nil, "u", "wrong", multipartMessage)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 535 {
		t.Errorf("wrong password: %v, want 535", err)
	}
	err = send(t, s, nil, "", "", multipartMessage)
	if !errors.As(err, &se) || se.Code != 502 {
		t.Errorf("no auth: %v, want 502", err)
	}
	if n := s.Attempts(); n != 0 {
		t.Errorf("%d attempts, want 0", n)
	}
	if n := s.Connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestFailNext(t *testing.T) {
	s := Start(t, Options{FailNext: 1})
	var se *smtp.SMTPError
	if err := send(t, s, nil, "", "", multipartMessage); !errors.As(err, &se) || se.Code != 451 {
		t.Errorf("first message: %v, want 451", err)
	}
	s.FailNext(1, 550)
	if err := send(t, s, nil, "", "", multipartMessage); !errors.As(err, &se) || se.Code != 550 {
		t.Errorf("second message: %v, want 550", err)
	}
	if err := send(t, s, nil, "", "", multipartMessage); err != nil {
		t.Errorf("third message: %v", err)
	}
	if got := s.WaitFor(t, 1); len(got) != 1 {
		t.Errorf("%d messages kept, want 1", len(got))
	}
	s.WaitForAttempts(t, 3)
}

func TestSinglePartMessage(t *testing.T) {
	s := Start(t, Options{})
	msg := "Subject: plain\r\n\r\nhello\r\nworld\r\n"
	if err := send(t, s, nil, "", "", msg); err != nil {
		t.Fatal(err)
	}
	m := s.WaitFor(t, 1)[0]
	if m.Text != "hello\nworld\n" || m.HTML != "" || m.Subject != "plain" {
		t.Errorf("parsed %+v", m)
	}
}
