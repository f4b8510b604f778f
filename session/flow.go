package session

import (
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/usher-id/usher/storage"
)

// Errors of Flow.
var (
	// ErrFlowOver means the sign-in flow is unknown, finished or expired.
	ErrFlowOver = errors.New("session: the sign-in is over or has expired")
	// ErrFlowElsewhere means the flow belongs to another browser.
	ErrFlowElsewhere = errors.New("session: the sign-in was started in another browser")
)

// StartFlow stores a new sign-in flow bound to this browser. f.Step must
// be set; the ID, browser hash and times are filled in.
func (m *Manager) StartFlow(w http.ResponseWriter, r *http.Request, f *storage.SignInFlow) error {
	now := m.opts.Now().UTC()
	f.ID = ""
	f.BrowserHash = m.BrowserHash(w, r)
	f.CreatedAt, f.UpdatedAt, f.ExpiresAt = now, now, now.Add(m.opts.FlowLifetime)
	return m.opts.Store.CreateSignInFlow(r.Context(), f)
}

// Flow returns the sign-in flow id when it is live and this browser's:
// ErrFlowOver or ErrFlowElsewhere otherwise.
func (m *Manager) Flow(r *http.Request, id string) (*storage.SignInFlow, error) {
	if id == "" || len(id) > 64 || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		// No flow has such an ID, and some databases refuse to even look
		// it up.
		return nil, ErrFlowOver
	}
	f, err := m.opts.Store.GetSignInFlow(r.Context(), id, m.opts.Now())
	if errors.Is(err, storage.ErrNotFound) || (err == nil && f.Step == StepDone) {
		return nil, ErrFlowOver
	}
	if err != nil {
		return nil, err
	}
	if !m.SameBrowser(r, f.BrowserHash) {
		return nil, ErrFlowElsewhere
	}
	return f, nil
}

// StepDone is the step of a finished flow: it can no longer be used.
const StepDone = "done"

// MoveFlow saves f, which was at step from when it was read. Of two
// requests that move one flow on from the same step, one succeeds; the
// other gets ErrFlowOver.
func (m *Manager) MoveFlow(r *http.Request, f *storage.SignInFlow, from string) error {
	f.UpdatedAt = m.opts.Now().UTC()
	err := m.opts.Store.UpdateSignInFlow(r.Context(), f, from)
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return ErrFlowOver
	}
	return err
}
