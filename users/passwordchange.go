package users

import (
	"context"
	"errors"

	"github.com/usher-id/usher/storage"
)

// ErrWrongPassword means the current password given to ChangePassword is
// not the user's.
var ErrWrongPassword = errors.New("users: the current password is wrong")

// SetPassword validates password and makes it the user's, replacing any
// other. Callers that reset a forgotten password end the user's other
// sessions themselves.
func (s *Service) SetPassword(ctx context.Context, userID, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	return s.update(ctx, userID, func(u *storage.User) error {
		u.PasswordHash = hash
		return nil
	})
}

// ChangePassword replaces the user's password after checking the current
// one (an account without a password may set one without it).
func (s *Service) ChangePassword(ctx context.Context, u *storage.User, current, next string) error {
	if u.PasswordHash != "" {
		ok, err := s.hasher.Verify(ctx, current, u.PasswordHash)
		if err != nil {
			return err
		}
		if !ok {
			return ErrWrongPassword
		}
	}
	return s.SetPassword(ctx, u.ID, next)
}
