package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/xml"
	"html"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/usher-id/usher/federation"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/web"
)

// samlSite is Usher with a SAML connection to crewjam's test IdP, for
// the acme.example domain.
type samlSite struct {
	*site
	idp  *saml.IdentityProvider
	sp   *saml.ServiceProvider // how the IdP knows Usher
	conn *storage.Connection
}

func startSAMLSite(t *testing.T) *samlSite {
	t.Helper()
	s := startFederatedSite(t, nil)

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	idp := &saml.IdentityProvider{Key: key, Certificate: cert,
		MetadataURL:     url.URL{Scheme: "https", Host: "idp.example", Path: "/metadata"},
		SSOURL:          url.URL{Scheme: "https", Host: "idp.example", Path: "/sso"},
		SignatureMethod: dsig.RSASHA256SignatureMethod,
	}
	md, err := xml.Marshal(idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	acs, _ := url.Parse(s.URL + federation.SAMLACSPath)
	sp := &saml.ServiceProvider{EntityID: s.URL + federation.SAMLMetadataPath("acme"), AcsURL: *acs,
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding}}
	idp.ServiceProviderProvider = samlSPs{sp.Metadata()}

	conn := &storage.Connection{Slug: "acme", Type: storage.ConnectionSAML, DisplayName: "Acme SSO", Enabled: true,
		SAMLMetadata: string(md), EmailDomains: []string{"acme.example"}, AllowSignUp: true, TrustEmailVerified: true}
	if err := s.Store.CreateConnection(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	return &samlSite{site: s, idp: idp, sp: sp, conn: conn}
}

type samlSPs struct{ md *saml.EntityDescriptor }

func (p samlSPs) GetServiceProvider(*http.Request, string) (*saml.EntityDescriptor, error) {
	return p.md, nil
}

// toIdP enters the enterprise's address on the sign-in page and returns
// where the browser is sent.
func (f *samlSite) toIdP(t *testing.T, b *browser, email string) string {
	t.Helper()
	b.get("/sign-in")
	st, body := b.post("/sign-in", url.Values{"email": {email}})
	if st != http.StatusSeeOther || !strings.HasPrefix(b.url, "https://idp.example/sso?") {
		t.Fatalf("the identifier step: %d at %s: %s", st, b.url, body)
	}
	q, _ := url.Parse(b.url)
	if !q.Query().Has("SAMLRequest") || q.Query().Get("RelayState") == "" {
		t.Fatalf("the IdP is sent no request or relay state: %s", b.url)
	}
	return b.url
}

// answer plays the IdP for the request in authURL: it signs Ada in and
// returns the form it has the browser post to the ACS.
func (f *samlSite) answer(t *testing.T, authURL string) url.Values {
	t.Helper()
	req, err := saml.NewIdpAuthnRequest(f.idp, httptest.NewRequest(http.MethodGet, authURL, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(req.Request.ID, "id-") {
		t.Fatalf("request ID %q", req.Request.ID)
	}
	session := &saml.Session{ID: "s1", CreateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour), Index: "1",
		NameID: "ada-123", NameIDFormat: string(saml.PersistentNameIDFormat),
		UserEmail: "ada@acme.example", UserGivenName: "Ada", UserSurname: "Lovelace", UserName: "ada"}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		t.Fatal(err)
	}
	form, err := req.PostBinding()
	if err != nil {
		t.Fatal(err)
	}
	if form.URL != f.URL+federation.SAMLACSPath {
		t.Fatalf("the IdP posts to %s", form.URL)
	}
	return url.Values{"SAMLResponse": {form.SAMLResponse}, "RelayState": {form.RelayState}}
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="(SAMLResponse|RelayState)" value="([^"]*)">`)

// acs posts the IdP's answer as the browser does from the IdP's site:
// without the site's cookies. It returns the continue page's form.
func (f *samlSite) acs(t *testing.T, answer url.Values) url.Values {
	t.Helper()
	resp, err := http.PostForm(f.URL+federation.SAMLACSPath, answer)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Continue signing in") ||
		!strings.Contains(body, `action="`+web.PathSAMLFinish+`"`) || strings.Contains(body, "<script") {
		t.Fatalf("ACS: %d: %s", resp.StatusCode, body)
	}
	if len(resp.Cookies()) != 0 {
		t.Errorf("the ACS sets cookies: %v", resp.Cookies())
	}
	got := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(body, -1) {
		got.Set(m[1], html.UnescapeString(m[2]))
	}
	if got.Get("SAMLResponse") != answer.Get("SAMLResponse") || got.Get("RelayState") != answer.Get("RelayState") {
		t.Fatalf("the continue page does not carry the answer: %v", got)
	}
	return got
}

func TestSAMLSignIn(t *testing.T) {
	f := startSAMLSite(t)
	ctx := context.Background()
	b := f.browser(t)
	// An enterprise connection is no button.
	if _, body := b.get("/sign-in"); strings.Contains(body, "Continue with Acme SSO") {
		t.Fatal("a SAML connection is offered as a button")
	}
	answer := f.answer(t, f.toIdP(t, b, "ada@acme.example"))
	cont := f.acs(t, answer)
	st, body := b.post(web.PathSAMLFinish, cont)
	b.want(200, st, body, "Your account", "ada@acme.example")
	if !strings.HasSuffix(b.url, web.PathAccount) {
		t.Fatalf("signed in at %s", b.url)
	}
	u, err := f.Store.GetUserByEmail(ctx, "ada@acme.example")
	if err != nil || !u.PrimaryEmail().Verified || u.PasswordHash != "" || u.FirstName != "Ada" {
		t.Fatalf("created user %+v %v", u, err)
	}
	ext, err := f.Store.GetExternalIdentity(ctx, f.conn.ID, "ada-123")
	if err != nil || ext.UserID != u.ID {
		t.Fatalf("identity %+v %v", ext, err)
	}

	// The same response again: the round is used.
	st, body = b.post(web.PathSAMLFinish, f.acs(t, answer))
	b.want(400, st, body, "already finished")

	// A second sign-in finds the same user.
	b2 := f.browser(t)
	st, body = b2.post(web.PathSAMLFinish, f.acs(t, f.answer(t, f.toIdP(t, b2, "ada@acme.example"))))
	b2.want(200, st, body, "Your account")
	if n, _ := f.Store.CountUsers(ctx); n != 1 {
		t.Fatalf("%d users after two sign-ins", n)
	}
}

func TestSAMLFailuresEndOnAPage(t *testing.T) {
	f := startSAMLSite(t)
	b := f.browser(t)

	// The continue form in another browser.
	cont := f.acs(t, f.answer(t, f.toIdP(t, b, "ada@acme.example")))
	other := f.browser(t)
	st, body := other.post(web.PathSAMLFinish, cont)
	other.want(400, st, body, "another browser")

	// A relay state no round has.
	answer := f.answer(t, f.toIdP(t, b, "ada@acme.example"))
	forged := url.Values{"SAMLResponse": answer["SAMLResponse"], "RelayState": {"forged"}}
	st, body = b.post(web.PathSAMLFinish, forged)
	b.want(400, st, body, "took too long")

	// A tampered response, for a real round.
	tampered := url.Values{"SAMLResponse": {"PHNhbWw+"}, "RelayState": answer["RelayState"]}
	st, body = b.post(web.PathSAMLFinish, tampered)
	b.want(400, st, body, "Acme SSO did not confirm")

	// Answers the ACS refuses.
	for name, form := range map[string]url.Values{
		"no response":    {"RelayState": {"x"}},
		"no relay state": {"SAMLResponse": {"x"}},
		"long relay":     {"SAMLResponse": {"x"}, "RelayState": {strings.Repeat("x", 257)}},
	} {
		resp, err := http.PostForm(f.URL+federation.SAMLACSPath, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: ACS answered %d", name, resp.StatusCode)
		}
	}
	resp, err := http.PostForm(f.URL+federation.SAMLACSPath, url.Values{"SAMLResponse": {strings.Repeat("x", 1<<20)}, "RelayState": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1 MiB answer: ACS answered %d", resp.StatusCode)
	}
	if n, _ := f.Store.CountUsers(context.Background()); n != 0 {
		t.Fatalf("%d users created", n)
	}
}

// Usher's SP metadata for a SAML connection names its entity ID and ACS.
func TestSAMLMetadata(t *testing.T) {
	f := startSAMLSite(t)
	resp, err := http.Get(f.URL + "/sso/saml/" + f.conn.Slug + "/metadata")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `entityID="`+f.URL+"/sso/saml/"+f.conn.Slug+`/metadata"`) ||
		!strings.Contains(string(body), `Location="`+f.URL+"/sso/saml/acs"+`"`) {
		t.Fatalf("metadata: %d %s", resp.StatusCode, body)
	}
	if resp, err := http.Get(f.URL + "/sso/saml/nope/metadata"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("metadata of an unknown connection: %v %v", resp, err)
	}
}

// A SAML sign-in started by an app's authorization request ends at the
// app with a code.
func TestSAMLSignInIntoAnApp(t *testing.T) {
	f := startSAMLSite(t)
	ctx := context.Background()
	const redirect = "https://app.example.com/callback"
	c := &storage.Client{Name: "Acme App", RedirectURIs: []string{redirect}}
	if _, err := f.Clients.Create(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	b := f.browser(t)
	_, body := b.get(f.URL + "/authorize?" + url.Values{"client_id": {c.ID}, "redirect_uri": {redirect}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"s9"}, "code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"}}.Encode())
	ar := regexp.MustCompile(`name="flow" value="([^"]+)"`).FindStringSubmatch(body)[1]
	st, body := b.post("/sign-in", url.Values{"email": {"ada@acme.example"}, "flow": {ar}})
	if st != http.StatusSeeOther || !strings.HasPrefix(b.url, "https://idp.example/sso?") {
		t.Fatalf("the identifier step: %d at %s: %s", st, b.url, body)
	}
	st, _ = b.post(web.PathSAMLFinish, f.acs(t, f.answer(t, b.url)))
	if st != http.StatusFound || !strings.HasPrefix(b.url, redirect) || !strings.Contains(b.url, "state=s9") || !strings.Contains(b.url, "code=") {
		t.Fatalf("the SAML sign-in ended with %d at %s, not at the app", st, b.url)
	}
}
