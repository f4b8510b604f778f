package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/usher-id/usher/provider"
	"github.com/usher-id/usher/session"
	"github.com/usher-id/usher/storage"
)

// Signing in is a sequence of steps carried by one record bound to the
// browser (storage.SignInFlow, kept by package session). Each step is an
// entry below with a page of its own; a step that does not apply is
// skipped, and the step a flow is at decides which forms it may post to,
// so no step is skipped by posting to a later one. The session starts once
// the steps before the first afterSignIn one are behind; the flow ends by
// completing the application's authorization request (provider.Complete)
// or, on Usher's own pages, at the page it was started for.
//
// Adding a step (a second factor, choosing an organization) is adding an
// entry here, a page and the handler its form posts to.

// The steps, in order.
const (
	stepIdentify    = "identify"     // who: an email address, or a Continue-with button
	stepFirstFactor = "first_factor" // a password, an emailed code or link, an upstream, a reset
	stepVerifyEmail = "verify_email" // a code sent to an address not yet proven
	stepConsent     = "consent"      // a third-party application asks for the user's permission
)

// How a first factor was proven (SignInFlow.Factor).
const (
	factorPassword = "password"
	factorEmail    = "email"    // an emailed code or link
	factorReset    = "reset"    // a reset code or link, and a new password
	factorSignUp   = "sign_up"  // a new account, proven by verifying its address
	factorUpstream = "upstream" // an upstream identity provider
)

type step struct {
	name string
	// afterSignIn steps run with the browser signed in.
	afterSignIn bool
	// needed reports whether the step applies to f; nil means always.
	needed func(h *Handler, r *http.Request, f *flow) (bool, error)
	// enter sends the browser to the step; nil means its page,
	// page?flow=ID.
	enter func(h *Handler, w http.ResponseWriter, r *http.Request, f *flow) error
	page  string
}

var steps []step

func init() {
	steps = []step{
		{name: stepIdentify, page: PathSignIn},
		{name: stepFirstFactor, page: PathSignIn},
		{name: stepVerifyEmail, needed: (*Handler).emailUnproven, enter: (*Handler).sendVerification},
		{name: stepConsent, afterSignIn: true, needed: (*Handler).consentNeeded, page: pathConsent},
	}
}

func stepIndex(name string) int {
	return slices.IndexFunc(steps, func(s step) bool { return s.name == name })
}

// flow is a sign-in flow with the authorization request it ends in.
type flow struct {
	*storage.SignInFlow
	req *provider.Request // nil on Usher's own pages, or when the request is over
}

// request is what the pages show of the application being signed in to.
func (f *flow) request() *pendingView {
	if f == nil || f.req == nil {
		return nil
	}
	return &pendingView{ID: f.req.ID, ClientName: f.req.ClientName, LoginHint: f.req.LoginHint}
}

func (f *flow) id() string {
	if f == nil {
		return ""
	}
	return f.ID
}

// loadFlow returns the live flow id of this browser.
func (h *Handler) loadFlow(r *http.Request, id string) (*flow, error) {
	sf, err := h.opts.Sessions.Flow(r, id)
	switch {
	case errors.Is(err, session.ErrFlowOver):
		return nil, failure(http.StatusBadRequest, t("flow.over"))
	case errors.Is(err, session.ErrFlowElsewhere):
		return nil, failure(http.StatusForbidden, t("flow.elsewhere"))
	case err != nil:
		return nil, err
	}
	f := &flow{SignInFlow: sf}
	if sf.AuthRequestID != "" {
		f.req, err = h.opts.Provider.Request(r.Context(), sf.AuthRequestID)
		if err != nil && !errors.Is(err, provider.ErrRequestOver) {
			return nil, err
		}
	}
	return f, nil
}

// optionalFlow is the flow the request names, nil when it names none.
func (h *Handler) optionalFlow(r *http.Request) (*flow, error) {
	id := r.FormValue("flow")
	if id == "" {
		return nil, nil
	}
	return h.loadFlow(r, id)
}

// pageFlow is the flow a page's URL names, for showing the page: a flow
// that is over or another browser's is ignored, and the plain page shown.
func (h *Handler) pageFlow(r *http.Request) (*flow, error) {
	f, err := h.optionalFlow(r)
	var pe *pageError
	if errors.As(err, &pe) {
		return nil, nil
	}
	return f, err
}

// newFlow starts a flow on Usher's own pages, to end at next (a local
// path; the account page when empty). It is stored when it first moves.
func (h *Handler) newFlow(next string) *flow {
	return &flow{SignInFlow: &storage.SignInFlow{Step: stepIdentify, Next: localPath(next)}}
}

// atStep adapts the handler of a flow step's form: the form names a live
// flow of this browser that is at one of the steps given. A form without a
// flow starts one when the first step given is stepIdentify (the forms
// that begin signing in).
func (h *Handler) atStep(fn func(w http.ResponseWriter, r *http.Request, f *flow) error, at ...string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		f, err := h.optionalFlow(r)
		if err != nil {
			return err
		}
		if f == nil {
			if at[0] != stepIdentify {
				return failure(http.StatusConflict, t("flow.out_of_step"))
			}
			f = h.newFlow(r.PostFormValue("next"))
		}
		if !slices.Contains(at, f.Step) {
			return failure(http.StatusConflict, t("flow.out_of_step"))
		}
		return fn(w, r, f)
	}
}

// save stores f, which was at step from: a new flow is created, a stored
// one moved on only if no other request moved it first.
func (h *Handler) save(w http.ResponseWriter, r *http.Request, f *flow, from string) error {
	if f.ID == "" {
		return h.opts.Sessions.StartFlow(w, r, f.SignInFlow)
	}
	err := h.opts.Sessions.MoveFlow(r, f.SignInFlow, from)
	if errors.Is(err, session.ErrFlowOver) {
		return failure(http.StatusConflict, t("flow.over"))
	}
	return err
}

// moveTo puts f at step to and sends the browser to that step's page.
func (h *Handler) moveTo(w http.ResponseWriter, r *http.Request, f *flow, to string) error {
	from := f.Step
	f.Step = to
	if err := h.save(w, r, f, from); err != nil {
		return err
	}
	http.Redirect(w, r, steps[stepIndex(to)].page+"?"+url.Values{"flow": {f.ID}}.Encode(), http.StatusSeeOther)
	return nil
}

// proceed moves f past its current step to the next one that applies and
// sends the browser there, signing the browser in when the steps before
// signing in are behind it; when no step is left, the sign-in is done.
func (h *Handler) proceed(w http.ResponseWriter, r *http.Request, f *flow) error {
	from := f.Step
	signIn := false // the session recorded in f is started once f is saved
	for _, s := range steps[stepIndex(from)+1:] {
		if s.afterSignIn && f.SessionID == "" {
			h.recordSession(f)
			signIn = true
		}
		if !s.afterSignIn && f.SessionID != "" {
			continue // signed in already (single sign-on)
		}
		if s.needed != nil {
			need, err := s.needed(h, r, f)
			if err != nil {
				return err
			}
			if !need {
				continue
			}
		}
		if f.req != nil && f.req.PromptNone() {
			// The application asked for no pages: what would need one is
			// its answer.
			h.opts.Provider.Decline(w, r, f.req.ID, provider.ErrConsentRequired)
			return nil
		}
		f.Step = s.name
		if err := h.save(w, r, f, from); err != nil {
			return err
		}
		if signIn {
			if err := h.startSession(w, r, f); err != nil {
				return err
			}
		}
		if s.enter != nil {
			return s.enter(h, w, r, f)
		}
		http.Redirect(w, r, s.page+"?"+url.Values{"flow": {f.ID}}.Encode(), http.StatusSeeOther)
		return nil
	}
	return h.finish(w, r, f, from, signIn)
}

// recordSession names the session the flow will start, before it is
// saved: of two requests that race to move the flow on, only the one whose
// save wins starts it.
func (h *Handler) recordSession(f *flow) {
	f.SessionID, f.AuthTime = storage.NewID(storage.PrefixSession), h.opts.Now().UTC().Truncate(time.Microsecond)
}

// startSession signs the browser in as the flow's user, with the session
// recordSession named.
func (h *Handler) startSession(w http.ResponseWriter, r *http.Request, f *flow) error {
	if _, err := h.opts.Sessions.SignInAs(w, r, f.SessionID, f.UserID, f.AMR, f.AuthTime); err != nil {
		return err
	}
	h.remember(w, f.UserID)
	return nil
}

// finish ends the flow: the application's request is completed (in the
// browser that started it), or the browser goes where the flow was
// started for.
func (h *Handler) finish(w http.ResponseWriter, r *http.Request, f *flow, from string, signIn bool) error {
	if f.SessionID == "" {
		h.recordSession(f)
		signIn = true
	}
	if f.ID != "" {
		f.Step = session.StepDone
		if err := h.save(w, r, f, from); err != nil {
			return err
		}
	}
	if signIn {
		if err := h.startSession(w, r, f); err != nil {
			return err
		}
	}
	if f.req != nil {
		h.opts.Provider.Complete(w, r, f.req.ID, provider.Authentication{UserID: f.UserID, SessionID: f.SessionID,
			AMR: f.AMR, AuthTime: f.AuthTime})
		return nil
	}
	next := PathAccount
	if f.Next != "" {
		next = f.Next
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// authenticated records a proven first factor on f and moves on.
func (h *Handler) authenticated(w http.ResponseWriter, r *http.Request, f *flow, u *storage.User, factor string, amr []string) error {
	if f.Step == stepIdentify && f.Email == "" {
		f.Email = u.PrimaryEmail().Email
	}
	f.UserID, f.Factor = u.ID, factor
	for _, m := range amr {
		if !slices.Contains(f.AMR, m) {
			f.AMR = append(f.AMR, m)
		}
	}
	if f.Step == stepIdentify {
		// The steps that prove who the user is are behind: a Continue-with
		// button skips typing the address.
		f.Step = stepFirstFactor
		if f.ID != "" {
			if err := h.save(w, r, f, stepIdentify); err != nil {
				return err
			}
		}
	}
	return h.proceed(w, r, f)
}

// SignIn implements provider.Interaction: an application's authorization
// request starts a flow in this browser. A browser whose session already
// satisfies the request goes through the steps after signing in only, and
// straight back to the application when none applies.
func (h *Handler) SignIn(w http.ResponseWriter, r *http.Request, req *provider.Request, auth *provider.Authentication) {
	f := &flow{SignInFlow: &storage.SignInFlow{Step: stepIdentify, AuthRequestID: req.ID, Email: req.LoginHint}, req: req}
	if auth == nil {
		if err := h.save(w, r, f, ""); err != nil {
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, PathSignIn+"?"+url.Values{"flow": {f.ID}}.Encode(), http.StatusFound)
		return
	}
	if s := h.opts.Sessions.Use(r); s == nil || s.ID != auth.SessionID {
		h.fail(w, r, failure(http.StatusConflict, t("flow.over")))
		return
	}
	f.UserID, f.SessionID, f.AMR, f.AuthTime, f.Step = auth.UserID, auth.SessionID, auth.AMR, auth.AuthTime, stepFirstFactor
	if err := h.proceed(w, r, f); err != nil {
		h.fail(w, r, err)
	}
}

// Problem implements provider.Interaction.
func (h *Handler) Problem(w http.ResponseWriter, r *http.Request, p provider.Problem) {
	switch p {
	case provider.OtherBrowser:
		h.fail(w, r, failure(http.StatusForbidden, t("flow.elsewhere")))
	case provider.RequestURIUnsupported:
		h.fail(w, r, failure(http.StatusBadRequest, t("flow.request_uri")))
	default:
		h.fail(w, r, failure(http.StatusBadRequest, t("flow.request_over")))
	}
}

// ---- the steps' conditions and entries ----

// emailUnproven: a password opens the account only once its address is
// proven; an account made at sign-up proves it to become usable.
func (h *Handler) emailUnproven(r *http.Request, f *flow) (bool, error) {
	if f.Factor != factorPassword && f.Factor != factorSignUp {
		return false, nil
	}
	u, err := h.opts.Store.GetUser(r.Context(), f.UserID)
	if err != nil {
		return false, err
	}
	return !u.PrimaryEmail().Verified, nil
}

// sendVerification emails a code to the flow user's primary address and
// shows the code page.
func (h *Handler) sendVerification(w http.ResponseWriter, r *http.Request, f *flow) error {
	u, err := h.opts.Store.GetUser(r.Context(), f.UserID)
	if err != nil {
		return err
	}
	ch, err := h.issue(w, r, u, u.PrimaryEmail(), storage.ChallengeVerifyEmail, f.ID)
	if err != nil {
		return err
	}
	http.Redirect(w, r, codePagePath(ch.Purpose, ch.ID, ch.Email, f.ID), http.StatusSeeOther)
	return nil
}

func (h *Handler) consentNeeded(r *http.Request, f *flow) (bool, error) {
	if f.req == nil {
		return false, nil
	}
	return h.opts.Provider.NeedsConsent(r.Context(), f.req, f.UserID)
}
