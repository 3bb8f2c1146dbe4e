-- Erasure ledger: who was erased, when, under which request, and keyed hashes of their contact
-- values. No personal data: ids are random and the hashes are keyed. Every restore replays it.
CREATE TABLE erasure_ledger (
    customer_id TEXT PRIMARY KEY,
    erased_at INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    hashes TEXT NOT NULL,
    state TEXT NOT NULL,
    report TEXT NOT NULL,
    completed_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Suppression list of erased contacts: keyed hashes only, so marketing can be refused to an
-- address without keeping the address.
CREATE TABLE erasure_suppression (
    kind TEXT NOT NULL,
    hash BLOB NOT NULL,
    added_at INTEGER NOT NULL,
    PRIMARY KEY (kind, hash)
) WITHOUT ROWID;

-- Data-subject requests and their workflow.
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    jurisdiction TEXT NOT NULL,
    source TEXT NOT NULL,
    contact_hash BLOB NOT NULL,
    token_hash BLOB NOT NULL,
    token_expires INTEGER NOT NULL,
    reason TEXT NOT NULL,
    result TEXT NOT NULL,
    version INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    verified_at INTEGER NOT NULL,
    closed_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX requests_state_due ON requests (state, due_at);
CREATE INDEX requests_customer ON requests (customer_id);

-- Export packages: sealed under the customer's own data key, so erasure shreds them too, and
-- deleted after expires_at.
CREATE TABLE exports (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    blob BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX exports_customer ON exports (customer_id);
CREATE INDEX exports_expiry ON exports (expires_at);

-- Legal holds stop retention purges and erasure of one customer, with a reason.
CREATE TABLE legal_holds (
    customer_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Restriction of processing: the customer's data is only stored, or used for legal purposes.
CREATE TABLE restrictions (
    customer_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
