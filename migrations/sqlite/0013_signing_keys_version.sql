-- One row whose version goes up with every change to signing_keys: each
-- replica reads it every second and reloads its keys when it moved, so a
-- rotation or a revocation reaches every replica at once without reading
-- the keys themselves that often. Plain SQL on purpose: no LISTEN/NOTIFY,
-- which SQLite lacks and PostgreSQL-compatible engines may not offer.
CREATE TABLE signing_keys_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO signing_keys_version (id, version) VALUES (1, 0);
