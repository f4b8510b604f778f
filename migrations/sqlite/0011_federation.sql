-- Federation: upstream identity providers users may sign in with
-- (connections), the links from users to their identities there, and the
-- round trips to them in flight. A connection's client secret and a link's
-- upstream tokens are sealed under the master key like private signing keys.
-- A link is (connection, upstream subject), never an email. A round trip's
-- state is kept only as its hash and is used once. Removing a connection ends
-- its links and round trips; removing a user ends the user's links.
CREATE TABLE connections (
    id                   TEXT PRIMARY KEY,
    slug                 TEXT NOT NULL UNIQUE,
    type                 TEXT NOT NULL,
    display_name         TEXT NOT NULL DEFAULT '',
    icon_url             TEXT NOT NULL DEFAULT '',
    enabled              BOOLEAN NOT NULL DEFAULT FALSE,
    client_id            TEXT NOT NULL DEFAULT '',
    client_secret        BLOB,
    issuer               TEXT NOT NULL DEFAULT '',
    scopes               TEXT NOT NULL DEFAULT '[]',
    saml_metadata_url    TEXT NOT NULL DEFAULT '',
    saml_metadata        TEXT NOT NULL DEFAULT '',
    email_domains        TEXT NOT NULL DEFAULT '[]',
    allow_sign_up        BOOLEAN NOT NULL DEFAULT FALSE,
    trust_email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    store_tokens         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE TABLE external_identities (
    id              TEXT PRIMARY KEY,
    connection_id   TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    subject         TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email           TEXT NOT NULL DEFAULT '',
    email_verified  BOOLEAN NOT NULL DEFAULT FALSE,
    access_token    BLOB,
    refresh_token   BLOB,
    created_at      INTEGER NOT NULL,
    last_sign_in_at INTEGER
);
CREATE UNIQUE INDEX external_identities_subject_key ON external_identities (connection_id, subject);
CREATE INDEX external_identities_user_idx ON external_identities (user_id, created_at);

CREATE TABLE upstream_logins (
    id              TEXT PRIMARY KEY,
    state_hash      BLOB NOT NULL UNIQUE,
    connection_id   TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    browser_hash    BLOB,
    pkce_verifier   TEXT NOT NULL DEFAULT '',
    nonce           TEXT NOT NULL DEFAULT '',
    auth_request_id TEXT NOT NULL DEFAULT '',
    link_user_id    TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);
CREATE INDEX upstream_logins_expires_idx ON upstream_logins (expires_at);
