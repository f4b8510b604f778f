-- Device authorizations (RFC 8628). The device polls with a long device
-- code, of which only the SHA-256 hash is kept; the user types the short
-- user code at /device and approves or denies. User codes are unique only
-- while unexpired: creating one first removes an expired holder.
CREATE TABLE device_authorizations (
    id               TEXT PRIMARY KEY,
    device_code_hash BYTEA NOT NULL UNIQUE,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes           TEXT NOT NULL DEFAULT '[]',
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
    user_id          TEXT NOT NULL DEFAULT '',
    session_id       TEXT NOT NULL DEFAULT '',
    auth_time        TIMESTAMPTZ,
    amr              TEXT NOT NULL DEFAULT '[]',
    decided_at       TIMESTAMPTZ,
    polled_at        TIMESTAMPTZ,
    polls            INTEGER NOT NULL DEFAULT 0,
    claimed_at       TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX device_authorizations_expires_idx ON device_authorizations (expires_at);
