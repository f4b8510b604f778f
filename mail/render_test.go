package mail

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// sample is a full Data; each test case changes what it needs.
func sample() Data {
	return Data{
		To:          "ada@example.com",
		Code:        "482913",
		Link:        "https://id.acme.example/verify?token=abc123",
		ExpiresIn:   10 * time.Minute,
		UserAgent:   "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
		IPAddress:   "203.0.113.7",
		When:        time.Date(2026, 3, 14, 9, 26, 0, 0, time.UTC),
		LockedUntil: time.Date(2026, 3, 14, 10, 26, 0, 0, time.UTC),
		SignInURL:   "https://id.acme.example/sign-in",
		ResetURL:    "https://id.acme.example/reset-password",
		Brand: Brand{
			ProductName:  "Acme",
			LogoURL:      "https://acme.example/logo.png",
			PrimaryColor: "#0F766E",
			SupportEmail: "help@acme.example",
		},
	}
}

var allKinds = []Kind{VerifyEmail, SignIn, ResetPassword, NewSignIn, AccountLocked, SignUpAttempt}

// TestRenderGolden keeps one rendering of each kind under testdata/ so a
// change to the emails shows up in review as a diff. Run with -update after
// a deliberate change.
func TestRenderGolden(t *testing.T) {
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			m, err := Render(kind, sample())
			if err != nil {
				t.Fatal(err)
			}
			got := "Subject: " + m.Subject + "\n\n" + m.Text
			golden(t, filepath.Join("testdata", string(kind)+".txt"), got)
			golden(t, filepath.Join("testdata", string(kind)+".html"), m.HTML)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./mail -run TestRenderGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendering; if the change is deliberate, run with -update.\ngot:\n%s", path, got)
	}
}

var leftover = regexp.MustCompile(`\{[a-z_]+\}|ZgotmplZ|<no value>`)

// TestRenderContent checks what matters in each kind, in both parts: the
// code, the links, the brand; and that no placeholder or template failure
// marker is left behind.
func TestRenderContent(t *testing.T) {
	d := sample()
	tests := []struct {
		kind        Kind
		want        []string // in text and HTML
		subject     string
		notInSubj   string
		wantHTMLish []string // in HTML only
	}{
		{VerifyEmail, []string{"482913", d.Link, "10 minutes"}, "Your Acme verification code: 482913", "", []string{"letter-spacing:8px", "background-color:#0f766e"}},
		{SignIn, []string{"482913", d.Link, "If you did not try to sign in, ignore this email"}, "Your Acme sign-in code: 482913", "", []string{"letter-spacing:8px"}},
		{ResetPassword, []string{"482913", d.Link, "10 minutes"}, "Reset your Acme password", "482913", []string{"letter-spacing:8px"}},
		{NewSignIn, []string{"Saturday 14 March 2026, 09:26 UTC", "Chrome on macOS", "203.0.113.7", d.ResetURL, "If this was not you, reset your password"}, "New sign-in to your Acme account", "", nil},
		{AccountLocked, []string{"Saturday 14 March 2026, 10:26 UTC", "help@acme.example"}, "Your Acme account is locked", "", nil},
		{SignUpAttempt, []string{d.SignInURL, d.ResetURL, "Sign in instead"}, "Someone tried to sign up to Acme with your email address", "", nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			m, err := Render(tt.kind, d)
			if err != nil {
				t.Fatal(err)
			}
			if m.To != d.To {
				t.Errorf("To = %q, want %q", m.To, d.To)
			}
			if m.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", m.Subject, tt.subject)
			}
			if tt.notInSubj != "" && strings.Contains(m.Subject, tt.notInSubj) {
				t.Errorf("Subject %q contains %q", m.Subject, tt.notInSubj)
			}
			for _, part := range []struct{ name, body string }{{"text", m.Text}, {"html", m.HTML}} {
				for _, w := range append(tt.want, "Acme", "ada@example.com") {
					if !strings.Contains(part.body, w) {
						t.Errorf("%s part lacks %q", part.name, w)
					}
				}
				if l := leftover.FindString(part.body); l != "" {
					t.Errorf("%s part has %q left in it", part.name, l)
				}
			}
			for _, w := range append(tt.wantHTMLish, `src="https://acme.example/logo.png"`, "<!DOCTYPE html>") {
				if !strings.Contains(m.HTML, w) {
					t.Errorf("html part lacks %q", w)
				}
			}
			if strings.Contains(m.HTML, "<style") {
				t.Error("html part has a <style> element; email clients drop them, use inline styles")
			}
			if strings.Contains(m.Text, "<") {
				t.Errorf("text part has markup:\n%s", m.Text)
			}
		})
	}
}

// TestRenderEscapesBrand renders every kind with a hostile product name and
// user agent: HTML must escape them, and the subject must stay one line.
func TestRenderEscapesBrand(t *testing.T) {
	d := sample()
	d.Brand.ProductName = "<script>alert(1)</script>\r\nBcc: x@evil.example"
	d.Brand.LogoURL = ""
	d.UserAgent = `"><img src=x onerror=alert(2)>`
	for _, kind := range allKinds {
		t.Run(string(kind), func(t *testing.T) {
			m, err := Render(kind, d)
			if err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"<script>", "<img src=x"} {
				if strings.Contains(m.HTML, bad) {
					t.Errorf("html part contains %q unescaped", bad)
				}
			}
			if !strings.Contains(m.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;") {
				t.Error("html part does not show the product name escaped")
			}
			if strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("subject %q has a line break", m.Subject)
			}
			if !strings.Contains(m.Text, "<script>alert(1)</script>") {
				t.Error("text part should show the product name as it is")
			}
		})
	}
}

func TestRenderOptionalParts(t *testing.T) {
	t.Run("link only", func(t *testing.T) {
		d := sample()
		d.Code = ""
		m, err := Render(SignIn, d)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "Sign in to Acme" {
			t.Errorf("Subject = %q", m.Subject)
		}
		if !strings.Contains(m.Text, "The link expires in 10 minutes.") {
			t.Errorf("text lacks the link expiry:\n%s", m.Text)
		}
	})
	t.Run("code only", func(t *testing.T) {
		d := sample()
		d.Link = ""
		m, err := Render(VerifyEmail, d)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.HTML, "<a href") && strings.Contains(m.HTML, "Verify email address</a>") {
			t.Error("html has a button without a link")
		}
		if !strings.Contains(m.Text, "The code expires in 10 minutes.") {
			t.Errorf("text lacks the code expiry:\n%s", m.Text)
		}
	})
	t.Run("locked indefinitely, no support address", func(t *testing.T) {
		d := sample()
		d.LockedUntil = time.Time{}
		d.Brand.SupportEmail = ""
		d.ResetURL = ""
		m, err := Render(AccountLocked, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []string{"until an administrator unlocks it", "contact the administrator of Acme"} {
			if !strings.Contains(m.Text, w) || !strings.Contains(m.HTML, w) {
				t.Errorf("missing %q", w)
			}
		}
	})
	t.Run("defaults", func(t *testing.T) {
		m, err := Render(VerifyEmail, Data{To: "a@example.com", Code: "1"})
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != "Your Usher verification code: 1" {
			t.Errorf("Subject = %q", m.Subject)
		}
		if !strings.Contains(m.HTML, defaultColor) {
			t.Error("html lacks the default colour")
		}
	})
	t.Run("light brand colour gets dark button text", func(t *testing.T) {
		d := sample()
		d.Brand.PrimaryColor = "#fde047"
		m, err := Render(SignIn, d)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.HTML, "color:#111827;text-decoration:none") {
			t.Error("button text is not dark on a light brand colour")
		}
	})
}

func TestRenderRejects(t *testing.T) {
	tests := []struct {
		name   string
		kind   Kind
		change func(*Data)
	}{
		{"unknown kind", Kind("nope"), func(*Data) {}},
		{"no recipient", VerifyEmail, func(d *Data) { d.To = "" }},
		{"recipient with a line break", VerifyEmail, func(d *Data) { d.To = "a@example.com\r\nBcc: b@example.com" }},
		{"neither code nor link", SignIn, func(d *Data) { d.Code, d.Link = "", "" }},
		{"javascript link", ResetPassword, func(d *Data) { d.Link = "javascript:alert(1)" }},
		{"relative link", VerifyEmail, func(d *Data) { d.Link = "/verify" }},
		{"bad colour", VerifyEmail, func(d *Data) { d.Brand.PrimaryColor = "red;background:url(x)" }},
		{"bad logo", VerifyEmail, func(d *Data) { d.Brand.LogoURL = "data:image/png;base64,AAAA" }},
		{"bad support email", VerifyEmail, func(d *Data) { d.Brand.SupportEmail = "not an address" }},
		{"sign-in without time", NewSignIn, func(d *Data) { d.When = time.Time{} }},
		{"sign-up attempt without sign-in url", SignUpAttempt, func(d *Data) { d.SignInURL = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sample()
			tt.change(&d)
			if m, err := Render(tt.kind, d); err == nil {
				t.Errorf("Render succeeded: %+v", m)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	v := &view{lang: english}
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "30 seconds"},
		{time.Second, "1 second"},
		{time.Minute, "1 minute"},
		{10 * time.Minute, "10 minutes"},
		{10*time.Minute + 20*time.Second, "10 minutes"},
		{time.Hour, "1 hour"},
		{90 * time.Minute, "1 hour and 30 minutes"},
		{24 * time.Hour, "1 day"},
		{50 * time.Hour, "2 days and 2 hours"},
	}
	for _, tt := range tests {
		got, err := v.duration(tt.d)
		if err != nil || got != tt.want {
			t.Errorf("duration(%s) = %q, %v; want %q", tt.d, got, err, tt.want)
		}
	}
}

func TestDevice(t *testing.T) {
	v := &view{lang: english}
	tests := []struct{ ua, want string }{
		{"", "Unknown device"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Windows"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge on Windows"},
		{"curl/8.8.0", "curl/8.8.0"},
	}
	for _, tt := range tests {
		got, err := v.device(tt.ua)
		if err != nil || got != tt.want {
			t.Errorf("device(%q) = %q, %v; want %q", tt.ua, got, err, tt.want)
		}
	}
}

// TestCatalogKeysUsed keeps the string table tidy: every key is used by a
// template or by the code, so a translator never translates dead text.
func TestCatalogKeysUsed(t *testing.T) {
	var sources strings.Builder
	for _, dir := range []string{"templates", "."} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || strings.HasSuffix(e.Name(), "_test.go") || e.Name() == "strings_en.go" {
				continue
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			sources.Write(b)
		}
	}
	src := sources.String()
	for key := range english {
		// Kind-relative keys appear as K "part"; unit keys are built.
		_, part, _ := strings.Cut(key, ".")
		if strings.HasPrefix(key, "unit.") || strings.Contains(src, `"`+key+`"`) || strings.Contains(src, `K "`+part+`"`) || strings.Contains(src, `Button "`+part+`"`) {
			continue
		}
		if strings.HasSuffix(key, ".subject") || strings.HasSuffix(key, ".subject_code") {
			continue // chosen in Render
		}
		t.Errorf("string %q is not used", key)
	}
}
