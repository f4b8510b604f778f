package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/usher-id/usher/storage"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed assets
var assetFiles embed.FS

// view is everything a page template may show.
type view struct {
	Title   string
	Brand   Brand
	CSRF    string
	Error   string
	Notice  string
	Success string
	Request *pendingView // the application the user is signing in to
	Flow    string       // the sign-in flow the page is a step of
	Next    string       // a page of Usher's to return to after signing in

	// Form values shown again after a mistake, and prefills.
	Email, FirstName, LastName, Username, ImageURL string
	Challenge                                      string // challenge ID
	Purpose                                        string
	Token                                          string // link token, on the link confirmation page
	Action                                         string // where a code form posts
	MaskedEmail                                    string
	Elsewhere                                      string // where a link opened in another browser was asked for

	RequireName, RequireUsername, SignUp bool

	// A SAML answer carried to the same-site finish form.
	SAMLResponse, RelayState string

	// Provider pages.
	Redirect, Sig, ClientName, UserCode, Account string
	Scopes                                       []string

	Connections []connectionButton // sign-in buttons, or on the profile, ones to connect
	Identities  []identityView     // the profile's connected accounts

	User     *storage.User
	Sessions []sessionView
	Consents []consentView
}

type pendingView struct {
	ID         string
	ClientName string
	LoginHint  string
}

type sessionView struct {
	ID, Device, IPAddress string
	Location              string // roughly where IPAddress is, "" when unknown
	LastActive, Created   time.Time
	Current               bool
}

type consentView struct {
	ClientID, ClientName string
	Scopes               []string
}

type pageSet struct {
	byName map[string]*template.Template
}

func parsePages(b Brand) (*pageSet, error) {
	funcs := template.FuncMap{
		"t":    t,
		"tf":   tf,
		"when": func(tm time.Time) string { return tm.UTC().Format("2 Jan 2006, 15:04 UTC") },
		"brandColor": func() template.CSS {
			// Validated as #rrggbb by the configuration.
			return template.CSS(b.PrimaryColor)
		},
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	ps := &pageSet{byName: map[string]*template.Template{}}
	for _, n := range names {
		base := strings.TrimSuffix(path.Base(n), ".html")
		if base == "layout" {
			continue
		}
		tpl, err := template.Must(layout.Clone()).ParseFS(templateFiles, n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		ps.byName[base] = tpl
	}
	return ps, nil
}

// securityHeaders go on every page: never cached (pages carry CSRF tokens
// and account data), never framed, no scripts at all.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// No form-action: browsers apply it to the redirects after a form
	// post, which end at the application's redirect URI.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	tpl, ok := h.pages.byName[name]
	if !ok {
		h.opts.Log.Error("no such page template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	v.Brand = h.opts.Brand
	v.SignUp = h.opts.SignUp
	if v.CSRF == "" {
		v.CSRF = h.opts.Sessions.CSRFToken(w, r)
	}
	var buf bytes.Buffer
	if err := tpl.ExecuteTemplate(&buf, "layout", v); err != nil {
		h.opts.Log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// assetHandler serves the embedded stylesheet and images, cacheable for a
// day (their names do not change with their content).
func assetHandler() http.Handler {
	sub, _ := fs.Sub(assetFiles, "assets")
	files := http.StripPrefix("/assets/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// maskEmail shows enough of an address for its owner to recognise it, and
// nothing for what is not an address (it comes from the URL).
func maskEmail(e string) string {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || domain == "" || len(e) > 254 || strings.ContainsAny(e, " <>\"") {
		return t("code.your_address")
	}
	if len(local) <= 2 {
		return local[:1] + "…@" + domain
	}
	return local[:2] + "…@" + domain
}
