-- Instance secrets Usher must read back (for example the key that encrypts
-- authorization codes), sealed under the master key like private signing keys.
CREATE TABLE secrets (
    name            TEXT PRIMARY KEY,
    value_encrypted BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
