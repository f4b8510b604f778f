-- Access tokens Usher issued, so that revocation, introspection and userinfo
-- can tell a live token from an expired or revoked one. Revoking a refresh
-- token family or a session reaches the access tokens issued from them.
CREATE TABLE access_tokens (
    id          TEXT PRIMARY KEY,
    client_id   TEXT NOT NULL,
    user_id     TEXT NOT NULL DEFAULT '',
    session_id  TEXT NOT NULL DEFAULT '',
    family_id   TEXT NOT NULL DEFAULT '',
    auth_request_id TEXT NOT NULL DEFAULT '',
    scopes      TEXT NOT NULL DEFAULT '[]',
    audience    TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX access_tokens_family_idx ON access_tokens (family_id) WHERE family_id <> '';
CREATE INDEX access_tokens_auth_request_idx ON access_tokens (auth_request_id) WHERE auth_request_id <> '';
CREATE INDEX access_tokens_user_idx ON access_tokens (user_id, client_id);
CREATE INDEX access_tokens_expires_idx ON access_tokens (expires_at);
