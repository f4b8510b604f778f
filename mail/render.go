package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"math"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
)

// Kind is a kind of email Render knows.
type Kind string

const (
	VerifyEmail   Kind = "verify_email"    // Code and/or Link to verify an address
	SignIn        Kind = "sign_in"         // Code and/or Link to sign in
	ResetPassword Kind = "reset_password"  // Code and/or Link to choose a new password
	NewSignIn     Kind = "new_sign_in"     // When, UserAgent, IPAddress; ResetURL if set
	AccountLocked Kind = "account_locked"  // LockedUntil (zero: until an admin unlocks); ResetURL if set
	SignUpAttempt Kind = "sign_up_attempt" // SignInURL; ResetURL if set
)

// Brand is how the emails present the product.
type Brand struct {
	ProductName  string // default "Usher"
	LogoURL      string // absolute http(s) URL of an image; empty: the name is shown
	PrimaryColor string // #rrggbb; default #2563eb
	SupportEmail string // shown in the footer when set
}

// Data fills an email. Which fields a Kind needs is said next to the Kind.
type Data struct {
	To          string
	Code        string
	Link        string
	ExpiresIn   time.Duration // of Code and Link; zero: not mentioned
	UserAgent   string
	IPAddress   string
	When        time.Time
	LockedUntil time.Time // zero: locked until an administrator unlocks
	SignInURL   string
	ResetURL    string
	Brand       Brand
}

const (
	defaultProduct = "Usher"
	defaultColor   = "#2563eb"
)

//go:embed templates
var templateFS embed.FS

// templateOf maps kinds to templates: the three code-or-link emails share
// one layout and differ only in their strings.
var templateOf = map[Kind]string{
	VerifyEmail:   "code",
	SignIn:        "code",
	ResetPassword: "code",
	NewSignIn:     "new_sign_in",
	AccountLocked: "account_locked",
	SignUpAttempt: "sign_up_attempt",
}

var (
	htmlTemplates = map[string]*htmltemplate.Template{}
	textTemplates = map[string]*texttemplate.Template{}
)

func init() {
	for _, name := range templateOf {
		if htmlTemplates[name] != nil {
			continue
		}
		htmlTemplates[name] = htmltemplate.Must(htmltemplate.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
		textTemplates[name] = texttemplate.Must(texttemplate.ParseFS(templateFS, "templates/layout.txt", "templates/"+name+".txt"))
	}
}

// Render builds the email of kind from d: subject, plain text and HTML. It
// checks d first (a missing code, a link that is not http(s), a colour that
// is not #rrggbb) so a bad email is an error here rather than in an inbox.
func Render(kind Kind, d Data) (Message, error) {
	name, ok := templateOf[kind]
	if !ok {
		return Message{}, fmt.Errorf("mail: render: unknown kind %q", kind)
	}
	v, err := newView(kind, d, english)
	if err != nil {
		return Message{}, fmt.Errorf("mail: render %s: %w", kind, err)
	}
	subjectKey := "subject"
	if v.Code != "" && (kind == VerifyEmail || kind == SignIn) {
		subjectKey = "subject_code"
	}
	if v.Subject, err = v.K(subjectKey); err != nil {
		return Message{}, fmt.Errorf("mail: render %s: %w", kind, err)
	}
	var text, html bytes.Buffer
	if err := textTemplates[name].ExecuteTemplate(&text, "layout", v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s text: %w", kind, err)
	}
	if err := htmlTemplates[name].ExecuteTemplate(&html, "layout", v); err != nil {
		return Message{}, fmt.Errorf("mail: render %s html: %w", kind, err)
	}
	return Message{To: v.To, Subject: v.Subject, Text: tidyText(text.String()), HTML: html.String()}, nil
}

// view is what the templates see: Data, checked and cleaned, plus the
// strings and colours derived from it.
type view struct {
	Data
	kind Kind
	lang catalog

	Subject   string
	Product   string
	Support   string
	Logo      string
	Color     string // brand colour, for buttons
	OnColor   string // text on the brand colour
	LinkColor string // brand colour if readable on white, else a safe blue
	Expires   string
	When      string
	Device    string
	Until     string // empty: indefinitely

	fill *strings.Replacer
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

func newView(kind Kind, d Data, lang catalog) (*view, error) {
	v := &view{Data: d, kind: kind, lang: lang}
	b := d.Brand

	// Control characters (line breaks above all) in a name or a code would
	// end up in the Subject header.
	v.Product = clean(b.ProductName)
	if v.Product == "" {
		v.Product = defaultProduct
	}
	v.Code = clean(d.Code)
	v.IPAddress = clean(d.IPAddress)

	to, err := netmail.ParseAddress(d.To)
	if err != nil || strings.ContainsAny(d.To, "\r\n") {
		return nil, fmt.Errorf("recipient %q is not an email address", d.To)
	}
	v.To = to.Address
	if b.SupportEmail != "" {
		a, err := netmail.ParseAddress(b.SupportEmail)
		if err != nil {
			return nil, fmt.Errorf("brand support email %q is not an email address", b.SupportEmail)
		}
		v.Support = a.Address
	}
	v.Color = b.PrimaryColor
	if v.Color == "" {
		v.Color = defaultColor
	}
	if !hexColor.MatchString(v.Color) {
		return nil, fmt.Errorf("brand primary color %q is not #rrggbb", b.PrimaryColor)
	}
	v.Color = strings.ToLower(v.Color)
	v.OnColor, v.LinkColor = "#ffffff", v.Color
	if contrast(v.Color, "#ffffff") < 4.5 {
		v.OnColor, v.LinkColor = "#111827", "#1d4ed8"
	}
	for _, u := range []struct{ name, value string }{
		{"brand logo url", b.LogoURL}, {"link", d.Link}, {"sign-in url", d.SignInURL}, {"reset url", d.ResetURL},
	} {
		if u.value != "" && !isWebURL(u.value) {
			return nil, fmt.Errorf("%s %q is not an absolute http or https URL", u.name, u.value)
		}
	}
	v.Logo = b.LogoURL

	switch kind {
	case VerifyEmail, SignIn, ResetPassword:
		if v.Code == "" && d.Link == "" {
			return nil, errors.New("a code or a link is required")
		}
	case NewSignIn:
		if d.When.IsZero() {
			return nil, errors.New("the time of the sign-in is required")
		}
	case SignUpAttempt:
		if d.SignInURL == "" {
			return nil, errors.New("a sign-in url is required")
		}
	}

	if d.ExpiresIn > 0 {
		if v.Expires, err = v.duration(d.ExpiresIn); err != nil {
			return nil, err
		}
	}
	layout, err := v.lookup("format.datetime")
	if err != nil {
		return nil, err
	}
	if !d.When.IsZero() {
		v.When = d.When.UTC().Format(layout)
	}
	if !d.LockedUntil.IsZero() {
		v.Until = d.LockedUntil.UTC().Format(layout)
	}
	if v.Device, err = v.device(d.UserAgent); err != nil {
		return nil, err
	}

	v.fill = strings.NewReplacer(
		"{product}", v.Product, "{code}", v.Code, "{expires}", v.Expires, "{when}", v.When,
		"{device}", v.Device, "{ip}", v.IPAddress, "{until}", v.Until, "{support}", v.Support, "{to}", v.To,
	)
	return v, nil
}

// T returns the string key in the view's language with its placeholders
// filled. The templates call it; a missing key fails the render.
func (v *view) T(key string) (string, error) {
	s, err := v.lookup(key)
	if err != nil {
		return "", err
	}
	return v.fill.Replace(s), nil
}

// K is T for a key of the view's own kind: K "heading" in a sign-in email
// is T "sign_in.heading".
func (v *view) K(key string) (string, error) { return v.T(string(v.kind) + "." + key) }

func (v *view) lookup(key string) (string, error) {
	s, ok := v.lang[key]
	if !ok {
		return "", fmt.Errorf("no string %q", key)
	}
	return s, nil
}

// ExpiryNote says how long the code and/or link last, or nothing.
func (v *view) ExpiryNote() (string, error) {
	switch {
	case v.Expires == "":
		return "", nil
	case v.Code != "" && v.Link != "":
		return v.T("common.expires_both")
	case v.Code != "":
		return v.T("common.expires_code")
	default:
		return v.T("common.expires_link")
	}
}

// button is what the button partial draws.
type button struct {
	Label, URL, FallbackLabel           string
	Background, Text, Border, LinkColor string
}

// Button is a button in the brand colour labelled with key (of the view's
// kind). Templates follow it with the link in plain text, for clients that
// show no buttons.
func (v *view) Button(key, url string) (button, error) {
	b, err := v.button(key, url)
	b.Background, b.Text, b.Border = v.Color, v.OnColor, v.Color
	return b, err
}

// SecondaryButton is a quieter button for a second action.
func (v *view) SecondaryButton(key, url string) (button, error) {
	b, err := v.button(key, url)
	b.Background, b.Text, b.Border = "#ffffff", "#111827", "#d1d5db"
	return b, err
}

func (v *view) button(key, url string) (button, error) {
	label, err := v.K(key)
	if err != nil {
		return button{}, err
	}
	fallback, err := v.T("common.fallback")
	return button{Label: label, URL: url, FallbackLabel: fallback, LinkColor: v.LinkColor}, err
}

// duration prints d in at most two units: "45 seconds", "10 minutes",
// "1 hour and 30 minutes", "2 days".
func (v *view) duration(d time.Duration) (string, error) {
	unit := func(n int64, name string) (string, error) {
		form := "other"
		if n == 1 {
			form = "one" // English; other languages need their own plural rule
		}
		s, err := v.lookup("unit." + name + "." + form)
		return strings.ReplaceAll(s, "{n}", strconv.FormatInt(n, 10)), err
	}
	pair := func(n1 int64, u1 string, n2 int64, u2 string) (string, error) {
		a, err := unit(n1, u1)
		if err != nil || n2 == 0 {
			return a, err
		}
		b, err := unit(n2, u2)
		if err != nil {
			return "", err
		}
		p, err := v.lookup("unit.pair")
		return strings.NewReplacer("{a}", a, "{b}", b).Replace(p), err
	}
	if d < time.Minute {
		return unit(max(1, int64(d.Round(time.Second)/time.Second)), "second")
	}
	m := int64(d.Round(time.Minute) / time.Minute)
	switch {
	case m < 60:
		return unit(m, "minute")
	case m < 24*60:
		return pair(m/60, "hour", m%60, "minute")
	default:
		return pair(m/(24*60), "day", m%(24*60)/60, "hour")
	}
}

// device summarises a user agent as "Firefox on Windows". One it does not
// recognise is shown as sent, shortened: it is still a clue to its owner.
func (v *view) device(ua string) (string, error) {
	ua = clean(ua)
	if ua == "" {
		return v.lookup("device.unknown")
	}
	browser, os := browserOf(ua), osOf(ua)
	if browser == "" || os == "" {
		if r := []rune(ua); len(r) > 120 {
			ua = string(r[:120]) + "…"
		}
		return ua, nil
	}
	s, err := v.lookup("device.browser_on_os")
	return strings.NewReplacer("{browser}", browser, "{os}", os).Replace(s), err
}

func browserOf(ua string) string {
	switch {
	case strings.Contains(ua, "Edg/") || strings.Contains(ua, "EdgA/") || strings.Contains(ua, "EdgiOS/"):
		return "Edge"
	case strings.Contains(ua, "OPR/"):
		return "Opera"
	case strings.Contains(ua, "Firefox/") || strings.Contains(ua, "FxiOS/"):
		return "Firefox"
	case strings.Contains(ua, "Chrome/") || strings.Contains(ua, "CriOS/"):
		return "Chrome"
	case strings.Contains(ua, "Safari/"):
		return "Safari"
	}
	return ""
}

func osOf(ua string) string {
	switch {
	case strings.Contains(ua, "iPhone") || strings.Contains(ua, "iPad"):
		return "iOS"
	case strings.Contains(ua, "Android"):
		return "Android"
	case strings.Contains(ua, "CrOS"):
		return "ChromeOS"
	case strings.Contains(ua, "Mac OS X") || strings.Contains(ua, "Macintosh"):
		return "macOS"
	case strings.Contains(ua, "Windows"):
		return "Windows"
	case strings.Contains(ua, "Linux"):
		return "Linux"
	}
	return ""
}

// clean drops control characters and surrounding space.
func clean(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s))
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// contrast is the WCAG contrast ratio of two #rrggbb colours.
func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(hex string) float64 {
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		n, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(n) / 255
		if c <= 0.03928 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

// tidyText lets the text templates be written for legibility: it drops
// trailing spaces, keeps at most one blank line in a row, and ends the text
// with one newline.
func tidyText(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var out []string
	blank := true // drops leading blank lines too
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			if blank {
				continue
			}
			blank = true
		} else {
			blank = false
		}
		out = append(out, l)
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n") + "\n"
}
