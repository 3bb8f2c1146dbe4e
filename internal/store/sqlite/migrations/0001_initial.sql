-- Customers: personal values are sealed per field with the customer's data key (sealed);
-- non-personal values are plain JSON; dkey is the data key wrapped by master_version.
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    master_version INTEGER NOT NULL,
    dkey BLOB NOT NULL,
    sealed BLOB NOT NULL,
    plain TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Blind index: truncated keyed hashes of normalised look-up values.
CREATE TABLE blind_index (
    field TEXT NOT NULL,
    token INTEGER NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (field, token, customer_id)
) WITHOUT ROWID;
CREATE INDEX blind_index_customer ON blind_index (customer_id);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    chain INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    target TEXT NOT NULL,
    fields TEXT NOT NULL,
    purpose TEXT NOT NULL,
    request_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
-- SQLite has one writer and one chain, whose head row serialises appends, so (chain, seq)
-- needs no unique index here; verification would report a repeated entry anyway.
CREATE INDEX audit_log_customer ON audit_log (customer_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);

CREATE TABLE audit_heads (
    chain INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_heads (chain, seq, hash) VALUES (0, 0, x'0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    chain INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    at INTEGER NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE keyset (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    blob BLOB NOT NULL,
    index_bits INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hint TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    cursor TEXT NOT NULL,
    done INTEGER NOT NULL,
    total INTEGER NOT NULL,
    error TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, created_at);
