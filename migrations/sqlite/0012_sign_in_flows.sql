-- Sign-in flows: the server-side record of which step of signing in a
-- browser is at (identifier, first factor, email verification, consent...),
-- bound to that browser by the hash of a value in its cookie. The emails
-- and upstream round trips a sign-in starts name the flow they belong to
-- instead of an authorization request.
CREATE TABLE sign_in_flows (
    id              TEXT PRIMARY KEY,
    browser_hash    BLOB NOT NULL,
    auth_request_id TEXT NOT NULL DEFAULT '',
    next            TEXT NOT NULL DEFAULT '',
    step            TEXT NOT NULL,
    email           TEXT NOT NULL DEFAULT '',
    user_id         TEXT NOT NULL DEFAULT '',
    factor          TEXT NOT NULL DEFAULT '',
    amr             TEXT NOT NULL DEFAULT '[]',
    session_id      TEXT NOT NULL DEFAULT '',
    auth_time       INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
CREATE INDEX sign_in_flows_expires_idx ON sign_in_flows (expires_at);

ALTER TABLE email_challenges RENAME COLUMN auth_request_id TO flow_id;
ALTER TABLE upstream_logins RENAME COLUMN auth_request_id TO flow_id;
