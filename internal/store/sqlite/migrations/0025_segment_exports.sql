-- Audience exports: progress and counts, the hash of the download token, and the list of
-- members allowed when the export ran (customer ids only; the file is made on download).
CREATE TABLE segment_exports (
    id TEXT PRIMARY KEY,
    segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    state TEXT NOT NULL,
    members INTEGER NOT NULL,
    allowed INTEGER NOT NULL,
    denied INTEGER NOT NULL,
    token_hash BLOB NOT NULL,
    actor_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX segment_exports_expiry ON segment_exports (expires_at);

CREATE TABLE segment_export_members (
    export_id TEXT NOT NULL REFERENCES segment_exports (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (export_id, customer_id)
) WITHOUT ROWID;
CREATE INDEX segment_export_members_customer ON segment_export_members (customer_id);
