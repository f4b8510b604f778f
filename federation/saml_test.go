package federation

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/usher-id/usher/storage"
)

const samlCallback = "https://usher.example/sso/callback"

// testIdP is crewjam's IdentityProvider with a fresh self-signed key.
type testIdP struct {
	idp *saml.IdentityProvider
}

var (
	samlKeysOnce sync.Once
	samlKeys     [2]*rsa.PrivateKey
)

func samlKey(t *testing.T, i int) *rsa.PrivateKey {
	t.Helper()
	samlKeysOnce.Do(func() {
		for j := range samlKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			samlKeys[j] = k
		}
	})
	return samlKeys[i]
}

type staticSP struct{ md *saml.EntityDescriptor }

func (s staticSP) GetServiceProvider(*http.Request, string) (*saml.EntityDescriptor, error) {
	return s.md, nil
}

func newTestIdP(t *testing.T, key int) *testIdP {
	t.Helper()
	k := samlKey(t, key)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(key) + 1), Subject: pkix.Name{CommonName: "idp.example"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testIdP{idp: &saml.IdentityProvider{
		Key: k, Certificate: cert,
		MetadataURL:     url.URL{Scheme: "https", Host: "idp.example", Path: "/metadata"},
		SSOURL:          url.URL{Scheme: "https", Host: "idp.example", Path: "/sso"},
		SignatureMethod: dsig.RSASHA256SignatureMethod,
	}}
}

func (p *testIdP) metadata(t *testing.T) string {
	t.Helper()
	b, err := xml.Marshal(p.idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// answer plays the IdP for the browser sent to authURL: it signs Ada in
// and returns the form it posts to the ACS. change, if set, alters the
// assertion before it is signed.
func (p *testIdP) answer(t *testing.T, sp *saml.ServiceProvider, authURL string, change func(*saml.IdpAuthnRequest)) map[string][]string {
	t.Helper()
	p.idp.ServiceProviderProvider = staticSP{md: sp.Metadata()}
	req, err := saml.NewIdpAuthnRequest(p.idp, httptest.NewRequest(http.MethodGet, authURL, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	session := &saml.Session{ID: "s1", CreateTime: time.Now(), ExpireTime: time.Now().Add(time.Hour), Index: "1",
		NameID: "ada-123", NameIDFormat: string(saml.PersistentNameIDFormat),
		UserEmail: "ada@acme.example", UserGivenName: "Ada", UserSurname: "Lovelace", UserName: "ada"}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, session); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(req)
	}
	form, err := req.PostBinding()
	if err != nil {
		t.Fatal(err)
	}
	if form.URL != sp.AcsURL.String() {
		t.Fatalf("the IdP posts to %s, want %s", form.URL, sp.AcsURL.String())
	}
	return map[string][]string{"SAMLResponse": {form.SAMLResponse}, "RelayState": {form.RelayState}}
}

func samlConnection(metadata string) *storage.Connection {
	return &storage.Connection{ID: "conn_saml", Slug: "acme", Type: storage.ConnectionSAML, SAMLMetadata: metadata,
		UpdatedAt: time.Now()}
}

func newSAML(t *testing.T, c *storage.Connection) *samlConnector {
	t.Helper()
	cs := &Connectors{RedirectURI: samlCallback, HTTPClient: &http.Client{Timeout: 5 * time.Second}}
	conn, err := cs.For(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	return conn.(*samlConnector)
}

type mapGuard struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (g *mapGuard) Seen(_ context.Context, id string, until time.Time) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	if _, ok := g.seen[id]; ok {
		return true, nil
	}
	g.seen[id] = until
	return false, nil
}

func TestSAMLServiceProvider(t *testing.T) {
	idp := newTestIdP(t, 0)
	s := newSAML(t, samlConnection(idp.metadata(t)))
	if got, want := s.sp.EntityID, "https://usher.example/sso/saml/acme/metadata"; got != want {
		t.Errorf("entity ID %s, want %s", got, want)
	}
	if got, want := s.sp.AcsURL.String(), "https://usher.example/sso/saml/acs"; got != want {
		t.Errorf("ACS %s, want %s", got, want)
	}
	// An issuer with a path keeps it.
	base, err := samlBase("https://id.example/usher/sso/callback")
	if err != nil || base.String() != "https://id.example/usher" {
		t.Errorf("samlBase = %v, %v", base, err)
	}
}

func TestSAMLAuthURL(t *testing.T) {
	idp := newTestIdP(t, 0)
	s := newSAML(t, samlConnection(idp.metadata(t)))
	r := NewRound()
	authURL, err := s.AuthURL(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "idp.example" || u.Path != "/sso" {
		t.Errorf("auth URL %s is not the IdP's SSO service", authURL)
	}
	if got := u.Query().Get("RelayState"); got != r.State {
		t.Errorf("RelayState %q, want the round's state", got)
	}
	if u.Query().Has("Signature") {
		t.Error("the request is signed; the SP has no key")
	}
	idp.idp.ServiceProviderProvider = staticSP{md: s.sp.Metadata()}
	req, err := saml.NewIdpAuthnRequest(idp.idp, httptest.NewRequest(http.MethodGet, authURL, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := req.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := req.Request.ID, "id-"+r.Nonce; got != want {
		t.Errorf("request ID %q, want %q", got, want)
	}
	if got := req.Request.Issuer.Value; got != s.sp.EntityID {
		t.Errorf("issuer %q, want %q", got, s.sp.EntityID)
	}
}

func TestSAMLFinish(t *testing.T) {
	idp := newTestIdP(t, 0)
	other := newTestIdP(t, 1) // same entity, another key
	// The SP's clock, for the tests that move it.
	later := dsig.NewFakeClockAt(time.Now().Add(time.Hour))

	tests := []struct {
		name   string
		signer *testIdP
		change func(*saml.IdpAuthnRequest)
		form   func(map[string][]string)
		clock  *dsig.Clock
		round  func(Round) Round
		want   error
	}{
		{name: "signed by the IdP", signer: idp},
		{name: "signed by another key", signer: other, want: ErrRefused},
		{name: "another audience", signer: idp, want: ErrRefused, change: func(r *saml.IdpAuthnRequest) {
			r.Assertion.Conditions.AudienceRestrictions = []saml.AudienceRestriction{{Audience: saml.Audience{Value: "https://other.example/metadata"}}}
		}},
		{name: "expired", signer: idp, clock: later, want: ErrRefused},
		{name: "relay state mismatch", signer: idp, want: ErrRefused, form: func(f map[string][]string) {
			f["RelayState"] = []string{"someone-else"}
		}},
		{name: "no relay state", signer: idp, want: ErrRefused, form: func(f map[string][]string) { delete(f, "RelayState") }},
		{name: "another request", signer: idp, want: ErrRefused, round: func(r Round) Round {
			r.Nonce = "another"
			return r
		}},
		{name: "unsigned", signer: idp, want: ErrRefused, form: func(f map[string][]string) {
			f["SAMLResponse"] = []string{stripSignatures(t, f["SAMLResponse"][0])}
		}},
		{name: "no response", signer: idp, want: ErrRefused, form: func(f map[string][]string) { delete(f, "SAMLResponse") }},
		{name: "transient NameID", signer: idp, want: ErrRefused, change: func(r *saml.IdpAuthnRequest) {
			r.Assertion.Subject.NameID.Format = string(saml.TransientNameIDFormat)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSAML(t, samlConnection(idp.metadata(t)))
			r := NewRound()
			authURL, err := s.AuthURL(t.Context(), r)
			if err != nil {
				t.Fatal(err)
			}
			form := tt.signer.answer(t, s.sp, authURL, tt.change)
			if tt.form != nil {
				tt.form(form)
			}
			s.sp.Clock = tt.clock
			if tt.round != nil {
				r = tt.round(r)
			}
			ctx := WithReplayGuard(t.Context(), &mapGuard{})
			id, err := s.Finish(ctx, r, form)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("Finish = %+v, %v; want %v", id, err, tt.want)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Identity{Subject: "ada-123", Email: "ada@acme.example", FirstName: "Ada", LastName: "Lovelace", Username: "ada"}
			if id.Subject != want.Subject || id.Email != want.Email || id.EmailVerified || id.FirstName != want.FirstName ||
				id.LastName != want.LastName || id.Username != want.Username {
				t.Errorf("identity %+v, want %+v", *id, want)
			}
		})
	}
}

func stripSignatures(t *testing.T, encoded string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, sig := range doc.FindElements("//Signature") {
		sig.Parent().RemoveChild(sig)
		n++
	}
	if n == 0 {
		t.Fatal("the response has no signature to strip")
	}
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(out)
}

func TestSAMLReplay(t *testing.T) {
	idp := newTestIdP(t, 0)
	s := newSAML(t, samlConnection(idp.metadata(t)))
	r := NewRound()
	authURL, err := s.AuthURL(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	form := idp.answer(t, s.sp, authURL, nil)
	g := &mapGuard{}
	ctx := WithReplayGuard(t.Context(), g)
	if _, err := s.Finish(ctx, r, form); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Finish(ctx, r, form); !errors.Is(err, ErrRefused) {
		t.Fatalf("replayed assertion: %v, want ErrRefused", err)
	}
	for id, until := range g.seen {
		if !strings.HasPrefix(id, "saml:conn_saml:") || !until.After(time.Now()) {
			t.Errorf("guard holds %s until %v", id, until)
		}
	}
}

type failingGuard struct{}

func (failingGuard) Seen(context.Context, string, time.Time) (bool, error) {
	return false, errors.New("database down")
}

func TestSAMLReplayGuardFailure(t *testing.T) {
	idp := newTestIdP(t, 0)
	s := newSAML(t, samlConnection(idp.metadata(t)))
	r := NewRound()
	authURL, err := s.AuthURL(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	form := idp.answer(t, s.sp, authURL, nil)
	if id, err := s.Finish(WithReplayGuard(t.Context(), failingGuard{}), r, form); err == nil {
		t.Fatalf("Finish = %+v with a failing guard", id)
	}
}

func TestSAMLMetadataURL(t *testing.T) {
	idp := newTestIdP(t, 0)
	md := idp.metadata(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metadata" {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write([]byte(md))
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name, url string
		want      error
	}{
		{"up", srv.URL + "/metadata", nil},
		{"status 503", srv.URL + "/down", ErrUnreachable},
		{"connection refused", closedURL + "/metadata", ErrUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := samlConnection("")
			c.SAMLMetadataURL = tt.url
			cs := &Connectors{RedirectURI: samlCallback, HTTPClient: &http.Client{Timeout: 5 * time.Second}}
			conn, err := cs.For(t.Context(), c)
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("For = %v, want %v", err, tt.want)
				}
				t.Log(err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.AuthURL(t.Context(), NewRound()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSAMLBadMetadata(t *testing.T) {
	for name, md := range map[string]string{
		"not xml":   "hello",
		"no idp":    `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"></EntityDescriptor>`,
		"two idps":  `<EntitiesDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata"><EntityDescriptor entityID="a"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor><EntityDescriptor entityID="b"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor></EntitiesDescriptor>`,
		"no sso":    `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="a"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></EntityDescriptor>`,
		"no source": "",
	} {
		t.Run(name, func(t *testing.T) {
			cs := &Connectors{RedirectURI: samlCallback}
			if _, err := cs.For(t.Context(), samlConnection(md)); err == nil {
				t.Fatal("For accepted bad metadata")
			}
		})
	}
}

func TestSAMLIdentityAttributes(t *testing.T) {
	a := &saml.Assertion{
		Subject: &saml.Subject{NameID: &saml.NameID{Format: string(saml.EmailAddressNameIDFormat), Value: "grace@navy.example"}},
		AttributeStatements: []saml.AttributeStatement{{Attributes: []saml.Attribute{
			{Name: "http://schemas.microsoft.com/identity/claims/displayname", Values: []saml.AttributeValue{{Value: "Grace Hopper"}}},
		}}},
	}
	id, err := samlIdentity(a)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "grace@navy.example" || id.Email != "grace@navy.example" || id.FirstName != "Grace" || id.LastName != "Hopper" {
		t.Errorf("identity %+v", *id)
	}
	a.Subject.NameID.Format = string(saml.TransientNameIDFormat)
	a.AttributeStatements[0].Attributes = append(a.AttributeStatements[0].Attributes, saml.Attribute{
		Name: "urn:oasis:names:tc:SAML:attribute:subject-id", Values: []saml.AttributeValue{{Value: "g123@navy.example"}}},
		saml.Attribute{Name: "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress", Values: []saml.AttributeValue{{Value: "gh@navy.example"}}})
	id, err = samlIdentity(a)
	if err != nil {
		t.Fatal(err)
	}
	if id.Subject != "g123@navy.example" || id.Email != "gh@navy.example" {
		t.Errorf("identity %+v", *id)
	}
}
