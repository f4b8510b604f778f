// Package mail sends Usher's transactional email: verification and sign-in
// codes, password resets, new sign-in notices, lockouts. It renders each kind
// of email from embedded templates (HTML and plain text), and delivers it
// either over SMTP (SMTP, for production) or into an in-memory Mailbox that a
// developer reads in the log or on a page (for development, when no SMTP
// server is configured).
package mail

import (
	"context"
	"errors"
)

// ErrNotSent is wrapped by every error a Sender returns: the caller can tell
// the user "we could not send the email" without knowing why. The wrapped
// cause (SMTP reply, network error, context error) is for the operator.
var ErrNotSent = errors.New("mail: not sent")

// Message is one email to one recipient. Text is required; HTML, when set,
// is sent as the alternative a mail client prefers to show.
type Message struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
}

// Sender delivers a Message. Implementations are safe for concurrent use.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

var (
	_ Sender = (*SMTP)(nil)
	_ Sender = (*Mailbox)(nil)
)
