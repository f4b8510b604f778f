package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The first-run promise of the hosted pages: with no configuration and no
// mail server, a new user signs up, reads the code on /dev/mail, verifies
// the address and reaches the profile page.
func TestDevelopmentSignUpThroughTheMailbox(t *testing.T) {
	addr := freeAddr(t)
	env := testEnv("USHER_DATABASE_URL="+filepath.Join(t.TempDir(), "usher.db"), "USHER_LISTEN="+addr, "USHER_ISSUER=http://"+addr)
	base, stop := startServe(t, env)
	defer stop()

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	page := func(resp *http.Response, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", resp.Request.URL, resp.StatusCode, b)
		}
		return string(b)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	body := page(c.Get(base + "/sign-up"))
	body = page(c.PostForm(base+"/sign-up", url.Values{"csrf": {csrf.FindStringSubmatch(body)[1]},
		"email": {"new@example.com"}, "password": {"a long new passphrase"}}))
	ch := regexp.MustCompile(`name="ch" value="([^"]+)"`).FindStringSubmatch(body)
	action := regexp.MustCompile(`action="(/verify[^"]*)"`).FindStringSubmatch(body)
	if ch == nil || action == nil {
		t.Fatalf("no code form after sign-up: %s", body)
	}

	var box struct {
		Messages []struct {
			To   string `json:"to"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(page(c.Get(base+"/dev/mail?format=json"))), &box); err != nil || len(box.Messages) != 1 {
		t.Fatalf("mailbox: %v %+v", err, box)
	}
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(box.Messages[0].Text)
	if box.Messages[0].To != "new@example.com" || code == "" {
		t.Fatalf("mailbox message %+v", box.Messages[0])
	}
	if html := page(c.Get(base + "/dev/mail")); !strings.Contains(html, code) {
		t.Fatal("the mailbox page does not show the code")
	}

	body = page(c.PostForm(base+strings.ReplaceAll(action[1], "&amp;", "&"), url.Values{"csrf": {csrf.FindStringSubmatch(body)[1]}, "ch": {ch[1]}, "code": {code}}))
	if !strings.Contains(body, "new@example.com") || !strings.Contains(body, "Verified") {
		t.Fatalf("after verifying: %s", body)
	}
}
