package mail

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// mailboxSize is how many messages a Mailbox keeps; older ones are dropped.
const mailboxSize = 50

// Received is a message as the Mailbox got it.
type Received struct {
	Message
	At time.Time `json:"received_at"`
}

// Mailbox is the development Sender, used only when no SMTP server is
// configured. It delivers nothing: it keeps the last 50 messages in memory
// and writes each one, plain-text body included, to the log at info level,
// because in development the log is how a user on a laptop reads the code
// they were sent. Those bodies hold sign-in codes and reset links, so a
// Mailbox must never stand in for SMTP in production.
//
// It is safe for concurrent use.
type Mailbox struct {
	log *slog.Logger
	// Now stamps received messages; nil means time.Now. Set it before use.
	Now func() time.Time

	mu   sync.Mutex
	msgs []Received // oldest first, at most mailboxSize
}

// NewMailbox returns an empty Mailbox that logs to log.
func NewMailbox(log *slog.Logger) *Mailbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Mailbox{log: log}
}

// Send keeps m and logs it. It refuses the same malformed messages SMTP
// does, so a bug shows in development rather than in production.
func (b *Mailbox) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return &notSentError{cause: err}
	}
	if _, err := checkMessage(m); err != nil {
		return err
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	b.mu.Lock()
	b.msgs = append(b.msgs, Received{Message: m, At: now().UTC()})
	if n := len(b.msgs); n > mailboxSize {
		b.msgs = append([]Received(nil), b.msgs[n-mailboxSize:]...)
	}
	b.mu.Unlock()
	// Deliberately logs the body: see the Mailbox doc comment.
	b.log.InfoContext(ctx, "development mailbox: email not sent, shown here instead", "to", m.To, "text", m.Text)
	return nil
}

// Messages returns the kept messages, newest first.
func (b *Mailbox) Messages() []Received {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Received, len(b.msgs))
	for i, m := range b.msgs {
		out[len(b.msgs)-1-i] = m
	}
	return out
}

//go:embed mailbox.html
var mailboxPage string

var mailboxTmpl = template.Must(template.New("mailbox").Parse(mailboxPage))

// Handler serves the kept messages as a read-only page, or as JSON with
// ?format=json (scripts and end-to-end tests read codes from it). Mount it
// only in development, like the Mailbox itself.
func (b *Mailbox) Handler() http.Handler {
	return http.HandlerFunc(b.serve)
}

func (b *Mailbox) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	msgs := b.Messages()

	var buf bytes.Buffer
	if r.URL.Query().Get("format") == "json" {
		h.Set("Content-Type", "application/json; charset=utf-8")
		if err := json.NewEncoder(&buf).Encode(struct {
			Messages []Received `json:"messages"`
		}{msgs}); err != nil {
			b.log.ErrorContext(r.Context(), "development mailbox: encoding json", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		_, _ = buf.WriteTo(w)
		return
	}

	type item struct {
		Subject, To, At string
		Body            []segment
	}
	items := make([]item, len(msgs))
	for i, m := range msgs {
		items[i] = item{Subject: m.Subject, To: m.To, At: m.At.Format("2006-01-02 15:04:05 UTC"), Body: linkify(m.Text)}
	}
	if err := mailboxTmpl.Execute(&buf, struct {
		Items []item
		Max   int
	}{items, mailboxSize}); err != nil {
		b.log.ErrorContext(r.Context(), "development mailbox: rendering page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}

// segment is a run of body text; Href is set when the run is a link.
type segment struct {
	Text string
	Href string
}

// linkCandidate finds things that look like web links. Quotes and angle
// brackets end a link so one never swallows surrounding markup-like text.
var linkCandidate = regexp.MustCompile(`(?i)\bhttps?://[^\s<>"']+`)

// linkify splits text into plain runs and http(s) links. The template
// escapes every run; only links that parse as absolute http or https URLs
// become anchors.
func linkify(text string) []segment {
	var out []segment
	rest := text
	for {
		loc := linkCandidate.FindStringIndex(rest)
		if loc == nil {
			break
		}
		// Sentence punctuation after a link is not part of it.
		link := strings.TrimRight(rest[loc[0]:loc[1]], ".,;:!?)]}")
		if loc[0] > 0 {
			out = append(out, segment{Text: rest[:loc[0]]})
		}
		if u, err := url.Parse(link); err == nil && u.Host != "" && (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")) {
			out = append(out, segment{Text: link, Href: u.String()})
		} else {
			out = append(out, segment{Text: link})
		}
		rest = rest[loc[0]+len(link):]
	}
	if rest != "" {
		out = append(out, segment{Text: rest})
	}
	return out
}
