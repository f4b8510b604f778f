package storagetest

import (
	"math/rand/v2"
	"testing"

	"github.com/usher-id/usher/storage"
)

// benchSize is how many records each benchmark seeds before looking them up.
const benchSize = 1000

// RunBenchmarks measures the lookups on the hot paths of sign-in and token
// exchange, each against benchSize seeded records.
func RunBenchmarks(b *testing.B, open Open) {
	b.Run("UserByEmail", func(b *testing.B) {
		s := open(b)
		emails := make([]string, benchSize)
		seed(b, s, func(tx storage.Tx) error {
			for i := range emails {
				u := userFixture()
				if err := tx.CreateUser(b.Context(), u); err != nil {
					return err
				}
				emails[i] = u.Emails[0].Email
			}
			return nil
		})
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			want := emails[rand.IntN(len(emails))]
			u, err := s.GetUserByEmail(b.Context(), want)
			if err != nil {
				b.Fatalf("GetUserByEmail(%q): %v", want, err)
			}
			if len(u.Emails) == 0 {
				b.Fatalf("GetUserByEmail(%q) returned no addresses", want)
			}
		}
	})

	b.Run("ClientByID", func(b *testing.B) {
		s := open(b)
		clients := make([]string, benchSize)
		seed(b, s, func(tx storage.Tx) error {
			for i := range clients {
				c := clientFixture()
				confidentialClient(c)
				if err := tx.CreateClient(b.Context(), c); err != nil {
					return err
				}
				clients[i] = c.ID
			}
			return nil
		})
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			want := clients[rand.IntN(len(clients))]
			c, err := s.GetClient(b.Context(), want)
			if err != nil {
				b.Fatalf("GetClient(%q): %v", want, err)
			}
			if c.ID != want {
				b.Fatalf("GetClient(%q) = %q", want, c.ID)
			}
		}
	})

	b.Run("RefreshTokenByHash", func(b *testing.B) {
		s := open(b)
		hashes := make([][]byte, benchSize)
		seed(b, s, func(tx storage.Tx) error {
			u := userFixture()
			if err := tx.CreateUser(b.Context(), u); err != nil {
				return err
			}
			c := clientFixture()
			if err := tx.CreateClient(b.Context(), c); err != nil {
				return err
			}
			for i := range hashes {
				rt := refreshTokenFixture(u.ID, c.ID)
				if err := tx.CreateRefreshToken(b.Context(), rt); err != nil {
					return err
				}
				hashes[i] = rt.TokenHash
			}
			return nil
		})
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			want := hashes[rand.IntN(len(hashes))]
			if _, err := s.GetRefreshTokenByHash(b.Context(), want); err != nil {
				b.Fatalf("GetRefreshTokenByHash: %v", err)
			}
		}
	})
}

// seed fills a store in one transaction, which is much faster than one
// commit per record.
func seed(b *testing.B, s storage.Storage, fn func(tx storage.Tx) error) {
	b.Helper()
	if err := s.InTx(b.Context(), fn); err != nil {
		b.Fatalf("seeding: %v", err)
	}
}
