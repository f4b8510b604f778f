package users

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"

	"github.com/usher-id/usher/storage"
)

// EventUserUpdated and EventUserDeleted are appended when a user edits or
// deletes their account. The payload of user.deleted holds only the ID.
const (
	EventUserUpdated = "user.updated"
	EventUserDeleted = "user.deleted"
)

// Profile is what a user may edit about themselves.
type Profile struct {
	FirstName, LastName, Username, ImageURL string
}

// maxImageURL bounds a profile image URL.
const maxImageURL = 2048

// UpdateProfile validates p and writes it, with a user.updated event.
func (s *Service) UpdateProfile(ctx context.Context, userID string, p Profile) error {
	if err := validateName("first_name", p.FirstName); err != nil {
		return err
	}
	if err := validateName("last_name", p.LastName); err != nil {
		return err
	}
	if p.Username != "" {
		if err := validateUsername(p.Username); err != nil {
			return err
		}
	}
	if p.ImageURL != "" {
		u, err := url.Parse(p.ImageURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || len(p.ImageURL) > maxImageURL {
			return &ValidationError{Field: "image_url", Message: "give an https:// address of at most 2048 characters"}
		}
	}
	err := s.store.InTx(ctx, func(tx storage.Tx) error {
		u, err := tx.GetUser(ctx, userID)
		if err != nil {
			return err
		}
		u.FirstName, u.LastName, u.Username, u.ImageURL = p.FirstName, p.LastName, p.Username, p.ImageURL
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		payload, err := json.Marshal(NewPublic(u, s.now()))
		if err != nil {
			return err
		}
		return tx.AppendEvent(ctx, &storage.Event{Type: EventUserUpdated, Payload: payload, CreatedAt: s.now().UTC()})
	})
	if errors.Is(err, storage.ErrConflict) {
		return ErrUsernameTaken
	}
	return err
}

// Delete removes the user and everything stored about them, and revokes
// what they still hold: sessions and refresh and access tokens. A
// user.deleted event is appended in the same transaction.
func (s *Service) Delete(ctx context.Context, userID string) error {
	now := s.now().UTC()
	return s.store.InTx(ctx, func(tx storage.Tx) error {
		if _, err := tx.RevokeUserSessions(ctx, userID, "", now); err != nil {
			return err
		}
		if _, err := tx.RevokeRefreshTokens(ctx, userID, "", now); err != nil {
			return err
		}
		if _, err := tx.RevokeAccessTokens(ctx, userID, "", now); err != nil {
			return err
		}
		if err := tx.DeleteUser(ctx, userID); err != nil {
			return err
		}
		payload, err := json.Marshal(map[string]any{"id": userID, "object": "user", "deleted": true})
		if err != nil {
			return err
		}
		return tx.AppendEvent(ctx, &storage.Event{Type: EventUserDeleted, Payload: payload, CreatedAt: now})
	})
}
