package clients

import (
	"context"
	"errors"
	"fmt"

	"github.com/usher-id/usher/storage"
)

var (
	// ErrNotFound means there is no client with the id given.
	ErrNotFound = errors.New("clients: no such client")
	// ErrInvalidClient means client authentication failed: unknown client,
	// a client that has no secret, or a wrong secret. Which one is not
	// said, on purpose.
	ErrInvalidClient = errors.New("clients: invalid client")
	// ErrNoSecret means the client does not authenticate with a secret
	// (it is public or uses private_key_jwt), so it has none to rotate.
	ErrNoSecret = errors.New("clients: the client does not use a secret")
	// ErrExists means a client with that id already exists.
	ErrExists = errors.New("clients: a client with that id already exists")
)

// Store is what a Service needs; storage.Clients is one.
type Store interface {
	CreateClient(ctx context.Context, c *storage.Client) error
	GetClient(ctx context.Context, id string) (*storage.Client, error)
	UpdateClient(ctx context.Context, c *storage.Client) error
	DeleteClient(ctx context.Context, id string) error
	ListClients(ctx context.Context, page storage.Page) ([]*storage.Client, error)
}

// Service creates, changes and authenticates clients.
type Service struct {
	store   Store
	secrets *Secrets
}

// NewService returns a Service keeping clients in store and hashing their
// secrets with secrets. secrets may be nil for a Service used only to Get,
// List and Delete.
func NewService(store Store, secrets *Secrets) *Service {
	return &Service{store: store, secrets: secrets}
}

// Create applies defaults to c, validates it and stores it, giving it an id
// when it has none. A public client authenticates with none and gets no
// secret (it must use PKCE); a confidential client using client_secret_basic
// or client_secret_post gets a new secret, returned here once: only its hash
// is stored.
func (s *Service) Create(ctx context.Context, c *storage.Client, public bool) (secret string, err error) {
	if public {
		if c.AuthMethod != "" && c.AuthMethod != AuthNone {
			return "", &ValidationError{Problems: []Problem{{"token_endpoint_auth_method",
				fmt.Sprintf("a public client authenticates with none, not %s", c.AuthMethod)}}}
		}
		c.AuthMethod = AuthNone
	}
	ApplyDefaults(c)
	if err := Validate(c); err != nil {
		return "", err
	}
	if c.ID == "" {
		c.ID = storage.NewID(storage.PrefixClient)
	}
	c.SecretHash = nil
	if UsesSecret(c.AuthMethod) {
		secret, c.SecretHash = s.secrets.Generate()
	}
	if err := s.store.CreateClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return "", fmt.Errorf("%w: %s", ErrExists, c.ID)
		}
		return "", fmt.Errorf("clients: create %s: %w", c.ID, err)
	}
	return secret, nil
}

// Update validates c and writes it. Pass a record that Get returned: its
// secret hash is written back as it is, except that a client that no longer
// authenticates with a secret loses it. A client switched to a secret
// method has none until RotateSecret gives it one.
func (s *Service) Update(ctx context.Context, c *storage.Client) error {
	if err := Validate(c); err != nil {
		return err
	}
	if !UsesSecret(c.AuthMethod) {
		c.SecretHash = nil
	}
	if err := s.store.UpdateClient(ctx, c); err != nil {
		return s.mapErr("update", c.ID, err)
	}
	return nil
}

// RotateSecret gives the client a new secret and returns it. The old one
// stops working at once.
func (s *Service) RotateSecret(ctx context.Context, id string) (string, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return "", err
	}
	if !UsesSecret(c.AuthMethod) {
		return "", fmt.Errorf("%w: %s authenticates with %s", ErrNoSecret, id, c.AuthMethod)
	}
	secret, hash := s.secrets.Generate()
	c.SecretHash = hash
	if err := s.store.UpdateClient(ctx, c); err != nil {
		return "", s.mapErr("rotate secret of", id, err)
	}
	return secret, nil
}

// dummyHash is compared against when there is no real hash, so a failed
// authentication takes as long as a successful one.
var dummyHash = make([]byte, 32)

// Authenticate checks a client_id and client_secret pair and returns the
// client. Any failure is ErrInvalidClient; other errors are faults of the
// store.
func (s *Service) Authenticate(ctx context.Context, id, secret string) (*storage.Client, error) {
	c, err := s.store.GetClient(ctx, id)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("clients: authenticate %s: %w", id, err)
	}
	usable := err == nil && UsesSecret(c.AuthMethod) && len(c.SecretHash) > 0
	hash := dummyHash
	if usable {
		hash = c.SecretHash
	}
	if ok := s.secrets.Verify(secret, hash); !ok || !usable {
		return nil, ErrInvalidClient
	}
	return c, nil
}

// VerifySecret reports whether secret is c's secret, for a caller that
// already holds the record (a cache). It takes the same time whether or not
// c uses a secret.
func (s *Service) VerifySecret(c *storage.Client, secret string) bool {
	usable := UsesSecret(c.AuthMethod) && len(c.SecretHash) > 0
	hash := dummyHash
	if usable {
		hash = c.SecretHash
	}
	return s.secrets.Verify(secret, hash) && usable
}

// Get returns the client with that id, or ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (*storage.Client, error) {
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		return nil, s.mapErr("get", id, err)
	}
	return c, nil
}

// Delete removes the client, or returns ErrNotFound. Its authorization
// requests and refresh tokens go with it; access tokens already issued
// stay valid until they expire.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return s.mapErr("delete", id, err)
	}
	return nil
}

// List returns a page of clients, newest first.
func (s *Service) List(ctx context.Context, page storage.Page) ([]*storage.Client, error) {
	cs, err := s.store.ListClients(ctx, page)
	if err != nil {
		return nil, fmt.Errorf("clients: list: %w", err)
	}
	return cs, nil
}

func (s *Service) mapErr(op, id string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return fmt.Errorf("clients: %s %s: %w", op, id, err)
}
