package mail

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fixedClock ticks one second per call, so each message has its own time.
func fixedClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Second)
		return t
	}
}

func TestMailboxKeepsTheNewest50(t *testing.T) {
	b := NewMailbox(nil)
	b.Now = fixedClock()
	for i := range 60 {
		if err := b.Send(t.Context(), Message{To: "a@example.com", Subject: fmt.Sprintf("message %d", i), Text: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	got := b.Messages()
	if len(got) != 50 {
		t.Fatalf("%d messages kept, want 50", len(got))
	}
	if got[0].Subject != "message 59" || got[49].Subject != "message 10" {
		t.Errorf("kept %q … %q, want message 59 … message 10", got[0].Subject, got[49].Subject)
	}
	if want := time.Date(2026, 3, 14, 9, 1, 0, 0, time.UTC); !got[0].At.Equal(want) {
		t.Errorf("newest received at %s, want %s", got[0].At, want)
	}
	if !slices.IsSortedFunc(got, func(a, b Received) int { return b.At.Compare(a.At) }) {
		t.Error("messages are not newest first")
	}
}

func TestMailboxLogsRecipientAndText(t *testing.T) {
	log, buf := testLogger()
	b := NewMailbox(log)
	m, err := Render(SignIn, sample())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Send(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=INFO") {
		t.Errorf("want one info line, got:\n%s", out)
	}
	for _, w := range []string{"ada@example.com", "482913"} {
		if !strings.Contains(out, w) {
			t.Errorf("log lacks %q:\n%s", w, out)
		}
	}
}

func TestMailboxRefusesWhatSMTPRefuses(t *testing.T) {
	b := NewMailbox(nil)
	if err := b.Send(t.Context(), Message{To: "nobody", Text: "t"}); !errors.Is(err, ErrNotSent) {
		t.Errorf("err = %v, want ErrNotSent", err)
	}
	if len(b.Messages()) != 0 {
		t.Error("a refused message was kept")
	}
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec
}

func TestMailboxPage(t *testing.T) {
	b := NewMailbox(nil)
	b.Now = fixedClock()
	hostile := Message{
		To:      `"<b>eve"@example.com`, // a quoted local part may hold markup
		Subject: `<img src=x onerror=alert(1)>`,
		Text:    "<script>alert(1)</script>\nVerify: https://id.acme.example/verify?a=1&b=2.\nNot a link: javascript:alert(2)\n",
	}
	if err := b.Send(t.Context(), hostile); err != nil {
		t.Fatal(err)
	}
	rec := get(t, b.Handler(), "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	wantHeaders := map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
		"X-Content-Type-Options":  "nosniff",
	}
	for k, v := range wantHeaders {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	body := rec.Body.String()
	for _, bad := range []string{"<script>alert(1)", "<img src=x", `href="javascript:`, "<b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, w := range []string{
		"&lt;script&gt;alert(1)&lt;/script&gt;",
		"&lt;img src=x onerror=alert(1)&gt;",
		`<a href="https://id.acme.example/verify?a=1&amp;b=2" rel="noreferrer">https://id.acme.example/verify?a=1&amp;b=2</a>.`,
		"&lt;b&gt;eve",
		"2026-03-14 09:00:01 UTC",
		"<pre>",
	} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if n := strings.Count(body, "<a href="); n != 2 { // the message's link and the JSON link
		t.Errorf("%d links on the page, want 2:\n%s", n, body)
	}
}

func TestMailboxJSON(t *testing.T) {
	b := NewMailbox(nil)
	b.Now = fixedClock()
	for _, code := range []string{"111111", "222222"} {
		d := sample()
		d.Code = code
		m, err := Render(VerifyEmail, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Send(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	rec := get(t, b.Handler(), "/?format=json")
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	var got struct {
		Messages []struct {
			To         string    `json:"to"`
			Subject    string    `json:"subject"`
			Text       string    `json:"text"`
			HTML       string    `json:"html"`
			ReceivedAt time.Time `json:"received_at"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Messages) != 2 {
		t.Fatalf("%d messages, want 2", len(got.Messages))
	}
	newest := got.Messages[0]
	if !strings.Contains(newest.Text, "222222") || !strings.Contains(newest.Subject, "222222") || newest.To != "ada@example.com" || newest.HTML == "" {
		t.Errorf("newest message = %+v", newest)
	}
	if !newest.ReceivedAt.Equal(time.Date(2026, 3, 14, 9, 0, 2, 0, time.UTC)) {
		t.Errorf("received_at = %s", newest.ReceivedAt)
	}

	empty := get(t, NewMailbox(nil).Handler(), "/?format=json")
	if s := strings.TrimSpace(empty.Body.String()); s != `{"messages":[]}` {
		t.Errorf("empty mailbox = %s", s)
	}
}

func TestMailboxIsReadOnly(t *testing.T) {
	rec := httptest.NewRecorder()
	NewMailbox(nil).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST answered %d, want 405", rec.Code)
	}
}

func TestMailboxConcurrentUse(t *testing.T) {
	b := NewMailbox(nil)
	h := b.Handler()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				if err := b.Send(t.Context(), Message{To: "a@example.com", Subject: fmt.Sprint(g, i), Text: "t"}); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			for range 5 {
				if rec := get(t, h, "/?format=json"); rec.Code != http.StatusOK {
					t.Errorf("status %d", rec.Code)
				}
			}
		})
	}
	wg.Wait()
	if n := len(b.Messages()); n != 50 {
		t.Errorf("%d messages kept, want 50", n)
	}
}

func TestLinkify(t *testing.T) {
	tests := []struct {
		in   string
		want []segment
	}{
		{"no links", []segment{{Text: "no links"}}},
		{"go to https://a.example/x?y=1.", []segment{{Text: "go to "}, {Text: "https://a.example/x?y=1", Href: "https://a.example/x?y=1"}, {Text: "."}}},
		{"(http://a.example)", []segment{{Text: "("}, {Text: "http://a.example", Href: "http://a.example"}, {Text: ")"}}},
		{"ftp://a.example and javascript:x", []segment{{Text: "ftp://a.example and javascript:x"}}},
		{`https://a.example/"onmouseover="x`, []segment{{Text: "https://a.example/", Href: "https://a.example/"}, {Text: `"onmouseover="x`}}},
		{"https://", []segment{{Text: "https://"}}},
	}
	for _, tt := range tests {
		if got := linkify(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("linkify(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
