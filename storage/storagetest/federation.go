package storagetest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testConnections(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", connectionRoundTrip},
		{"Unknown", connectionUnknown},
		{"Invalid", connectionInvalid},
		{"DuplicateSlugOnCreate", connectionDuplicateCreate},
		{"Update", connectionUpdate},
		{"DuplicateSlugOnUpdate", connectionDuplicateUpdate},
		{"Delete", connectionDelete},
		{"ListBySlug", connectionList},
	})
}

func testExternalIdentities(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", externalIdentityRoundTrip},
		{"Unknown", externalIdentityUnknown},
		{"Invalid", externalIdentityInvalid},
		{"DuplicateSubject", externalIdentityConflict},
		{"ListOldestFirst", externalIdentityList},
		{"Update", externalIdentityUpdate},
		{"Delete", externalIdentityDelete},
		{"GoWithUserAndConnection", externalIdentityCascade},
	})
}

func testUpstreamLogins(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"UseOnce", upstreamLoginUseOnce},
		{"Unknown", upstreamLoginUnknown},
		{"Invalid", upstreamLoginInvalid},
		{"UseAfterExpiry", upstreamLoginExpired},
		{"UseConcurrent", upstreamLoginConcurrent},
		{"GoWithConnection", upstreamLoginCascade},
		{"DeleteExpired", upstreamLoginDeleteExpired},
	})
}

// sealed is a sealed secret's shape: arbitrary bytes, zeros and 0xff
// included.
var sealed = []byte{0, 0x9c, 0, 1, 0x7f, 0x80, 0xfe, 0xff, 0}

// ---- connections ----

func connectionFixture() *storage.Connection {
	return &storage.Connection{
		Slug:        uniq("conn"),
		Type:        storage.ConnectionGitHub,
		DisplayName: "GitHub",
		Enabled:     true,
		ClientID:    "Iv1.0123456789abcdef",
		Scopes:      []string{"read:user", "user:email"},
	}
}

func createConnection(t testing.TB, s storage.Tx, mods ...func(*storage.Connection)) *storage.Connection {
	t.Helper()
	return create(t, "CreateConnection", connectionFixture(), mods, s.CreateConnection)
}

func getConnection(t testing.TB, s storage.Tx, id string) *storage.Connection {
	t.Helper()
	c, err := s.GetConnection(t.Context(), id)
	must(t, err, "GetConnection "+id)
	return c
}

// oidcConnection sets every field, each to something a database might
// mangle.
func oidcConnection(c *storage.Connection) {
	c.Type = storage.ConnectionOIDC
	c.DisplayName = "Acme — Ünïcode SSO"
	c.IconURL = "https://idp.example.com/icon.svg?size=32&theme=dark"
	c.Enabled = true
	c.ClientID = "usher-client"
	c.ClientSecret = sealed
	c.Issuer = "https://idp.example.com/realms/acme"
	c.Scopes = []string{"openid", "profile", "email", "groups"}
	c.SAMLMetadataURL = "https://idp.example.com/saml/metadata"
	c.SAMLMetadata = "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" entityID=\"x\">\n\t<!-- é -->\n</md:EntityDescriptor>"
	c.EmailDomains = []string{"acme.example", "acme-corp.example"}
	c.AllowSignUp = true
	c.TrustEmailVerified = true
	c.StoreTokens = true
}

// samlConnection leaves the optional fields empty and every flag false.
func samlConnection(c *storage.Connection) {
	c.Type = storage.ConnectionSAML
	c.DisplayName = ""
	c.Enabled = false
	c.ClientID = ""
	c.ClientSecret = nil
	c.Scopes = nil
	c.SAMLMetadata = "<md:EntityDescriptor/>"
}

// sameConnection compares every field; ClientSecret byte for byte.
func sameConnection(t testing.TB, got, want *storage.Connection) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "Slug", got.Slug, want.Slug)
	eq(t, "Type", got.Type, want.Type)
	eq(t, "DisplayName", got.DisplayName, want.DisplayName)
	eq(t, "IconURL", got.IconURL, want.IconURL)
	eq(t, "Enabled", got.Enabled, want.Enabled)
	eq(t, "ClientID", got.ClientID, want.ClientID)
	sameBytes(t, "ClientSecret", got.ClientSecret, want.ClientSecret)
	eq(t, "Issuer", got.Issuer, want.Issuer)
	sameStrings(t, "Scopes", got.Scopes, want.Scopes)
	eq(t, "SAMLMetadataURL", got.SAMLMetadataURL, want.SAMLMetadataURL)
	eq(t, "SAMLMetadata", got.SAMLMetadata, want.SAMLMetadata)
	sameStrings(t, "EmailDomains", got.EmailDomains, want.EmailDomains)
	eq(t, "AllowSignUp", got.AllowSignUp, want.AllowSignUp)
	eq(t, "TrustEmailVerified", got.TrustEmailVerified, want.TrustEmailVerified)
	eq(t, "StoreTokens", got.StoreTokens, want.StoreTokens)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func connectionRoundTrip(t *testing.T, s storage.Storage) {
	for _, tc := range []struct {
		name string
		mod  func(*storage.Connection)
	}{
		{"EveryField", oidcConnection},
		{"Bare", samlConnection},
		{"Social", func(*storage.Connection) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createConnection(t, s, tc.mod)
			if !strings.HasPrefix(c.ID, storage.PrefixConnection+"_") {
				t.Errorf("ID = %q, want prefix %s_", c.ID, storage.PrefixConnection)
			}
			got := getConnection(t, s, c.ID)
			sameConnection(t, got, c)
			filledTime(t, "CreatedAt", got.CreatedAt, c.CreatedAt)
			filledTime(t, "UpdatedAt", got.UpdatedAt, c.UpdatedAt)
			bySlug, err := s.GetConnectionBySlug(t.Context(), c.Slug)
			must(t, err, "GetConnectionBySlug")
			sameConnection(t, bySlug, c)
		})
	}
	bare := getConnection(t, s, createConnection(t, s, samlConnection, func(c *storage.Connection) { c.ClientSecret = []byte{} }).ID)
	if bare.ClientSecret != nil || bare.Scopes != nil || bare.EmailDomains != nil {
		t.Errorf("empty ClientSecret, Scopes, EmailDomains read back as %#v, %#v, %#v; want nil", bare.ClientSecret, bare.Scopes, bare.EmailDomains)
	}

	// An ID given by the caller is kept.
	id := storage.NewID(storage.PrefixConnection)
	createConnection(t, s, func(c *storage.Connection) { c.ID = id })
	getConnection(t, s, id)
}

func connectionUnknown(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c := createConnection(t, s)
	_, err := s.GetConnection(ctx, storage.NewID(storage.PrefixConnection))
	wantErr(t, err, storage.ErrNotFound, "GetConnection of an unknown ID")
	_, err = s.GetConnectionBySlug(ctx, "no-such-connection")
	wantErr(t, err, storage.ErrNotFound, "GetConnectionBySlug of an unknown slug")
	_, err = s.GetConnectionBySlug(ctx, c.Slug+"x")
	wantErr(t, err, storage.ErrNotFound, "GetConnectionBySlug of a longer slug")
	x := connectionFixture()
	x.ID = storage.NewID(storage.PrefixConnection)
	wantErr(t, s.UpdateConnection(ctx, x), storage.ErrNotFound, "UpdateConnection of an unknown ID")
	wantErr(t, s.DeleteConnection(ctx, x.ID), storage.ErrNotFound, "DeleteConnection of an unknown ID")
	sameConnection(t, getConnection(t, s, c.ID), c)
}

func connectionInvalid(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	bad := map[string]func(*storage.Connection){
		"no slug":         func(c *storage.Connection) { c.Slug = "" },
		"no type":         func(c *storage.Connection) { c.Type = "" },
		"an unknown type": func(c *storage.Connection) { c.Type = "myspace" },
	}
	for what, mod := range bad {
		c := connectionFixture()
		mod(c)
		wantErr(t, s.CreateConnection(ctx, c), storage.ErrInvalid, "CreateConnection with "+what)
	}
	list, err := s.ListConnections(ctx)
	must(t, err, "ListConnections")
	eq(t, "connections after refused creates", len(list), 0)

	ok := createConnection(t, s)
	for what, mod := range bad {
		upd := *getConnection(t, s, ok.ID)
		mod(&upd)
		wantErr(t, s.UpdateConnection(ctx, &upd), storage.ErrInvalid, "UpdateConnection with "+what)
	}
	sameConnection(t, getConnection(t, s, ok.ID), ok)
}

func connectionDuplicateCreate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	first := createConnection(t, s, func(c *storage.Connection) { c.Slug = "acme" })
	dup := connectionFixture()
	oidcConnection(dup)
	dup.Slug = "acme"
	wantErr(t, s.CreateConnection(ctx, dup), storage.ErrConflict, "CreateConnection of a taken slug")
	got, err := s.GetConnectionBySlug(ctx, "acme")
	must(t, err, "GetConnectionBySlug")
	sameConnection(t, got, first)

	again := connectionFixture()
	again.ID = first.ID
	wantErr(t, s.CreateConnection(ctx, again), storage.ErrConflict, "CreateConnection of a taken ID")

	list, err := s.ListConnections(ctx)
	must(t, err, "ListConnections")
	eq(t, "connections after the refused creates", len(list), 1)
}

func connectionUpdate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c := createConnection(t, s)
	oldSlug, created := c.Slug, c.CreatedAt

	upd := *getConnection(t, s, c.ID)
	upd.Slug = uniq("renamed")
	oidcConnection(&upd)
	upd.CreatedAt = created.Add(-48 * time.Hour) // ignored
	must(t, s.UpdateConnection(ctx, &upd), "UpdateConnection")
	if upd.UpdatedAt.IsZero() || upd.UpdatedAt.Before(created) {
		t.Errorf("UpdatedAt after update = %v, want set, not before CreatedAt %v", upd.UpdatedAt, created)
	}
	want := upd
	want.CreatedAt = created
	got := getConnection(t, s, c.ID)
	sameConnection(t, got, &want)

	_, err := s.GetConnectionBySlug(ctx, oldSlug)
	wantErr(t, err, storage.ErrNotFound, "GetConnectionBySlug of the old slug")
	bySlug, err := s.GetConnectionBySlug(ctx, upd.Slug)
	must(t, err, "GetConnectionBySlug of the new slug")
	eq(t, "ID by new slug", bySlug.ID, c.ID)

	// Back to empty: no secret, no lists, every flag off; keeping its own
	// slug is no conflict.
	samlConnection(got)
	got.EmailDomains, got.AllowSignUp, got.TrustEmailVerified, got.StoreTokens = nil, false, false, false
	must(t, s.UpdateConnection(ctx, got), "UpdateConnection clearing fields")
	sameConnection(t, getConnection(t, s, c.ID), got)
}

func connectionDuplicateUpdate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	a := createConnection(t, s)
	b := createConnection(t, s)
	before := *getConnection(t, s, b.ID)
	upd := before
	upd.Slug = a.Slug
	upd.DisplayName = "changed"
	wantErr(t, s.UpdateConnection(ctx, &upd), storage.ErrConflict, "UpdateConnection to a taken slug")
	sameTime(t, "UpdatedAt in the record after the refused update", upd.UpdatedAt, before.UpdatedAt)
	sameConnection(t, getConnection(t, s, b.ID), &before)
	sameConnection(t, getConnection(t, s, a.ID), a)
}

func connectionDelete(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c := createConnection(t, s)
	keep := createConnection(t, s)
	must(t, s.DeleteConnection(ctx, c.ID), "DeleteConnection")
	_, err := s.GetConnection(ctx, c.ID)
	wantErr(t, err, storage.ErrNotFound, "GetConnection after delete")
	_, err = s.GetConnectionBySlug(ctx, c.Slug)
	wantErr(t, err, storage.ErrNotFound, "GetConnectionBySlug after delete")
	wantErr(t, s.DeleteConnection(ctx, c.ID), storage.ErrNotFound, "second DeleteConnection")
	sameConnection(t, getConnection(t, s, keep.ID), keep)

	// The slug is free again.
	createConnection(t, s, func(x *storage.Connection) { x.Slug = c.Slug })
}

func connectionList(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	list, err := s.ListConnections(ctx)
	must(t, err, "ListConnections of none")
	eq(t, "connections in an empty store", len(list), 0)

	// Byte order: upper case, then "_", then lower case; a prefix first.
	for _, slug := range []string{"okta", "_test", "azure-ad", "Zeta", "azure", "Okta", "_"} {
		createConnection(t, s, func(c *storage.Connection) { c.Slug = slug })
	}
	list, err = s.ListConnections(ctx)
	must(t, err, "ListConnections")
	var slugs []string
	for _, c := range list {
		slugs = append(slugs, c.Slug)
	}
	sameOrder(t, "ListConnections", slugs, []string{"Okta", "Zeta", "_", "_test", "azure", "azure-ad", "okta"})
}

// ---- external identities ----

func createExternalIdentity(t testing.TB, s storage.Tx, connectionID, userID string, mods ...func(*storage.ExternalIdentity)) *storage.ExternalIdentity {
	t.Helper()
	e := &storage.ExternalIdentity{
		ConnectionID: connectionID,
		Subject:      uniq("sub"),
		UserID:       userID,
		Email:        "jane@example.com",
	}
	return create(t, "CreateExternalIdentity", e, mods, s.CreateExternalIdentity)
}

func getExternalIdentity(t testing.TB, s storage.Tx, connectionID, subject string) *storage.ExternalIdentity {
	t.Helper()
	e, err := s.GetExternalIdentity(t.Context(), connectionID, subject)
	must(t, err, "GetExternalIdentity "+subject)
	return e
}

func sameExternalIdentity(t testing.TB, got, want *storage.ExternalIdentity) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	eq(t, "ConnectionID", got.ConnectionID, want.ConnectionID)
	eq(t, "Subject", got.Subject, want.Subject)
	eq(t, "UserID", got.UserID, want.UserID)
	eq(t, "Email", got.Email, want.Email)
	eq(t, "EmailVerified", got.EmailVerified, want.EmailVerified)
	sameBytes(t, "AccessToken", got.AccessToken, want.AccessToken)
	sameBytes(t, "RefreshToken", got.RefreshToken, want.RefreshToken)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "LastSignInAt", got.LastSignInAt, want.LastSignInAt)
}

func externalIdentityIDOf(e *storage.ExternalIdentity) string { return e.ID }

func externalIdentityRoundTrip(t *testing.T, s storage.Storage) {
	u, c := createUser(t, s), createConnection(t, s, oidcConnection)
	fine := time.Date(2031, 7, 8, 9, 10, 11, 123456789, odd)
	e := createExternalIdentity(t, s, c.ID, u.ID, func(e *storage.ExternalIdentity) {
		e.Subject = "248289761001|Ünïcode"
		e.Email = "Jane.Doe+sso@Example.com"
		e.EmailVerified = true
		e.AccessToken = sealed
		e.RefreshToken = append([]byte{0}, sealed...)
		e.CreatedAt = fine
		e.LastSignInAt = fine.Add(time.Minute)
	})
	if !strings.HasPrefix(e.ID, storage.PrefixExternalIdentity+"_") {
		t.Errorf("ID = %q, want prefix %s_", e.ID, storage.PrefixExternalIdentity)
	}
	sameExternalIdentity(t, getExternalIdentity(t, s, c.ID, e.Subject), e)

	// Without the optional fields, and with CreatedAt filled in.
	bare := &storage.ExternalIdentity{ConnectionID: c.ID, Subject: uniq("sub"), UserID: u.ID}
	must(t, s.CreateExternalIdentity(t.Context(), bare), "CreateExternalIdentity without optional fields")
	if bare.CreatedAt.IsZero() {
		t.Error("CreateExternalIdentity did not set CreatedAt")
	}
	got := getExternalIdentity(t, s, c.ID, bare.Subject)
	sameExternalIdentity(t, got, bare)
	if got.AccessToken != nil || got.RefreshToken != nil {
		t.Errorf("absent tokens read back as %#v, %#v; want nil", got.AccessToken, got.RefreshToken)
	}

	// An ID given by the caller is kept.
	id := storage.NewID(storage.PrefixExternalIdentity)
	own := createExternalIdentity(t, s, c.ID, u.ID, func(e *storage.ExternalIdentity) { e.ID = id })
	eq(t, "ID given by the caller", getExternalIdentity(t, s, c.ID, own.Subject).ID, id)
}

func externalIdentityUnknown(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, c, other := createUser(t, s), createConnection(t, s), createConnection(t, s)
	e := createExternalIdentity(t, s, c.ID, u.ID, func(e *storage.ExternalIdentity) { e.Subject = "Abc123" })
	for what, key := range map[string][2]string{
		"an unknown subject":           {c.ID, "nobody"},
		"the subject in another case":  {c.ID, "abc123"},
		"the subject at another conn.": {other.ID, "Abc123"},
		"an unknown connection":        {storage.NewID(storage.PrefixConnection), "Abc123"},
	} {
		_, err := s.GetExternalIdentity(ctx, key[0], key[1])
		wantErr(t, err, storage.ErrNotFound, "GetExternalIdentity of "+what)
	}
	list, err := s.ListUserExternalIdentities(ctx, storage.NewID(storage.PrefixUser))
	must(t, err, "ListUserExternalIdentities of an unknown user")
	eq(t, "external identities of an unknown user", len(list), 0)
	x := *e
	x.ID = storage.NewID(storage.PrefixExternalIdentity)
	wantErr(t, s.UpdateExternalIdentity(ctx, &x), storage.ErrNotFound, "UpdateExternalIdentity of an unknown ID")
	wantErr(t, s.DeleteExternalIdentity(ctx, x.ID), storage.ErrNotFound, "DeleteExternalIdentity of an unknown ID")
	sameExternalIdentity(t, getExternalIdentity(t, s, c.ID, e.Subject), e)
}

func externalIdentityInvalid(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, c := createUser(t, s), createConnection(t, s)
	valid := func() *storage.ExternalIdentity {
		return &storage.ExternalIdentity{ConnectionID: c.ID, Subject: uniq("sub"), UserID: u.ID}
	}
	for what, mod := range map[string]func(*storage.ExternalIdentity){
		"without a connection": func(e *storage.ExternalIdentity) { e.ConnectionID = "" },
		"without a subject":    func(e *storage.ExternalIdentity) { e.Subject = "" },
		"without a user":       func(e *storage.ExternalIdentity) { e.UserID = "" },
	} {
		e := valid()
		mod(e)
		wantErr(t, s.CreateExternalIdentity(ctx, e), storage.ErrInvalid, "CreateExternalIdentity "+what)
	}
	for what, mod := range map[string]func(*storage.ExternalIdentity){
		"for a missing user":      func(e *storage.ExternalIdentity) { e.UserID = storage.NewID(storage.PrefixUser) },
		"at a missing connection": func(e *storage.ExternalIdentity) { e.ConnectionID = storage.NewID(storage.PrefixConnection) },
	} {
		e := valid()
		mod(e)
		if err := s.CreateExternalIdentity(ctx, e); err == nil {
			t.Errorf("CreateExternalIdentity %s succeeded, want an error (foreign key)", what)
		}
	}
	list, err := s.ListUserExternalIdentities(ctx, u.ID)
	must(t, err, "ListUserExternalIdentities")
	eq(t, "external identities after refused creates", len(list), 0)
}

// A (connection, subject) links one user; the same subject at another
// connection is another identity.
func externalIdentityConflict(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, other := createUser(t, s), createUser(t, s)
	c, c2 := createConnection(t, s), createConnection(t, s)
	first := createExternalIdentity(t, s, c.ID, u.ID)
	for what, owner := range map[string]*storage.User{"the same user": u, "another user": other} {
		dup := &storage.ExternalIdentity{ConnectionID: c.ID, Subject: first.Subject, UserID: owner.ID, Email: "other@example.com"}
		wantErr(t, s.CreateExternalIdentity(ctx, dup), storage.ErrConflict, "CreateExternalIdentity of a linked subject for "+what)
	}
	sameExternalIdentity(t, getExternalIdentity(t, s, c.ID, first.Subject), first)
	list, err := s.ListUserExternalIdentities(ctx, other.ID)
	must(t, err, "ListUserExternalIdentities")
	eq(t, "external identities of the refused user", len(list), 0)

	dupID := &storage.ExternalIdentity{ID: first.ID, ConnectionID: c2.ID, Subject: uniq("sub"), UserID: u.ID}
	wantErr(t, s.CreateExternalIdentity(ctx, dupID), storage.ErrConflict, "CreateExternalIdentity of a taken ID")

	elsewhere := createExternalIdentity(t, s, c2.ID, other.ID, func(e *storage.ExternalIdentity) { e.Subject = first.Subject })
	eq(t, "UserID of the subject at another connection", getExternalIdentity(t, s, c2.ID, first.Subject).UserID, other.ID)
	eq(t, "ID of the subject at another connection", getExternalIdentity(t, s, c2.ID, first.Subject).ID, elsewhere.ID)
}

func externalIdentityList(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, other := createUser(t, s), createUser(t, s)
	c, c2 := createConnection(t, s), createConnection(t, s)
	n := now()
	at := func(d time.Duration) func(*storage.ExternalIdentity) {
		return func(e *storage.ExternalIdentity) { e.CreatedAt = n.Add(d) }
	}
	// Created out of order, listed by CreatedAt.
	second := createExternalIdentity(t, s, c2.ID, u.ID, at(-time.Hour))
	third := createExternalIdentity(t, s, c.ID, u.ID, at(0))
	first := createExternalIdentity(t, s, c.ID, u.ID, at(-2*time.Hour))
	createExternalIdentity(t, s, c.ID, other.ID, at(-3*time.Hour))

	list, err := s.ListUserExternalIdentities(ctx, u.ID)
	must(t, err, "ListUserExternalIdentities")
	sameOrder(t, "ListUserExternalIdentities", ids(list, externalIdentityIDOf), []string{first.ID, second.ID, third.ID})
	if len(list) == 3 {
		sameExternalIdentity(t, list[0], first)
	}

	fresh := createUser(t, s)
	list, err = s.ListUserExternalIdentities(ctx, fresh.ID)
	must(t, err, "ListUserExternalIdentities of a user without any")
	eq(t, "external identities of a user without any", len(list), 0)
}

func externalIdentityUpdate(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, other := createUser(t, s), createUser(t, s)
	c := createConnection(t, s, oidcConnection)
	e := createExternalIdentity(t, s, c.ID, u.ID)
	neighbour := createExternalIdentity(t, s, c.ID, u.ID)

	signIn := time.Date(2031, 7, 8, 9, 10, 11, 123456789, odd)
	upd := *getExternalIdentity(t, s, c.ID, e.Subject)
	upd.Email = "jane.new@example.org"
	upd.EmailVerified = true
	upd.AccessToken = sealed
	upd.RefreshToken = []byte{0}
	upd.LastSignInAt = signIn
	// Not updated: the link itself and when it was made.
	upd.Subject = "changed"
	upd.UserID = other.ID
	upd.CreatedAt = e.CreatedAt.Add(-time.Hour)
	must(t, s.UpdateExternalIdentity(ctx, &upd), "UpdateExternalIdentity")

	want := *e
	want.Email, want.EmailVerified = upd.Email, true
	want.AccessToken, want.RefreshToken, want.LastSignInAt = sealed, []byte{0}, signIn
	sameExternalIdentity(t, getExternalIdentity(t, s, c.ID, e.Subject), &want)
	_, err := s.GetExternalIdentity(ctx, c.ID, "changed")
	wantErr(t, err, storage.ErrNotFound, "GetExternalIdentity of the subject an update tried to set")
	list, err := s.ListUserExternalIdentities(ctx, other.ID)
	must(t, err, "ListUserExternalIdentities")
	eq(t, "external identities of the user an update tried to set", len(list), 0)
	sameExternalIdentity(t, getExternalIdentity(t, s, c.ID, neighbour.Subject), neighbour)

	// Tokens dropped, verification withdrawn.
	cleared := want
	cleared.EmailVerified, cleared.AccessToken, cleared.RefreshToken = false, nil, nil
	must(t, s.UpdateExternalIdentity(ctx, &cleared), "UpdateExternalIdentity clearing tokens")
	got := getExternalIdentity(t, s, c.ID, e.Subject)
	sameExternalIdentity(t, got, &cleared)
	if got.AccessToken != nil || got.RefreshToken != nil {
		t.Errorf("cleared tokens read back as %#v, %#v; want nil", got.AccessToken, got.RefreshToken)
	}
}

func externalIdentityDelete(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, c := createUser(t, s), createConnection(t, s)
	e := createExternalIdentity(t, s, c.ID, u.ID)
	keep := createExternalIdentity(t, s, c.ID, u.ID)
	must(t, s.DeleteExternalIdentity(ctx, e.ID), "DeleteExternalIdentity")
	_, err := s.GetExternalIdentity(ctx, c.ID, e.Subject)
	wantErr(t, err, storage.ErrNotFound, "GetExternalIdentity after delete")
	wantErr(t, s.DeleteExternalIdentity(ctx, e.ID), storage.ErrNotFound, "second DeleteExternalIdentity")
	list, err := s.ListUserExternalIdentities(ctx, u.ID)
	must(t, err, "ListUserExternalIdentities")
	sameOrder(t, "external identities left", ids(list, externalIdentityIDOf), []string{keep.ID})

	// The subject may be linked again, to anyone.
	createExternalIdentity(t, s, c.ID, createUser(t, s).ID, func(x *storage.ExternalIdentity) { x.Subject = e.Subject })
}

func externalIdentityCascade(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, other := createUser(t, s), createUser(t, s)
	c, c2 := createConnection(t, s), createConnection(t, s)
	atC := createExternalIdentity(t, s, c.ID, u.ID)
	atC2 := createExternalIdentity(t, s, c2.ID, u.ID)
	otherAtC := createExternalIdentity(t, s, c.ID, other.ID)
	otherAtC2 := createExternalIdentity(t, s, c2.ID, other.ID)

	must(t, s.DeleteConnection(ctx, c.ID), "DeleteConnection")
	for what, e := range map[string]*storage.ExternalIdentity{"the user's": atC, "another user's": otherAtC} {
		_, err := s.GetExternalIdentity(ctx, c.ID, e.Subject)
		wantErr(t, err, storage.ErrNotFound, "GetExternalIdentity of "+what+" identity after its connection was deleted")
	}
	list, err := s.ListUserExternalIdentities(ctx, u.ID)
	must(t, err, "ListUserExternalIdentities")
	sameOrder(t, "the user's identities after a connection was deleted", ids(list, externalIdentityIDOf), []string{atC2.ID})

	must(t, s.DeleteUser(ctx, u.ID), "DeleteUser")
	_, err = s.GetExternalIdentity(ctx, c2.ID, atC2.Subject)
	wantErr(t, err, storage.ErrNotFound, "GetExternalIdentity after its user was deleted")
	list, err = s.ListUserExternalIdentities(ctx, u.ID)
	must(t, err, "ListUserExternalIdentities of a deleted user")
	eq(t, "identities of a deleted user", len(list), 0)
	sameExternalIdentity(t, getExternalIdentity(t, s, c2.ID, otherAtC2.Subject), otherAtC2)
}

// ---- upstream logins ----

// upstreamLoginTTL is how long the suite's upstream logins live.
const upstreamLoginTTL = 10 * time.Minute

func createUpstreamLogin(t testing.TB, s storage.Tx, connectionID string, mods ...func(*storage.UpstreamLogin)) *storage.UpstreamLogin {
	t.Helper()
	n := now()
	l := &storage.UpstreamLogin{
		StateHash:    randomBytes(32),
		ConnectionID: connectionID,
		BrowserHash:  randomBytes(32),
		PKCEVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
		Nonce:        uniq("nonce"),
		CreatedAt:    n,
		ExpiresAt:    n.Add(upstreamLoginTTL),
	}
	return create(t, "CreateUpstreamLogin", l, mods, s.CreateUpstreamLogin)
}

func sameUpstreamLogin(t testing.TB, got, want *storage.UpstreamLogin) {
	t.Helper()
	eq(t, "ID", got.ID, want.ID)
	sameBytes(t, "StateHash", got.StateHash, want.StateHash)
	eq(t, "ConnectionID", got.ConnectionID, want.ConnectionID)
	sameBytes(t, "BrowserHash", got.BrowserHash, want.BrowserHash)
	eq(t, "PKCEVerifier", got.PKCEVerifier, want.PKCEVerifier)
	eq(t, "Nonce", got.Nonce, want.Nonce)
	eq(t, "FlowID", got.FlowID, want.FlowID)
	eq(t, "LinkUserID", got.LinkUserID, want.LinkUserID)
	sameTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, "ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	sameTime(t, "UsedAt", got.UsedAt, want.UsedAt)
}

func upstreamLoginUseOnce(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	u, c := createUser(t, s), createConnection(t, s, oidcConnection)
	fine := time.Date(2031, 7, 8, 9, 10, 11, 123456789, odd)
	l := createUpstreamLogin(t, s, c.ID, func(l *storage.UpstreamLogin) {
		l.StateHash = append([]byte{0}, sealed...)
		l.FlowID = storage.NewID(storage.PrefixSignInFlow)
		l.LinkUserID = u.ID
		l.CreatedAt, l.ExpiresAt = fine, fine.Add(upstreamLoginTTL)
	})
	if !strings.HasPrefix(l.ID, storage.PrefixUpstreamLogin+"_") {
		t.Errorf("ID = %q, want prefix %s_", l.ID, storage.PrefixUpstreamLogin)
	}
	other := createUpstreamLogin(t, s, c.ID)

	at := fine.Add(time.Minute)
	got, err := s.UseUpstreamLogin(ctx, l.StateHash, at)
	must(t, err, "UseUpstreamLogin")
	want := *l
	want.UsedAt = at
	sameUpstreamLogin(t, got, &want)

	_, err = s.UseUpstreamLogin(ctx, l.StateHash, at.Add(time.Second))
	wantErr(t, err, storage.ErrNotFound, "second UseUpstreamLogin")
	_, err = s.UseUpstreamLogin(ctx, l.StateHash, at)
	wantErr(t, err, storage.ErrNotFound, "second UseUpstreamLogin at the same time")

	// Others are untouched; optional fields may be empty, CreatedAt is
	// filled in.
	got, err = s.UseUpstreamLogin(ctx, other.StateHash, other.CreatedAt)
	must(t, err, "UseUpstreamLogin of another login")
	want = *other
	want.UsedAt = other.CreatedAt
	sameUpstreamLogin(t, got, &want)

	n := now()
	bare := &storage.UpstreamLogin{StateHash: randomBytes(32), ConnectionID: c.ID, ExpiresAt: n.Add(upstreamLoginTTL)}
	must(t, s.CreateUpstreamLogin(ctx, bare), "CreateUpstreamLogin without optional fields")
	if bare.CreatedAt.IsZero() || bare.ID == "" {
		t.Errorf("CreateUpstreamLogin left ID %q, CreatedAt %v", bare.ID, bare.CreatedAt)
	}
	got, err = s.UseUpstreamLogin(ctx, bare.StateHash, n)
	must(t, err, "UseUpstreamLogin of a bare login")
	want = *bare
	want.UsedAt = n
	sameUpstreamLogin(t, got, &want)
	if got.BrowserHash != nil {
		t.Errorf("absent BrowserHash read back as %#v, want nil", got.BrowserHash)
	}
}

func upstreamLoginUnknown(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c := createConnection(t, s)
	l := createUpstreamLogin(t, s, c.ID)
	for what, hash := range map[string][]byte{
		"an unknown state hash": randomBytes(32),
		"a prefix of the hash":  l.StateHash[:31],
		"no state hash":         nil,
	} {
		_, err := s.UseUpstreamLogin(ctx, hash, l.CreatedAt)
		wantErr(t, err, storage.ErrNotFound, "UseUpstreamLogin of "+what)
	}
	_, err := s.UseUpstreamLogin(ctx, l.StateHash, l.CreatedAt)
	must(t, err, "UseUpstreamLogin after the misses")
}

func upstreamLoginInvalid(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c := createConnection(t, s)
	valid := func() *storage.UpstreamLogin {
		n := now()
		return &storage.UpstreamLogin{StateHash: randomBytes(32), ConnectionID: c.ID, CreatedAt: n, ExpiresAt: n.Add(upstreamLoginTTL)}
	}
	for what, mod := range map[string]func(*storage.UpstreamLogin){
		"without a state hash": func(l *storage.UpstreamLogin) { l.StateHash = nil },
		"without a connection": func(l *storage.UpstreamLogin) { l.ConnectionID = "" },
		"without an expiry":    func(l *storage.UpstreamLogin) { l.ExpiresAt = time.Time{} },
	} {
		l := valid()
		mod(l)
		wantErr(t, s.CreateUpstreamLogin(ctx, l), storage.ErrInvalid, "CreateUpstreamLogin "+what)
	}
	missing := valid()
	missing.ConnectionID = storage.NewID(storage.PrefixConnection)
	if err := s.CreateUpstreamLogin(ctx, missing); err == nil {
		t.Error("CreateUpstreamLogin at a missing connection succeeded, want an error (foreign key)")
	}

	first := createUpstreamLogin(t, s, c.ID)
	dup := valid()
	dup.StateHash = first.StateHash
	wantErr(t, s.CreateUpstreamLogin(ctx, dup), storage.ErrConflict, "CreateUpstreamLogin of a taken state hash")
	got, err := s.UseUpstreamLogin(ctx, first.StateHash, first.CreatedAt)
	must(t, err, "UseUpstreamLogin")
	eq(t, "ID of the login with that state hash", got.ID, first.ID)
}

func upstreamLoginExpired(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c := createConnection(t, s)
	l := createUpstreamLogin(t, s, c.ID)
	// Like a session, a login is over at ExpiresAt itself.
	for _, at := range []time.Time{l.ExpiresAt, l.ExpiresAt.Add(time.Microsecond), l.ExpiresAt.Add(time.Hour)} {
		late := " (" + at.Sub(l.ExpiresAt).String() + " late)"
		_, err := s.UseUpstreamLogin(ctx, l.StateHash, at)
		wantErr(t, err, storage.ErrNotFound, "UseUpstreamLogin after ExpiresAt"+late)
	}
	got, err := s.UseUpstreamLogin(ctx, l.StateHash, l.ExpiresAt.Add(-time.Microsecond))
	must(t, err, "UseUpstreamLogin a microsecond before ExpiresAt (the refused uses left it unused)")
	sameTime(t, "UsedAt", got.UsedAt, l.ExpiresAt.Add(-time.Microsecond))
}

// Of uses at once (a double-clicked callback, a replayed state), exactly
// one gets the login.
func upstreamLoginConcurrent(t *testing.T, s storage.Storage) {
	c := createConnection(t, s)
	l := createUpstreamLogin(t, s, c.ID)
	got := make([]*storage.UpstreamLogin, 8)
	errs := race(len(got), func(i int) error {
		var err error
		got[i], err = s.UseUpstreamLogin(t.Context(), l.StateHash, l.CreatedAt.Add(time.Duration(i+1)*time.Second))
		return err
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("concurrent UseUpstreamLogin: calls %d and %d both succeeded", winner, i)
			}
			winner = i
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("concurrent UseUpstreamLogin %d: err = %v, want nil or %v", i, err, storage.ErrNotFound)
		}
	}
	if winner < 0 {
		t.Fatal("concurrent UseUpstreamLogin: no call succeeded, want exactly one")
	}
	want := *l
	want.UsedAt = l.CreatedAt.Add(time.Duration(winner+1) * time.Second)
	sameUpstreamLogin(t, got[winner], &want)
}

func upstreamLoginCascade(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c, keep := createConnection(t, s), createConnection(t, s)
	gone := createUpstreamLogin(t, s, c.ID)
	kept := createUpstreamLogin(t, s, keep.ID)
	must(t, s.DeleteConnection(ctx, c.ID), "DeleteConnection")
	_, err := s.UseUpstreamLogin(ctx, gone.StateHash, gone.CreatedAt)
	wantErr(t, err, storage.ErrNotFound, "UseUpstreamLogin after its connection was deleted")
	_, err = s.UseUpstreamLogin(ctx, kept.StateHash, kept.CreatedAt)
	must(t, err, "UseUpstreamLogin at another connection")
}

func upstreamLoginDeleteExpired(t *testing.T, s storage.Storage) {
	ctx := t.Context()
	c := createConnection(t, s)
	n := now()
	exp := func(d time.Duration) func(*storage.UpstreamLogin) {
		return func(l *storage.UpstreamLogin) { l.CreatedAt, l.ExpiresAt = n.Add(-time.Hour), n.Add(d) }
	}
	used := createUpstreamLogin(t, s, c.ID, exp(-time.Second))
	_, err := s.UseUpstreamLogin(ctx, used.StateHash, used.CreatedAt)
	must(t, err, "UseUpstreamLogin")
	gone := map[string]*storage.UpstreamLogin{
		"used, expired a second ago":   used,
		"unused, expired a minute ago": createUpstreamLogin(t, s, c.ID, exp(-time.Minute)),
		"unused, expiring right now":   createUpstreamLogin(t, s, c.ID, exp(0)),
	}
	kept := map[string]*storage.UpstreamLogin{
		"expiring in a microsecond": createUpstreamLogin(t, s, c.ID, exp(time.Microsecond)),
		"expiring in ten minutes":   createUpstreamLogin(t, s, c.ID, exp(10*time.Minute)),
	}
	got, err := s.DeleteExpired(ctx, n)
	must(t, err, "DeleteExpired")
	eq(t, "DeleteExpired", got, storage.CleanupCounts{UpstreamLogins: 3})
	// A login still stored is usable at its CreatedAt unless used; a
	// deleted one is not found even then.
	for name, l := range gone {
		if name == "used, expired a second ago" {
			continue // not found whether deleted or not; counted above
		}
		_, err := s.UseUpstreamLogin(ctx, l.StateHash, l.CreatedAt)
		wantErr(t, err, storage.ErrNotFound, "UseUpstreamLogin at its CreatedAt of one "+name)
	}
	for name, l := range kept {
		if _, err := s.UseUpstreamLogin(ctx, l.StateHash, l.CreatedAt); err != nil {
			t.Errorf("UseUpstreamLogin of one %s: %v", name, err)
		}
	}
	// Its state hash is free again.
	createUpstreamLogin(t, s, c.ID, func(l *storage.UpstreamLogin) { l.StateHash = used.StateHash })

	again, err := s.DeleteExpired(ctx, n)
	must(t, err, "DeleteExpired again")
	eq(t, "DeleteExpired again", again, storage.CleanupCounts{})
}
