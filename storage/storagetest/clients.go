package storagetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/usher-id/usher/storage"
)

func testClients(t *testing.T, open Open) {
	runCases(t, open, []testCase{
		{"RoundTrip", clientRoundTrip},
		{"Missing", clientMissing},
		{"DuplicateID", clientDuplicateID},
		{"Update", clientUpdate},
		{"Delete", clientDelete},
		{"DeleteCascades", clientDeleteCascades},
		{"ListNewestFirst", clientList},
	})
}

func confidentialClient(c *storage.Client) {
	c.Name = "Confidential — Ünïcode"
	c.SecretHash = []byte{0, 1, 2, 0xfe, 0xff, 0}
	c.AuthMethod = "private_key_jwt"
	c.ApplicationType = "web"
	c.RedirectURIs = []string{"https://app.example.com/cb", "https://app.example.com/cb?x=1&y=2", "http://127.0.0.1:8080/cb"}
	c.PostLogoutRedirectURIs = []string{"https://app.example.com/bye"}
	c.GrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}
	c.ResponseTypes = []string{"code"}
	c.Scopes = []string{"openid", "profile", "email", "offline_access"}
	c.CORSOrigins = []string{"https://app.example.com", "https://admin.example.com"}
	c.JWKSURI = "https://app.example.com/.well-known/jwks.json"
	c.JWKS = json.RawMessage(`{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`)
	c.AccessTokenFormat = "opaque"
	c.AccessTokenTTL = 5 * time.Minute
	c.IDTokenTTL = 2 * time.Hour
	c.RefreshTokenIdleTTL = 7 * 24 * time.Hour
	c.RefreshTokenMaxTTL = 365 * 24 * time.Hour
	c.IDTokenUserinfoClaims = true
	c.FirstParty = true
	c.Source = "config"
}

func publicClient(c *storage.Client) {
	c.SecretHash = nil
	c.AuthMethod = "none"
	c.ApplicationType = "native"
	c.RedirectURIs = []string{"com.example.app:/callback"}
	c.PostLogoutRedirectURIs = nil
	c.CORSOrigins = nil
	c.JWKSURI = ""
	c.JWKS = nil
	c.IDTokenUserinfoClaims = false
	c.FirstParty = false
	c.AccessTokenTemplate = ""
}

// templatedClient names a JWT template that shapes its access tokens.
func templatedClient(c *storage.Client) {
	c.AccessTokenFormat = "jwt"
	c.AccessTokenTemplate = "hasura.v2_claims-1"
}

func clientRoundTrip(t *testing.T, s storage.Storage) {
	for _, tc := range []struct {
		name string
		mod  func(*storage.Client)
	}{
		{"Confidential", confidentialClient},
		{"Public", publicClient},
		{"Templated", templatedClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := createClient(t, s, tc.mod)
			got, err := s.GetClient(t.Context(), c.ID)
			must(t, err, "GetClient")
			sameClient(t, got, c)
			filledTime(t, "CreatedAt", got.CreatedAt, c.CreatedAt)
			filledTime(t, "UpdatedAt", got.UpdatedAt, c.UpdatedAt)
		})
	}
}

// filledTime checks a time the backend may fill in on create: it must be
// stored, and be what the record says when the record says anything.
func filledTime(t *testing.T, field string, got, inRecord time.Time) {
	t.Helper()
	if got.IsZero() {
		t.Errorf("%s is zero after create", field)
		return
	}
	if !inRecord.IsZero() {
		sameTime(t, field, got, inRecord)
	}
}

func clientMissing(t *testing.T, s storage.Storage) {
	createClient(t, s)
	ctx := t.Context()
	c := clientFixture()
	_, err := s.GetClient(ctx, c.ID)
	wantErr(t, err, storage.ErrNotFound, "GetClient of an unknown ID")
	wantErr(t, s.UpdateClient(ctx, c), storage.ErrNotFound, "UpdateClient of an unknown ID")
	wantErr(t, s.DeleteClient(ctx, c.ID), storage.ErrNotFound, "DeleteClient of an unknown ID")
	_, err = s.GetClient(ctx, c.ID)
	wantErr(t, err, storage.ErrNotFound, "GetClient after UpdateClient of an unknown ID")
}

func clientDuplicateID(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	dup := clientFixture()
	dup.ID = c.ID
	dup.Name = "Impostor"
	wantErr(t, s.CreateClient(t.Context(), dup), storage.ErrConflict, "CreateClient with a taken ID")
	got, err := s.GetClient(t.Context(), c.ID)
	must(t, err, "GetClient")
	eq(t, "Name after the refused create", got.Name, c.Name)
}

func clientUpdate(t *testing.T, s storage.Storage) {
	c := createClient(t, s, publicClient)
	other := createClient(t, s)
	orig, err := s.GetClient(t.Context(), c.ID)
	must(t, err, "GetClient")

	upd := *orig
	confidentialClient(&upd)
	templatedClient(&upd)
	upd.Name = "Renamed"
	upd.CreatedAt = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC) // not written
	must(t, s.UpdateClient(t.Context(), &upd), "UpdateClient")

	got, err := s.GetClient(t.Context(), c.ID)
	must(t, err, "GetClient")
	sameClient(t, got, &upd)
	sameTime(t, "CreatedAt after UpdateClient", got.CreatedAt, orig.CreatedAt)

	// And back to a public client: lists, secrets and the template can be
	// emptied.
	publicClient(got)
	must(t, s.UpdateClient(t.Context(), got), "UpdateClient")
	again, err := s.GetClient(t.Context(), c.ID)
	must(t, err, "GetClient")
	sameClient(t, again, got)

	o, err := s.GetClient(t.Context(), other.ID)
	must(t, err, "GetClient of another client")
	sameClient(t, o, other)
}

func clientDelete(t *testing.T, s storage.Storage) {
	c := createClient(t, s)
	keep := createClient(t, s)
	must(t, s.DeleteClient(t.Context(), c.ID), "DeleteClient")
	_, err := s.GetClient(t.Context(), c.ID)
	wantErr(t, err, storage.ErrNotFound, "GetClient after DeleteClient")
	wantErr(t, s.DeleteClient(t.Context(), c.ID), storage.ErrNotFound, "second DeleteClient")
	if _, err := s.GetClient(t.Context(), keep.ID); err != nil {
		t.Errorf("GetClient of another client: %v", err)
	}
	// The ID can be used again.
	createClient(t, s, func(n *storage.Client) { n.ID = c.ID })
}

// Deleting a client deletes its authorization requests and refresh tokens.
func clientDeleteCascades(t *testing.T, s storage.Storage) {
	u := createUser(t, s)
	c := createClient(t, s)
	keep := createClient(t, s)
	r := createAuthRequest(t, s, c.ID)
	rt := createRefreshToken(t, s, u.ID, c.ID)
	keepR := createAuthRequest(t, s, keep.ID)
	keepRT := createRefreshToken(t, s, u.ID, keep.ID)

	must(t, s.DeleteClient(t.Context(), c.ID), "DeleteClient")
	_, err := s.GetAuthRequest(t.Context(), r.ID, r.CreatedAt)
	wantErr(t, err, storage.ErrNotFound, "GetAuthRequest of a deleted client's request")
	_, err = s.GetRefreshTokenByHash(t.Context(), rt.TokenHash)
	wantErr(t, err, storage.ErrNotFound, "GetRefreshTokenByHash of a deleted client's token")
	if _, err := s.GetAuthRequest(t.Context(), keepR.ID, keepR.CreatedAt); err != nil {
		t.Errorf("GetAuthRequest of another client's request: %v", err)
	}
	if _, err := s.GetRefreshTokenByHash(t.Context(), keepRT.TokenHash); err != nil {
		t.Errorf("GetRefreshTokenByHash of another client's token: %v", err)
	}
}

func clientList(t *testing.T, s storage.Storage) {
	// Fixture IDs sort in creation order, so ties on CreatedAt do not
	// change the expected order.
	var cs []*storage.Client
	for range 5 {
		cs = append(cs, createClient(t, s))
	}
	want := reverse(ids(cs, clientIDOf))

	all, err := s.ListClients(t.Context(), storage.Page{})
	must(t, err, "ListClients")
	sameOrder(t, "ListClients", ids(all, clientIDOf), want)
	if len(all) == len(cs) {
		sameClient(t, all[0], cs[len(cs)-1])
	}

	var paged []string
	for off := 0; off < 6; off += 2 {
		page, err := s.ListClients(t.Context(), storage.Page{Limit: 2, Offset: off})
		must(t, err, "ListClients")
		if wantLen := min(2, len(cs)-off); len(page) != wantLen {
			t.Errorf("ListClients(Limit 2, Offset %d) = %d clients, want %d", off, len(page), wantLen)
		}
		paged = append(paged, ids(page, clientIDOf)...)
	}
	sameOrder(t, "ListClients pages", paged, want)

	must(t, s.DeleteClient(t.Context(), cs[2].ID), "DeleteClient")
	all, err = s.ListClients(t.Context(), storage.Page{})
	must(t, err, "ListClients")
	sameOrder(t, "ListClients after a delete", ids(all, clientIDOf), []string{want[0], want[1], want[3], want[4]})
}
