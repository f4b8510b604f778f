-- Event counts per key in fixed windows (wrong device codes, sign-in
-- attempts), shared by every replica.
CREATE TABLE rate_limits (
    key          TEXT PRIMARY KEY,
    window_start TIMESTAMPTZ NOT NULL,
    hits         INTEGER NOT NULL
);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);
