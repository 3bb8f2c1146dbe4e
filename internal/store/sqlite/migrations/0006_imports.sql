-- CSV imports uploaded through the API. The upload itself is spooled, encrypted, in the data
-- directory while its job runs; these rows hold only what the job and its callers need: who
-- started it, the mapping (column and field names), the wrapped key of the spool, and the
-- rejected rows by number and reason (never the values).
CREATE TABLE imports (
    id TEXT PRIMARY KEY,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    spec TEXT NOT NULL,
    master_version INTEGER NOT NULL,
    spool_key BLOB NOT NULL,
    size INTEGER NOT NULL,
    rows_total INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE import_rejects (
    import_id TEXT NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (import_id, row)
) WITHOUT ROWID;

-- When the abandonment of a checkout was derived onto its customer's profile, so the periodic
-- job marks each abandoned cart once.
ALTER TABLE checkouts ADD COLUMN abandoned_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX checkouts_unmarked ON checkouts (started_at) WHERE ordered_at = 0 AND abandoned_at = 0;
