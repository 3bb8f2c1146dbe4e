-- Customers: personal values are sealed per field with the customer's data key (sealed);
-- non-personal values are plain JSON; dkey is the data key wrapped by master_version.
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    version BIGINT NOT NULL,
    master_version BIGINT NOT NULL,
    dkey BYTEA NOT NULL,
    sealed BYTEA NOT NULL,
    plain TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Blind index: truncated keyed hashes of normalised look-up values.
CREATE TABLE blind_index (
    field TEXT NOT NULL,
    token BIGINT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (field, token, customer_id)
);
CREATE INDEX blind_index_customer ON blind_index (customer_id);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    chain BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    action TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    target TEXT NOT NULL,
    fields TEXT NOT NULL,
    purpose TEXT NOT NULL,
    request_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    prev_hash BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    UNIQUE (chain, seq)
);
CREATE INDEX audit_log_customer ON audit_log (customer_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);

-- Several chains so that several nodes can append at once, each locking one head.
CREATE TABLE audit_heads (
    chain INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
INSERT INTO audit_heads (chain, seq, hash)
SELECT g, 0, decode(repeat('00', 32), 'hex') FROM generate_series(0, 7) AS g;

CREATE TABLE audit_checkpoints (
    chain BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL,
    at BIGINT NOT NULL,
    signature BYTEA NOT NULL,
    PRIMARY KEY (chain, seq)
);

CREATE TABLE keyset (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    blob BYTEA NOT NULL,
    index_bits BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hint TEXT NOT NULL,
    hash BYTEA NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    cursor TEXT NOT NULL,
    done BIGINT NOT NULL,
    total BIGINT NOT NULL,
    error TEXT NOT NULL,
    owner TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, created_at);
