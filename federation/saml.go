package federation

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"

	"github.com/usher-id/usher/storage"
)

// maxMetadataBytes bounds a SAML IdP's metadata document fetched from its
// metadata URL.
const maxMetadataBytes = 4 << 20

// ReplayGuard remembers the IDs of accepted SAML assertions, so that each
// is accepted once. Seen records id until the time given and reports
// whether it was already recorded; it must be atomic and, in production,
// shared by every replica (a database table).
type ReplayGuard interface {
	Seen(ctx context.Context, id string, until time.Time) (bool, error)
}

type replayGuardKey struct{}

// WithReplayGuard returns a context whose SAML sign-ins (Finish) refuse an
// assertion g has already seen. Without one, assertions are not checked
// for replay beyond the single-use round (InResponseTo) and their expiry.
func WithReplayGuard(ctx context.Context, g ReplayGuard) context.Context {
	return context.WithValue(ctx, replayGuardKey{}, g)
}

func replayGuard(ctx context.Context) ReplayGuard {
	g, _ := ctx.Value(replayGuardKey{}).(ReplayGuard)
	return g
}

// SAMLACSPath, under the issuer, is the one assertion consumer service of
// every SAML connection: the IdP posts SAMLResponse and RelayState there.
const SAMLACSPath = "/sso/saml/acs"

// SAMLMetadataPath is the path of the SP metadata (and entity ID) of the
// connection with the slug.
func SAMLMetadataPath(slug string) string {
	return "/sso/saml/" + url.PathEscape(slug) + "/metadata"
}

// samlConnector is a SAML 2.0 IdP, through crewjam's service provider: it
// sends an unsigned AuthnRequest with the HTTP-Redirect binding and accepts
// only a Response posted to the ACS whose Response or assertion is signed
// by a key in the IdP's metadata, for this SP's audience, in time, and in
// response to the round's request.
type samlConnector struct {
	connID string
	sp     *saml.ServiceProvider
}

// samlRequestID is the AuthnRequest ID for the round: xs:ID values must
// start with a letter, the nonce may not.
func samlRequestID(r Round) string {
	return "id-" + r.Nonce
}

func (cs *Connectors) saml(ctx context.Context, c *storage.Connection) (Connector, error) {
	base, err := samlBase(cs.RedirectURI)
	if err != nil {
		return nil, err
	}
	var raw []byte
	switch {
	case strings.TrimSpace(c.SAMLMetadata) != "":
		raw = []byte(c.SAMLMetadata)
	case c.SAMLMetadataURL != "":
		raw, err = fetchMetadata(ctx, cs.httpClient(), c.SAMLMetadataURL)
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("federation: saml connection %s has no metadata", c.Slug)
	}
	idp, err := parseIDPMetadata(raw)
	if err != nil {
		return nil, fmt.Errorf("federation: saml connection %s: metadata: %w", c.Slug, err)
	}
	return newSAMLConnector(base, c, idp)
}

func newSAMLConnector(base *url.URL, c *storage.Connection, idp *saml.EntityDescriptor) (*samlConnector, error) {
	metadataURL := *base
	metadataURL.Path = strings.TrimSuffix(base.Path, "/") + SAMLMetadataPath(c.Slug)
	acsURL := *base
	acsURL.Path = strings.TrimSuffix(base.Path, "/") + SAMLACSPath
	sp := &saml.ServiceProvider{
		EntityID:                         metadataURL.String(),
		MetadataURL:                      metadataURL,
		AcsURL:                           acsURL,
		IDPMetadata:                      idp,
		AuthnNameIDFormat:                saml.UnspecifiedNameIDFormat,
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		RejectSHA1Signatures:             true,
	}
	if sp.GetSSOBindingLocation(saml.HTTPRedirectBinding) == "" {
		return nil, fmt.Errorf("federation: saml connection %s: the IdP has no HTTP-Redirect single sign-on service", c.Slug)
	}
	return &samlConnector{connID: c.ID, sp: sp}, nil
}

// samlBase is Usher's issuer, from the OpenID Connect callback
// <issuer>/sso/callback (or its origin, for any other callback).
func samlBase(redirectURI string) (*url.URL, error) {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("federation: saml: redirect URI %q is not an absolute URL", redirectURI)
	}
	base := &url.URL{Scheme: u.Scheme, Host: u.Host}
	if p, ok := strings.CutSuffix(u.Path, "/sso/callback"); ok {
		base.Path = p
	}
	return base, nil
}

func fetchMetadata(ctx context.Context, client *http.Client, metadataURL string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metadataURL, nil)
	if err != nil {
		return nil, fmt.Errorf("federation: saml metadata url %q: %w", metadataURL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: saml metadata at %s: %v", ErrUnreachable, metadataURL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: saml metadata at %s: status %d", ErrUnreachable, metadataURL, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadataBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: saml metadata at %s: %v", ErrUnreachable, metadataURL, err)
	}
	if len(b) > maxMetadataBytes {
		return nil, fmt.Errorf("federation: saml metadata at %s is larger than %d bytes", metadataURL, maxMetadataBytes)
	}
	return b, nil
}

// parseIDPMetadata reads an EntityDescriptor, or an EntitiesDescriptor
// holding exactly one IdP.
func parseIDPMetadata(raw []byte) (*saml.EntityDescriptor, error) {
	var root struct{ XMLName xml.Name }
	if err := xml.Unmarshal(raw, &root); err != nil {
		return nil, err
	}
	var found []*saml.EntityDescriptor
	switch root.XMLName.Local {
	case "EntityDescriptor":
		var e saml.EntityDescriptor
		if err := xml.Unmarshal(raw, &e); err != nil {
			return nil, err
		}
		found = append(found, &e)
	case "EntitiesDescriptor":
		var es saml.EntitiesDescriptor
		if err := xml.Unmarshal(raw, &es); err != nil {
			return nil, err
		}
		found = idpEntities(&es, found)
	default:
		return nil, fmt.Errorf("unexpected root element %q", root.XMLName.Local)
	}
	var idps []*saml.EntityDescriptor
	for _, e := range found {
		if len(e.IDPSSODescriptors) > 0 {
			idps = append(idps, e)
		}
	}
	if len(idps) != 1 {
		return nil, fmt.Errorf("want one identity provider, found %d", len(idps))
	}
	return idps[0], nil
}

func idpEntities(es *saml.EntitiesDescriptor, into []*saml.EntityDescriptor) []*saml.EntityDescriptor {
	for i := range es.EntityDescriptors {
		into = append(into, &es.EntityDescriptors[i])
	}
	for i := range es.EntitiesDescriptors {
		into = idpEntities(&es.EntitiesDescriptors[i], into)
	}
	return into
}

func (s *samlConnector) AuthURL(_ context.Context, r Round) (string, error) {
	if r.Nonce == "" || r.State == "" {
		return "", errors.New("federation: saml: the round has no state or nonce")
	}
	req, err := s.sp.MakeAuthenticationRequest(s.sp.GetSSOBindingLocation(saml.HTTPRedirectBinding),
		saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return "", fmt.Errorf("federation: saml authn request: %w", err)
	}
	req.ID = samlRequestID(r)
	u, err := req.Redirect(r.State, s.sp)
	if err != nil {
		return "", fmt.Errorf("federation: saml authn request: %w", err)
	}
	return u.String(), nil
}

// Finish takes the form the IdP posted to the ACS (SAMLResponse and
// RelayState) for the round r.
func (s *samlConnector) Finish(ctx context.Context, r Round, form map[string][]string) (*Identity, error) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if r.State == "" || subtle.ConstantTimeCompare([]byte(get("RelayState")), []byte(r.State)) != 1 {
		return nil, fmt.Errorf("%w: the relay state does not match the sign-in", ErrRefused)
	}
	encoded := get("SAMLResponse")
	if encoded == "" {
		return nil, fmt.Errorf("%w: the answer has no SAML response", ErrRefused)
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("%w: saml response: %v", ErrRefused, err)
	}
	a, err := s.sp.ParseXMLResponse(raw, []string{samlRequestID(r)}, s.sp.AcsURL)
	if err != nil {
		var ire *saml.InvalidResponseError
		if errors.As(err, &ire) && ire.PrivateErr != nil {
			err = ire.PrivateErr
		}
		return nil, fmt.Errorf("%w: saml response: %w", ErrRefused, err)
	}
	if g := replayGuard(ctx); g != nil {
		seen, err := g.Seen(ctx, "saml:"+s.connID+":"+a.ID, assertionExpiry(a, s.now()))
		if err != nil {
			return nil, fmt.Errorf("federation: saml replay guard: %w", err)
		}
		if seen {
			return nil, fmt.Errorf("%w: saml assertion %s was already used", ErrRefused, a.ID)
		}
	}
	return samlIdentity(a)
}

func (s *samlConnector) now() time.Time {
	if s.sp.Clock != nil {
		return s.sp.Clock.Now()
	}
	return time.Now()
}

// assertionExpiry is when a can no longer be accepted, clock skew included.
func assertionExpiry(a *saml.Assertion, now time.Time) time.Time {
	var until time.Time
	if a.Conditions != nil {
		until = a.Conditions.NotOnOrAfter
	}
	if a.Subject != nil {
		for _, sc := range a.Subject.SubjectConfirmations {
			if d := sc.SubjectConfirmationData; d != nil && d.NotOnOrAfter.After(until) {
				until = d.NotOnOrAfter
			}
		}
	}
	if until.IsZero() {
		until = now.Add(saml.MaxIssueDelay)
	}
	return until.Add(saml.MaxClockSkew).UTC()
}

// samlAttributeOIDs names the X.500/LDAP attributes IdPs send by OID.
var samlAttributeOIDs = map[string]string{
	"urn:oid:0.9.2342.19200300.100.1.3":             "mail",
	"urn:oid:0.9.2342.19200300.100.1.1":             "uid",
	"urn:oid:2.5.4.42":                              "givenname",
	"urn:oid:2.5.4.4":                               "sn",
	"urn:oid:2.5.4.3":                               "cn",
	"urn:oid:2.16.840.1.113730.3.1.241":             "displayname",
	"urn:oasis:names:tc:SAML:attribute:subject-id":  "subject-id",
	"urn:oasis:names:tc:SAML:attribute:pairwise-id": "pairwise-id",
}

// samlAttributes maps each attribute's short, lowercase names (friendly
// name, OID alias, last segment of a URI name such as Entra ID's
// .../claims/emailaddress) to its first non-empty value.
func samlAttributes(a *saml.Assertion) map[string]string {
	out := map[string]string{}
	set := func(k, v string) {
		k = strings.ToLower(k)
		if _, ok := out[k]; !ok && k != "" {
			out[k] = v
		}
	}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			v := ""
			for _, av := range at.Values {
				if s := strings.TrimSpace(av.Value); s != "" {
					v = s
					break
				}
			}
			if v == "" {
				continue
			}
			if alias, ok := samlAttributeOIDs[at.Name]; ok {
				set(alias, v)
			}
			set(at.FriendlyName, v)
			set(at.Name, v)
			if i := strings.LastIndexAny(at.Name, "/:"); i >= 0 && !strings.HasPrefix(at.Name, "urn:oid:") {
				set(at.Name[i+1:], v)
			}
		}
	}
	return out
}

func samlIdentity(a *saml.Assertion) (*Identity, error) {
	attrs := samlAttributes(a)
	first := func(keys ...string) string {
		for _, k := range keys {
			if v := attrs[k]; v != "" {
				return v
			}
		}
		return ""
	}
	var nameID *saml.NameID
	if a.Subject != nil {
		nameID = a.Subject.NameID
	}
	id := &Identity{
		Email:     first("email", "mail", "emailaddress"),
		FirstName: first("givenname", "firstname"),
		LastName:  first("sn", "surname", "lastname", "familyname"),
		Username:  first("uid"),
	}
	// A transient NameID changes at every sign-in: it cannot name the user.
	switch {
	case nameID != nil && nameID.Value != "" && nameID.Format != string(saml.TransientNameIDFormat):
		id.Subject = nameID.Value
	case first("subject-id", "pairwise-id") != "":
		id.Subject = first("subject-id", "pairwise-id")
	default:
		return nil, fmt.Errorf("%w: the saml assertion names no stable subject (persistent NameID or subject-id)", ErrRefused)
	}
	if id.Email == "" && nameID != nil && looksLikeEmail(nameID.Value) {
		id.Email = nameID.Value
	}
	if id.FirstName == "" && id.LastName == "" {
		if n := first("displayname", "cn"); n != "" {
			id.FirstName, id.LastName, _ = strings.Cut(n, " ")
		}
	}
	return id, nil
}

func looksLikeEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && !strings.ContainsAny(s, " \t\r\n<>")
}

// SAMLMetadata is Usher's service-provider metadata for a SAML connection:
// what the IdP's administrator loads (entity ID, ACS URL and binding).
func (cs *Connectors) SAMLMetadata(ctx context.Context, c *storage.Connection) ([]byte, error) {
	conn, err := cs.For(ctx, c)
	if err != nil {
		return nil, err
	}
	s, ok := conn.(*samlConnector)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a SAML connection", ErrUnsupported, c.Slug)
	}
	out, err := xml.MarshalIndent(s.sp.Metadata(), "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}
