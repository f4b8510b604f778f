-- Times are TIMESTAMPTZ, NULL for "never". Metadata is JSONB; short lists
-- (scopes, redirect URIs...) are JSON arrays kept as text.

CREATE TABLE users (
    id               TEXT PRIMARY KEY,
    username         TEXT NOT NULL DEFAULT '',
    first_name       TEXT NOT NULL DEFAULT '',
    last_name        TEXT NOT NULL DEFAULT '',
    image_url        TEXT NOT NULL DEFAULT '',
    password_hash    TEXT NOT NULL DEFAULT '',
    public_metadata  JSONB NOT NULL DEFAULT '{}',
    private_metadata JSONB NOT NULL DEFAULT '{}',
    unsafe_metadata  JSONB NOT NULL DEFAULT '{}',
    banned           BOOLEAN NOT NULL DEFAULT FALSE,
    locked_until     TIMESTAMPTZ,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    last_sign_in_at  TIMESTAMPTZ,
    last_active_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE username <> '';
CREATE INDEX users_created_idx ON users (created_at, id);

CREATE TABLE email_addresses (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    email_lower TEXT NOT NULL,
    verified    BOOLEAN NOT NULL DEFAULT FALSE,
    is_primary  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX email_addresses_email_key ON email_addresses (email_lower);
CREATE UNIQUE INDEX email_addresses_primary_key ON email_addresses (user_id) WHERE is_primary;
CREATE INDEX email_addresses_user_idx ON email_addresses (user_id, created_at);

CREATE TABLE sessions (
    id             TEXT PRIMARY KEY,
    token_hash     BYTEA NOT NULL UNIQUE,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time      TIMESTAMPTZ NOT NULL,
    amr            TEXT NOT NULL DEFAULT '[]',
    user_agent     TEXT NOT NULL DEFAULT '',
    ip_address     TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    last_active_at TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    secret_hash                BYTEA,
    auth_method                TEXT NOT NULL,
    application_type           TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL DEFAULT '[]',
    post_logout_redirect_uris  TEXT NOT NULL DEFAULT '[]',
    grant_types                TEXT NOT NULL DEFAULT '[]',
    response_types             TEXT NOT NULL DEFAULT '[]',
    scopes                     TEXT NOT NULL DEFAULT '[]',
    cors_origins               TEXT NOT NULL DEFAULT '[]',
    jwks_uri                   TEXT NOT NULL DEFAULT '',
    jwks                       TEXT NOT NULL DEFAULT '',
    access_token_format        TEXT NOT NULL,
    access_token_ttl_seconds   INTEGER NOT NULL,
    id_token_ttl_seconds       INTEGER NOT NULL,
    refresh_idle_ttl_seconds   INTEGER NOT NULL,
    refresh_max_ttl_seconds    INTEGER NOT NULL,
    id_token_userinfo_claims   BOOLEAN NOT NULL,
    first_party                BOOLEAN NOT NULL,
    source                     TEXT NOT NULL,
    created_at                 TIMESTAMPTZ NOT NULL,
    updated_at                 TIMESTAMPTZ NOT NULL
);
CREATE INDEX clients_created_idx ON clients (created_at, id);

CREATE TABLE auth_requests (
    id                    TEXT PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    redirect_uri          TEXT NOT NULL,
    state                 TEXT NOT NULL DEFAULT '',
    nonce                 TEXT NOT NULL DEFAULT '',
    scopes                TEXT NOT NULL DEFAULT '[]',
    response_type         TEXT NOT NULL,
    response_mode         TEXT NOT NULL DEFAULT '',
    code_challenge        TEXT NOT NULL DEFAULT '',
    code_challenge_method TEXT NOT NULL DEFAULT '',
    prompt                TEXT NOT NULL DEFAULT '[]',
    max_age               INTEGER NOT NULL DEFAULT -1,
    login_hint            TEXT NOT NULL DEFAULT '',
    hint_subject          TEXT NOT NULL DEFAULT '',
    ui_locales            TEXT NOT NULL DEFAULT '[]',
    acr_values            TEXT NOT NULL DEFAULT '[]',
    user_id               TEXT NOT NULL DEFAULT '',
    session_id            TEXT NOT NULL DEFAULT '',
    auth_time             TIMESTAMPTZ,
    amr                   TEXT NOT NULL DEFAULT '[]',
    done                  BOOLEAN NOT NULL DEFAULT FALSE,
    code_hash             BYTEA UNIQUE,
    code_used_at          TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX auth_requests_expires_idx ON auth_requests (expires_at);

CREATE TABLE refresh_tokens (
    id              TEXT PRIMARY KEY,
    token_hash      BYTEA NOT NULL UNIQUE,
    family_id       TEXT NOT NULL,
    client_id       TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    session_id      TEXT NOT NULL DEFAULT '',
    auth_request_id TEXT NOT NULL DEFAULT '',
    scopes          TEXT NOT NULL DEFAULT '[]',
    audience        TEXT NOT NULL DEFAULT '[]',
    amr             TEXT NOT NULL DEFAULT '[]',
    auth_time       TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    family_expires  TIMESTAMPTZ NOT NULL,
    rotated_at      TIMESTAMPTZ,
    replaced_by     TEXT NOT NULL DEFAULT '',
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id, client_id);
CREATE INDEX refresh_tokens_auth_request_idx ON refresh_tokens (auth_request_id) WHERE auth_request_id <> '';
CREATE INDEX refresh_tokens_family_expires_idx ON refresh_tokens (family_expires);

CREATE TABLE signing_keys (
    id                    TEXT PRIMARY KEY,
    algorithm             TEXT NOT NULL,
    state                 TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    private_key_encrypted BYTEA NOT NULL,
    public_key_jwk        TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    activated_at          TIMESTAMPTZ,
    retired_at            TIMESTAMPTZ,
    delete_after          TIMESTAMPTZ
);
CREATE UNIQUE INDEX signing_keys_one_current ON signing_keys (algorithm) WHERE state = 'current';
-- One next key per algorithm, so replicas due to rotate together create one.
CREATE UNIQUE INDEX signing_keys_one_next ON signing_keys (algorithm) WHERE state = 'next';

CREATE TABLE events (
    id            TEXT PRIMARY KEY,
    type          TEXT NOT NULL,
    payload       JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    dispatched_at TIMESTAMPTZ
);
CREATE INDEX events_pending_idx ON events (created_at, id) WHERE dispatched_at IS NULL;
