package clients

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/usher-id/usher/storage"
)

// Problem is one thing wrong with a client's settings. Field is the
// setting's JSON and CLI name, with an index for list entries:
// redirect_uris[0], grant_types, access_token_ttl_seconds...
type Problem struct {
	Field   string
	Message string
}

// ValidationError lists every problem Validate found.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return strings.Join(parts, "; ")
}

type problems []Problem

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// unsafeSchemes can run code or read local files in the user agent; no
// redirect may use them, whatever the client type.
var unsafeSchemes = []string{"javascript", "data", "file", "vbscript", "about", "blob"}

// Validate checks c's settings and returns a *ValidationError naming every
// problem, or nil. It expects defaults to have been applied.
func Validate(c *storage.Client) error {
	var p problems
	if c.ID != "" && !validID(c.ID) {
		p.add("client_id", "must be 1 to %d letters, digits and . _ ~ -", MaxNameLength)
	}
	switch {
	case strings.TrimSpace(c.Name) == "":
		p.add("name", "is required")
	case !utf8.ValidString(c.Name) || strings.IndexFunc(c.Name, unicode.IsControl) >= 0:
		p.add("name", "must be UTF-8 text without control characters")
	case utf8.RuneCountInString(c.Name) > MaxNameLength:
		p.add("name", "is longer than %d characters", MaxNameLength)
	}
	if !slices.Contains(knownAppTypes, c.ApplicationType) {
		p.add("application_type", "%q is not one of %s", c.ApplicationType, strings.Join(knownAppTypes, ", "))
	}
	if !slices.Contains(knownAuthMethods, c.AuthMethod) {
		p.add("token_endpoint_auth_method", "%q is not one of %s", c.AuthMethod, strings.Join(knownAuthMethods, ", "))
	}
	native := c.ApplicationType == AppNative
	codeGrant := slices.Contains(c.GrantTypes, GrantAuthorizationCode)

	validateList(&p, "grant_types", c.GrantTypes)
	if len(c.GrantTypes) == 0 {
		p.add("grant_types", "at least one grant type is required")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			p.add("grant_types", "%q is not one of %s", g, strings.Join(knownGrants, ", "))
		}
	}
	if c.AuthMethod == AuthNone && slices.Contains(c.GrantTypes, GrantClientCredentials) {
		p.add("grant_types", "client_credentials needs a confidential client; a public client (token_endpoint_auth_method none) cannot have it")
	}
	if slices.Contains(c.GrantTypes, GrantJWTBearer) && len(c.JWKS) == 0 && c.JWKSURI == "" {
		p.add("grant_types", "the JWT bearer grant needs registered keys (jwks or jwks_uri) to verify the client's assertions")
	}

	validateList(&p, "response_types", c.ResponseTypes)
	for _, r := range c.ResponseTypes {
		if r != ResponseTypeCode {
			p.add("response_types", "%q is not supported; the only response type is code", r)
		}
	}
	if codeGrant && !slices.Contains(c.ResponseTypes, ResponseTypeCode) {
		p.add("response_types", "must include code for the authorization_code grant")
	}

	validateList(&p, "redirect_uris", c.RedirectURIs)
	if codeGrant && len(c.RedirectURIs) == 0 {
		p.add("redirect_uris", "at least one is required for the authorization_code grant")
	}
	for i, u := range c.RedirectURIs {
		if msg := checkRedirectURI(u, native); msg != "" {
			p.add(fmt.Sprintf("redirect_uris[%d]", i), "%s", msg)
		}
	}
	validateList(&p, "post_logout_redirect_uris", c.PostLogoutRedirectURIs)
	for i, u := range c.PostLogoutRedirectURIs {
		if msg := checkRedirectURI(u, native); msg != "" {
			p.add(fmt.Sprintf("post_logout_redirect_uris[%d]", i), "%s", msg)
		}
	}

	validateList(&p, "scopes", c.Scopes)
	for _, s := range c.Scopes {
		if !validScope(s) {
			p.add("scopes", "%q is not a scope: use printable ASCII without spaces, quotes or backslashes", s)
		}
	}

	validateList(&p, "cors_origins", c.CORSOrigins)
	for i, o := range c.CORSOrigins {
		if msg := checkOrigin(o); msg != "" {
			p.add(fmt.Sprintf("cors_origins[%d]", i), "%s", msg)
		}
	}

	validateKeys(&p, c)

	if c.AccessTokenFormat != FormatJWT && c.AccessTokenFormat != FormatOpaque {
		p.add("access_token_format", "%q is not jwt or opaque", c.AccessTokenFormat)
	}
	switch {
	case c.AccessTokenTemplate == "":
	case !templateName.MatchString(c.AccessTokenTemplate):
		p.add("access_token_template", "%q is not a template name: 1 to 64 letters, digits and . _ -, starting with a letter or digit", c.AccessTokenTemplate)
	case c.AccessTokenFormat == FormatOpaque:
		p.add("access_token_template", "shapes JWT access tokens only; this client's access tokens are opaque: set access_token_format to jwt or clear the template")
	}
	checkTTL(&p, "access_token_ttl_seconds", c.AccessTokenTTL, MinAccessTokenTTL, MaxAccessTokenTTL)
	checkTTL(&p, "id_token_ttl_seconds", c.IDTokenTTL, MinIDTokenTTL, MaxIDTokenTTL)
	checkTTL(&p, "refresh_token_idle_ttl_seconds", c.RefreshTokenIdleTTL, MinRefreshTokenTTL, MaxRefreshTokenTTL)
	checkTTL(&p, "refresh_token_max_ttl_seconds", c.RefreshTokenMaxTTL, MinRefreshTokenTTL, MaxRefreshTokenTTL)
	if c.RefreshTokenMaxTTL < c.RefreshTokenIdleTTL {
		p.add("refresh_token_max_ttl_seconds", "must not be shorter than refresh_token_idle_ttl_seconds")
	}
	if c.Source != SourceAPI && c.Source != SourceConfig {
		p.add("source", "%q is not api or config", c.Source)
	}
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// validateList reports an overlong list and repeated entries.
func validateList(p *problems, field string, list []string) {
	if len(list) > MaxListLength {
		p.add(field, "has %d entries; at most %d are allowed", len(list), MaxListLength)
	}
	seen := make(map[string]bool, len(list))
	for _, v := range list {
		if seen[v] {
			p.add(field, "%q is listed twice", v)
		}
		seen[v] = true
	}
}

func validID(id string) bool {
	if len(id) > MaxNameLength {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~-", r)) {
			return false
		}
	}
	return true
}

// validScope reports whether s is a scope-token (RFC 6749, section 3.3).
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// isLoopback reports whether host is localhost or a loopback IP literal.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hasSpaceOrControl reports whether s holds whitespace or a control
// character, which no URI may contain unencoded.
func hasSpaceOrControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
	}) >= 0
}

// checkRedirectURI returns what is wrong with a redirect (or post-logout
// redirect) URI, or "". Redirects are matched exactly, so they must be
// absolute, without fragment or wildcard. They use https; plain http only on
// loopback; a native client may also use a private-use scheme in
// reverse-domain form (RFC 8252, section 7.1).
func checkRedirectURI(raw string, native bool) string {
	switch {
	case raw == "":
		return "is empty"
	case len(raw) > MaxURILength:
		return fmt.Sprintf("is longer than %d bytes", MaxURILength)
	case strings.Contains(raw, "*"):
		return fmt.Sprintf("%q contains a wildcard (*); redirect URIs are matched exactly, so list each one", raw)
	case strings.Contains(raw, "#"):
		return fmt.Sprintf("%q has a fragment (#); redirect URIs must not have one", raw)
	case hasSpaceOrControl(raw):
		return fmt.Sprintf("%q contains spaces or control characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%q is not a valid URI", raw)
	}
	if u.Scheme == "" {
		return fmt.Sprintf("%q is not an absolute URI (it has no scheme)", raw)
	}
	if slices.Contains(unsafeSchemes, u.Scheme) {
		return fmt.Sprintf("%q uses the %s: scheme, which is never allowed", raw, u.Scheme)
	}
	if u.User != nil {
		return fmt.Sprintf("%q must not contain a user name or password", raw)
	}
	switch u.Scheme {
	case "https", "http":
		if u.Host == "" || u.Hostname() == "" {
			return fmt.Sprintf("%q has no host", raw)
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			return fmt.Sprintf("%q must use https; plain http is allowed only on loopback (localhost, 127.0.0.1, [::1])", raw)
		}
		return ""
	}
	if !native {
		return fmt.Sprintf("%q uses the custom scheme %s:, which only native clients (application_type native) may use", raw, u.Scheme)
	}
	if !strings.Contains(u.Scheme, ".") {
		return fmt.Sprintf("%q: a custom scheme must be in reverse-domain form, like com.example.app (RFC 8252, section 7.1)", raw)
	}
	if u.Opaque == "" && u.Host == "" && u.Path == "" {
		return fmt.Sprintf("%q has nothing after the scheme", raw)
	}
	return ""
}

// checkOrigin returns what is wrong with a CORS origin, or "". Browsers
// send the Origin header as scheme://host[:port], lowercase, without a
// default port, and it is compared exactly.
func checkOrigin(raw string) string {
	switch {
	case raw == "":
		return "is empty"
	case len(raw) > MaxURILength:
		return fmt.Sprintf("is longer than %d bytes", MaxURILength)
	case strings.Contains(raw, "*"):
		return fmt.Sprintf("%q contains a wildcard (*); list each origin", raw)
	case hasSpaceOrControl(raw):
		return fmt.Sprintf("%q contains spaces or control characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
		u.Opaque != "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return fmt.Sprintf("%q is not an origin: write scheme://host[:port], without path or trailing slash", raw)
	}
	if raw != strings.ToLower(raw) {
		return fmt.Sprintf("%q must be lowercase, as browsers send it", raw)
	}
	if (u.Scheme == "https" && u.Port() == "443") || (u.Scheme == "http" && u.Port() == "80") {
		return fmt.Sprintf("%q names the default port, which browsers leave out; remove it", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Sprintf("%q must use https; plain http is allowed only on loopback", raw)
	}
	return ""
}

// validateKeys checks the client's public keys: private_key_jwt needs them.
func validateKeys(p *problems, c *storage.Client) {
	if c.JWKSURI != "" && len(c.JWKS) > 0 {
		p.add("jwks_uri", "set jwks_uri or jwks, not both")
	}
	if c.AuthMethod == AuthPrivateKeyJWT && c.JWKSURI == "" && len(c.JWKS) == 0 {
		p.add("jwks_uri", "private_key_jwt needs the client's public keys: set jwks_uri or jwks")
	}
	if c.JWKSURI != "" {
		u, err := url.Parse(c.JWKSURI)
		switch {
		case len(c.JWKSURI) > MaxURILength:
			p.add("jwks_uri", "is longer than %d bytes", MaxURILength)
		case err != nil || hasSpaceOrControl(c.JWKSURI) || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Fragment != "" || strings.Contains(c.JWKSURI, "#"):
			p.add("jwks_uri", "%q must be an https URL without fragment", c.JWKSURI)
		}
	}
	if len(c.JWKS) > 0 {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if err := json.Unmarshal(c.JWKS, &set); err != nil || len(set.Keys) == 0 {
			p.add("jwks", "must be a JSON Web Key Set: an object with a non-empty keys array")
		}
	}
}

func checkTTL(p *problems, field string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		p.add(field, "is %d; must be between %d (%s) and %d (%s)",
			int64(d/time.Second), int64(lo/time.Second), human(lo), int64(hi/time.Second), human(hi))
	}
}

// human writes a whole duration in the largest unit that divides it.
func human(d time.Duration) string {
	unit := func(n time.Duration, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", n, name)
	}
	switch {
	case d%(24*time.Hour) == 0:
		return unit(d/(24*time.Hour), "day")
	case d%time.Hour == 0:
		return unit(d/time.Hour, "hour")
	case d%time.Minute == 0:
		return unit(d/time.Minute, "minute")
	}
	return d.String()
}
