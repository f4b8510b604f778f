-- JWT templates: named claim sets that shape tokens for a database or an API,
-- each with its own lifetime, clock skew and algorithm, and optionally its
-- own signing key (sealed under the master key like private signing keys).
-- Claims are JSON text, not JSONB, so they read back exactly as the author
-- wrote them (JSONB would reorder keys and drop whitespace).
-- Lifetime and skew are whole seconds, as JWT times are.
CREATE TABLE jwt_templates (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    claims             TEXT NOT NULL DEFAULT '{}',
    lifetime_seconds   INTEGER NOT NULL,
    clock_skew_seconds INTEGER NOT NULL DEFAULT 0,
    algorithm          TEXT NOT NULL,
    custom_key         BYTEA,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
