-- Emails that prove control of an address (verify it, sign in, reset the
-- password). The code and the link token are kept only as hashes. A user has
-- at most one unused challenge per purpose, so that only the newest email
-- works even when two are requested at once; the same index finds the
-- challenges a new one supersedes. Removing the user or the address ends
-- its challenges.
CREATE TABLE email_challenges (
    id              TEXT PRIMARY KEY,
    purpose         TEXT NOT NULL,
    user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_id        TEXT NOT NULL REFERENCES email_addresses (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    code_hash       BLOB NOT NULL,
    link_hash       BLOB NOT NULL,
    auth_request_id TEXT NOT NULL DEFAULT '',
    browser_hash    BLOB,
    ip_address      TEXT NOT NULL DEFAULT '',
    user_agent      TEXT NOT NULL DEFAULT '',
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    used_at         INTEGER
);
CREATE UNIQUE INDEX email_challenges_link_key ON email_challenges (link_hash);
CREATE UNIQUE INDEX email_challenges_unused_key ON email_challenges (user_id, purpose) WHERE used_at IS NULL;
CREATE INDEX email_challenges_expires_idx ON email_challenges (expires_at);
