package users

import (
	"encoding/json"
	"time"

	"github.com/usher-id/usher/storage"
)

// Public is the user as apps and webhooks see it, with Clerk's field names
// and conventions (times in Unix milliseconds, unset strings as null). It
// never carries the password hash, private metadata or lockout counters.
type Public struct {
	Object                string          `json:"object"` // always "user"
	ID                    string          `json:"id"`
	Username              *string         `json:"username"`
	FirstName             *string         `json:"first_name"`
	LastName              *string         `json:"last_name"`
	ImageURL              string          `json:"image_url"`
	PrimaryEmailAddressID *string         `json:"primary_email_address_id"`
	EmailAddresses        []PublicEmail   `json:"email_addresses"`
	PasswordEnabled       bool            `json:"password_enabled"`
	PublicMetadata        json.RawMessage `json:"public_metadata"`
	UnsafeMetadata        json.RawMessage `json:"unsafe_metadata"`
	Banned                bool            `json:"banned"`
	Locked                bool            `json:"locked"`
	CreatedAt             int64           `json:"created_at"`
	UpdatedAt             int64           `json:"updated_at"`
	LastSignInAt          *int64          `json:"last_sign_in_at"`
	LastActiveAt          *int64          `json:"last_active_at"`
}

// PublicEmail is one of the user's addresses.
type PublicEmail struct {
	Object       string       `json:"object"` // always "email_address"
	ID           string       `json:"id"`
	EmailAddress string       `json:"email_address"`
	Verification Verification `json:"verification"`
}

// Verification says whether an address has been proven to belong to the user.
type Verification struct {
	Status string `json:"status"` // verified or unverified
}

// NewPublic renders u as of now (which decides whether a lock still holds).
func NewPublic(u *storage.User, now time.Time) Public {
	p := Public{
		Object:          "user",
		ID:              u.ID,
		Username:        optional(u.Username),
		FirstName:       optional(u.FirstName),
		LastName:        optional(u.LastName),
		ImageURL:        u.ImageURL,
		EmailAddresses:  make([]PublicEmail, 0, len(u.Emails)),
		PasswordEnabled: u.PasswordHash != "",
		PublicMetadata:  object(u.PublicMetadata),
		UnsafeMetadata:  object(u.UnsafeMetadata),
		Banned:          u.Banned,
		Locked:          !u.LockedUntil.IsZero() && now.Before(u.LockedUntil),
		CreatedAt:       u.CreatedAt.UnixMilli(),
		UpdatedAt:       u.UpdatedAt.UnixMilli(),
		LastSignInAt:    millis(u.LastSignInAt),
		LastActiveAt:    millis(u.LastActiveAt),
	}
	for _, e := range u.Emails {
		status := "unverified"
		if e.Verified {
			status = "verified"
		}
		p.EmailAddresses = append(p.EmailAddresses, PublicEmail{
			Object: "email_address", ID: e.ID, EmailAddress: e.Email, Verification: Verification{Status: status},
		})
		if e.Primary {
			p.PrimaryEmailAddressID = optional(e.ID)
		}
	}
	return p
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func millis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

// object returns metadata as stored, or {} when there is none.
func object(m json.RawMessage) json.RawMessage {
	if len(m) == 0 || string(m) == "null" {
		return json.RawMessage("{}")
	}
	return m
}
