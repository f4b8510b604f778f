package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/usher-id/usher/federation"
	"github.com/usher-id/usher/storage"
	"github.com/usher-id/usher/users"
)

// upstreamLoginTTL is how long a round trip to an upstream may take.
const upstreamLoginTTL = 10 * time.Minute

// PathUpstreamCallback is where upstream providers send the browser back;
// register it (on the issuer) with each upstream.
const PathUpstreamCallback = "/sso/callback"

// PathSAMLFinish is where the page after the SAML ACS posts the IdP's
// answer, from this site, so that the browser's cookies come with it.
const PathSAMLFinish = "/sso/saml/finish"

// connectionButton is a "Continue with ..." button.
type connectionButton struct {
	Slug, DisplayName, IconURL string
}

// socialButtons lists the enabled connections offered as buttons:
// enterprise connections are reached by email domain instead.
func (h *Handler) socialButtons(ctx context.Context) []connectionButton {
	if h.opts.Federation == nil {
		return nil
	}
	all, err := h.opts.Store.ListConnections(ctx)
	if err != nil {
		h.opts.Log.Error("list connections", "err", err)
		return nil
	}
	var out []connectionButton
	for _, c := range all {
		if c.Enabled && len(c.EmailDomains) == 0 && c.Type != storage.ConnectionSAML {
			out = append(out, connectionButton{Slug: c.Slug, DisplayName: c.DisplayName, IconURL: c.IconURL})
		}
	}
	return out
}

// connectionForEmail is the enabled connection serving the email's
// domain, if any (home-realm discovery).
func (h *Handler) connectionForEmail(ctx context.Context, email string) *storage.Connection {
	if h.opts.Federation == nil {
		return nil
	}
	_, domain, _ := strings.Cut(strings.ToLower(email), "@")
	all, err := h.opts.Store.ListConnections(ctx)
	if err != nil {
		h.opts.Log.Error("list connections", "err", err)
		return nil
	}
	for _, c := range all {
		if c.Enabled && slices.Contains(c.EmailDomains, domain) {
			return c
		}
	}
	return nil
}

// upstreamStart sends the browser to the connection named in the path.
func (h *Handler) upstreamStart(w http.ResponseWriter, r *http.Request) error {
	c, err := h.opts.Store.GetConnectionBySlug(r.Context(), cleanID(r.PathValue("slug")))
	if errors.Is(err, storage.ErrNotFound) || (err == nil && !c.Enabled) {
		return backToSignIn(http.StatusNotFound, t("sso.unknown"))
	}
	if err != nil {
		return err
	}
	if r.PostFormValue("link") == "1" {
		// A signed-in user connecting another way to sign in: no sign-in
		// flow, the session says who.
		s := h.opts.Sessions.Use(r)
		if s == nil {
			http.Redirect(w, r, PathSignIn, http.StatusSeeOther)
			return nil
		}
		return h.goUpstream(w, r, c, nil, s.UserID, "")
	}
	// A Continue-with button is a first factor: it may be pressed before
	// or after typing an address.
	return h.atStep(func(w http.ResponseWriter, r *http.Request, f *flow) error {
		if f.ID == "" {
			if err := h.save(w, r, f, ""); err != nil {
				return err
			}
		}
		return h.goUpstream(w, r, c, f, "", r.PostFormValue("email"))
	}, stepIdentify, stepFirstFactor)(w, r)
}

// goUpstream starts a round trip, for flow f or for linking linkUser: its
// secrets stay on the server, bound to this browser, and only the state
// travels.
func (h *Handler) goUpstream(w http.ResponseWriter, r *http.Request, c *storage.Connection, f *flow, linkUser, loginHint string) error {
	ctx := r.Context()
	conn, err := h.opts.Federation.For(ctx, c)
	if err != nil {
		h.opts.Log.Warn("upstream unavailable", "connection", c.Slug, "err", err)
		return backToSignIn(http.StatusBadGateway, tf("sso.unreachable", c.DisplayName))
	}
	round := federation.NewRound()
	now := h.opts.Now().UTC()
	if err := h.opts.Store.CreateUpstreamLogin(ctx, &storage.UpstreamLogin{
		StateHash: federation.StateHash(round.State), ConnectionID: c.ID, BrowserHash: h.opts.Sessions.BrowserHash(w, r), PKCEVerifier: round.Verifier,
		Nonce: round.Nonce, FlowID: f.id(), LinkUserID: linkUser, CreatedAt: now, ExpiresAt: now.Add(upstreamLoginTTL),
	}); err != nil {
		return err
	}
	to, err := conn.AuthURL(ctx, round)
	if err != nil {
		return err
	}
	if loginHint != "" {
		to += "&" + url.Values{"login_hint": {loginHint}}.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// upstreamCallback finishes a round trip: the state must name a round
// this browser started and not used yet; the upstream's answer must
// verify. Then the identity signs in the user it is linked to, links to
// the user who owns its verified email, or creates a user.
func (h *Handler) upstreamCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	return h.finishUpstream(w, r, q.Get("state"), q)
}

// maxStateLen bounds the state (OpenID Connect) or RelayState (SAML) a
// round trip comes back with.
const maxStateLen = 256

// finishUpstream uses the round named by state, once, in the browser that
// started it, and has the connection check its answer (the callback's
// query, or the form posted to the SAML ACS).
func (h *Handler) finishUpstream(w http.ResponseWriter, r *http.Request, state string, answer map[string][]string) error {
	ctx := r.Context()
	if state == "" || len(state) > maxStateLen {
		return backToSignIn(http.StatusBadRequest, t("sso.expired"))
	}
	login, err := h.opts.Store.UseUpstreamLogin(ctx, federation.StateHash(state), h.opts.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return backToSignIn(http.StatusBadRequest, t("sso.expired"))
	}
	if err != nil {
		return err
	}
	if !h.opts.Sessions.SameBrowser(r, login.BrowserHash) {
		return backToSignIn(http.StatusBadRequest, t("sso.other_browser"))
	}
	c, err := h.opts.Store.GetConnection(ctx, login.ConnectionID)
	if err != nil {
		return backToSignIn(http.StatusBadRequest, t("sso.unknown"))
	}
	conn, err := h.opts.Federation.For(ctx, c)
	if err == nil {
		var id *federation.Identity
		id, err = conn.Finish(ctx, federation.Round{State: state, Nonce: login.Nonce, Verifier: login.PKCEVerifier}, answer)
		if err == nil {
			return h.upstreamIdentity(w, r, c, login, id)
		}
	}
	h.opts.Log.Warn("upstream sign-in failed", "connection", c.Slug, "err", err)
	if errors.Is(err, federation.ErrUnreachable) {
		return backToSignIn(http.StatusBadGateway, tf("sso.unreachable", c.DisplayName))
	}
	return backToSignIn(http.StatusBadRequest, tf("sso.refused", c.DisplayName))
}

// maxSAMLFormBytes bounds the form an IdP posts to the ACS, and the
// continue page's form: a signed SAML response with its certificates is
// a few tens of kilobytes, far more than any page's form.
const maxSAMLFormBytes = 1 << 20

// parseBoundedForm reads a POST body of at most limit bytes.
func parseBoundedForm(w http.ResponseWriter, r *http.Request, limit int64) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return failure(http.StatusRequestEntityTooLarge, t("error.too_large"))
		}
		return failure(http.StatusBadRequest, t("error.bad_form"))
	}
	return nil
}

// samlAnswer is the SAMLResponse and RelayState of a posted form, or a
// page refusing it.
func samlAnswer(w http.ResponseWriter, r *http.Request) (response, relayState string, err error) {
	if err := parseBoundedForm(w, r, maxSAMLFormBytes); err != nil {
		return "", "", err
	}
	response, relayState = r.PostForm.Get("SAMLResponse"), r.PostForm.Get("RelayState")
	if response == "" || relayState == "" || len(relayState) > maxStateLen {
		return "", "", failure(http.StatusBadRequest, t("sso.saml_bad_answer"))
	}
	return response, relayState, nil
}

// samlACS receives the IdP's answer. The IdP's page posts it from another
// site, so the browser sends none of its SameSite=Lax cookies and the
// round cannot be checked here: a page hands the answer on, with a
// same-site post, to samlFinish. The page has no CSRF token: it sets no
// cookie in a response the browser's own cookies did not come with.
func (h *Handler) samlACS(w http.ResponseWriter, r *http.Request) error {
	response, relayState, err := samlAnswer(w, r)
	if err != nil {
		return err
	}
	// The post came without the browser's cookies: CSRF is set so that
	// rendering does not replace the browser's CSRF cookie.
	h.render(w, r, http.StatusOK, "saml_continue", &view{Title: t("sso.saml_continue_title"), SAMLResponse: response,
		RelayState: relayState, CSRF: "-"})
	return nil
}

// samlFinish finishes a SAML sign-in with the answer the continue page
// posts, like the OpenID Connect callback: the RelayState names a round
// this browser started, used once. No CSRF token is needed: a forged post
// would need a round started, unused, in the victim's browser.
func (h *Handler) samlFinish(w http.ResponseWriter, r *http.Request) error {
	_, relayState, err := samlAnswer(w, r)
	if err != nil {
		return err
	}
	return h.finishUpstream(w, r, relayState, r.PostForm)
}

// upstreamIdentity applies the linking rules: an identity is (connection,
// subject), never an email; an email links to an existing user only when
// the upstream says it is verified.
func (h *Handler) upstreamIdentity(w http.ResponseWriter, r *http.Request, c *storage.Connection, login *storage.UpstreamLogin, id *federation.Identity) error {
	ctx := r.Context()
	now := h.opts.Now().UTC()
	verified := id.EmailVerified || c.TrustEmailVerified
	email, emailErr := users.ValidateEmail(id.Email)
	amr := id.AMR
	if len(amr) == 0 {
		amr = []string{"ext"}
	}
	ext, err := h.opts.Store.GetExternalIdentity(ctx, c.ID, id.Subject)
	switch {
	case err == nil:
		ext.Email, ext.EmailVerified, ext.LastSignInAt = id.Email, verified, now
		h.keepTokens(c, ext, id)
		if err := h.opts.Store.UpdateExternalIdentity(ctx, ext); err != nil {
			return err
		}
		if login.LinkUserID != "" && login.LinkUserID != ext.UserID {
			return backToSignIn(http.StatusConflict, tf("sso.linked_elsewhere", c.DisplayName))
		}
		u, err := h.opts.Store.GetUser(ctx, ext.UserID)
		if err != nil {
			return err
		}
		if login.LinkUserID != "" {
			return done(w, r, "account.connected")
		}
		return h.upstreamSignIn(w, r, u, amr, login)
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}

	link := &storage.ExternalIdentity{ConnectionID: c.ID, Subject: id.Subject, Email: id.Email, EmailVerified: verified, CreatedAt: now, LastSignInAt: now}
	h.keepTokens(c, link, id)
	if login.LinkUserID != "" {
		// A signed-in user connecting another way to sign in.
		if s := h.opts.Sessions.Use(r); s == nil || s.UserID != login.LinkUserID {
			return backToSignIn(http.StatusForbidden, t("sso.link_signed_out"))
		}
		link.UserID = login.LinkUserID
		if err := h.opts.Store.CreateExternalIdentity(ctx, link); err != nil {
			return err
		}
		return done(w, r, "account.connected")
	}
	if emailErr != nil {
		return backToSignIn(http.StatusBadRequest, tf("sso.no_email", c.DisplayName))
	}
	existing, err := h.opts.Store.GetUserByEmail(ctx, email)
	switch {
	case err == nil && verified:
		link.UserID = existing.ID
		if err := h.opts.Store.CreateExternalIdentity(ctx, link); err != nil {
			return err
		}
		return h.upstreamSignIn(w, r, existing, amr, login)
	case err == nil:
		return backToSignIn(http.StatusConflict, tf("sso.link_first", c.DisplayName))
	case !errors.Is(err, storage.ErrNotFound):
		return err
	case !c.AllowSignUp:
		return backToSignIn(http.StatusForbidden, tf("sso.no_sign_up", c.DisplayName))
	}
	u, err := h.opts.Users.Create(ctx, users.NewUser{Email: email, EmailVerified: verified, FirstName: id.FirstName, LastName: id.LastName,
		ImageURL: id.ImageURL, NoPassword: true, Identity: link})
	if err != nil {
		return err
	}
	return h.upstreamSignIn(w, r, u, amr, login)
}

// upstreamSignIn proves the first factor of the flow the round trip was
// started in (a new one when it is over).
func (h *Handler) upstreamSignIn(w http.ResponseWriter, r *http.Request, u *storage.User, amr []string, login *storage.UpstreamLogin) error {
	if u.Banned {
		return backToSignIn(http.StatusForbidden, t("signin.failed"))
	}
	if until, locked, err := h.opts.Users.CheckLocked(r.Context(), u.ID); err != nil {
		return err
	} else if locked {
		return backToSignIn(http.StatusForbidden, lockedMessage(until))
	}
	f, err := h.loadFlow(r, login.FlowID)
	if err != nil || (f.Step != stepIdentify && f.Step != stepFirstFactor) {
		f = h.newFlow("")
	}
	return h.authenticated(w, r, f, u, factorUpstream, amr)
}

// keepTokens seals the upstream's tokens into the link when the
// connection keeps them.
func (h *Handler) keepTokens(c *storage.Connection, e *storage.ExternalIdentity, id *federation.Identity) {
	if !c.StoreTokens || h.opts.SealToken == nil {
		return
	}
	if id.AccessToken != "" {
		e.AccessToken = h.opts.SealToken([]byte(id.AccessToken), "upstream-access:"+c.ID+":"+id.Subject)
	}
	if id.RefreshToken != "" {
		e.RefreshToken = h.opts.SealToken([]byte(id.RefreshToken), "upstream-refresh:"+c.ID+":"+id.Subject)
	}
}

// identityView is a connected account on the profile page.
type identityView struct {
	ID, Connection, Email string
}

// unlinkIdentity removes a connected account, unless it is the user's
// last way to sign in (no password, no verified address, no other link).
func (h *Handler) unlinkIdentity(w http.ResponseWriter, r *http.Request, s *storage.Session, u *storage.User) error {
	ctx := r.Context()
	links, err := h.opts.Store.ListUserExternalIdentities(ctx, u.ID)
	if err != nil {
		return err
	}
	id := cleanID(r.PostFormValue("id"))
	i := slices.IndexFunc(links, func(e *storage.ExternalIdentity) bool { return e.ID == id })
	if i < 0 {
		return done(w, r, "account.disconnected")
	}
	hasVerified := slices.ContainsFunc(u.Emails, func(e storage.EmailAddress) bool { return e.Verified })
	if u.PasswordHash == "" && !hasVerified && len(links) == 1 {
		return h.accountAgain(w, r, s, u, http.StatusConflict, t("account.last_way"))
	}
	if err := h.opts.Store.DeleteExternalIdentity(ctx, id); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	return done(w, r, "account.disconnected")
}

// samlMetadata serves Usher's SP metadata for a SAML connection, for the
// IdP's administrator to load.
func (h *Handler) samlMetadata(w http.ResponseWriter, r *http.Request) {
	if h.opts.Federation == nil {
		http.NotFound(w, r)
		return
	}
	c, err := h.opts.Store.GetConnectionBySlug(r.Context(), cleanID(r.PathValue("slug")))
	if err != nil || c.Type != storage.ConnectionSAML || !c.Enabled {
		http.NotFound(w, r)
		return
	}
	out, err := h.opts.Federation.SAMLMetadata(r.Context(), c)
	if err != nil {
		h.opts.Log.Warn("SAML metadata", "connection", c.Slug, "err", err)
		http.Error(w, "the IdP's metadata cannot be read", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(out)
}

// backToSignIn ends a federated sign-in on the sign-in page, with why.
func backToSignIn(status int, message string) *pageError {
	return &pageError{Status: status, Message: message, SignIn: true}
}
