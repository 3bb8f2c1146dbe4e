-- The access trail: audit entries for reads, look-ups, listings and refusals, chained like
-- the main trail (chain 1; the main file holds chain 0). Entry ids come from one sequence
-- over both files, given by Steward.
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
CREATE INDEX audit_log_customer ON audit_log (customer_id, id);
CREATE INDEX audit_log_actor ON audit_log (actor_id, id);

CREATE TABLE audit_heads (
    chain INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_heads (chain, seq, hash) VALUES (1, 0, x'0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    chain INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL,
    at INTEGER NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (chain, seq)
);
