-- Privacy-policy versions. A version never changes once published; seq is the publication
-- order, unique so that two versions published at once cannot both take the same place.
CREATE TABLE policies (
    version TEXT PRIMARY KEY,
    seq INTEGER NOT NULL UNIQUE,
    effective_at INTEGER NOT NULL,
    text TEXT NOT NULL,
    url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    language TEXT NOT NULL,
    controller_name TEXT NOT NULL,
    controller_contact TEXT NOT NULL,
    purposes TEXT NOT NULL,
    material_change TEXT NOT NULL,
    published_at INTEGER NOT NULL,
    published_by TEXT NOT NULL
);

-- The consent ledger. seq orders it. customer_id has no foreign key: proof of consent and of
-- its withdrawal must outlive the profile. ip_hash is a keyed hash; the raw address is never
-- stored.
CREATE TABLE consent_records (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted INTEGER NOT NULL,
    policy_version TEXT NOT NULL,
    source TEXT NOT NULL,
    channel TEXT NOT NULL,
    at INTEGER NOT NULL,
    form_id TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    ip_hash TEXT NOT NULL,
    tcf TEXT NOT NULL,
    gpp TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    receipt TEXT NOT NULL
);
-- Decisions read only these columns, so the index holds them all: a bulk check never touches
-- the rows, whose receipts make them wide.
CREATE INDEX consent_records_customer ON consent_records (customer_id, purpose, kind, seq, granted, policy_version, source, at);

-- A narrow index of customer ids: checking that many ids exist then reads a few pages instead
-- of every customer's sealed row. UNIQUE, or the planner prefers the (wide) primary key.
CREATE UNIQUE INDEX customers_ids ON customers (id);

-- The suppression list: keyed hashes (hex) of normalised email addresses and phone numbers,
-- never the values and never a customer id, so it survives erasure. token is the value's
-- blind-index token, which finds the few customers worth checking without opening everyone.
CREATE TABLE suppressions (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    token INTEGER NOT NULL,
    field TEXT NOT NULL,
    purpose TEXT NOT NULL,
    source TEXT NOT NULL,
    at INTEGER NOT NULL,
    actor_id TEXT NOT NULL
);
CREATE INDEX suppressions_hash ON suppressions (purpose, hash, at);
CREATE INDEX suppressions_token ON suppressions (purpose, field, token);

-- The three tables are append-only: the engine itself refuses to change or remove a row.
CREATE TRIGGER policies_no_update BEFORE UPDATE ON policies BEGIN SELECT RAISE(ABORT, 'policies is append-only'); END;
CREATE TRIGGER policies_no_delete BEFORE DELETE ON policies BEGIN SELECT RAISE(ABORT, 'policies is append-only'); END;
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records BEGIN SELECT RAISE(ABORT, 'consent_records is append-only'); END;
CREATE TRIGGER consent_records_no_delete BEFORE DELETE ON consent_records BEGIN SELECT RAISE(ABORT, 'consent_records is append-only'); END;
CREATE TRIGGER suppressions_no_update BEFORE UPDATE ON suppressions BEGIN SELECT RAISE(ABORT, 'suppressions is append-only'); END;
CREATE TRIGGER suppressions_no_delete BEFORE DELETE ON suppressions BEGIN SELECT RAISE(ABORT, 'suppressions is append-only'); END;
