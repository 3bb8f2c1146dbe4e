-- The blind index and the identities are inserted many rows to a statement. SQLite gives a
-- multi-row insert into a table with an immediate foreign key a statement journal, so that it
-- can undo the statement alone should a reference be missing at its end: a copy of every page
-- the statement changes, which was a tenth of the single writer's time on creates. Steward
-- never continues a transaction after a failed statement, so the references are checked at
-- commit instead (the group-commit writer retries its writers one by one should that fail).
-- SQLite cannot change a constraint in place: both tables are rebuilt, and the trigger that
-- reads the blind index (0007) is set aside while its table is replaced.
DROP TRIGGER suppressions_decision_seq;
CREATE TABLE blind_index_new (
    field TEXT NOT NULL,
    token INTEGER NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (field, token, customer_id)
) WITHOUT ROWID;
INSERT INTO blind_index_new (field, token, customer_id) SELECT field, token, customer_id FROM blind_index;
DROP TABLE blind_index;
ALTER TABLE blind_index_new RENAME TO blind_index;
CREATE INDEX blind_index_customer ON blind_index (customer_id);
CREATE TRIGGER suppressions_decision_seq AFTER INSERT ON suppressions BEGIN
    UPDATE customers SET decision_seq = decision_seq + 1
    WHERE id IN (SELECT customer_id FROM blind_index WHERE field = NEW.field AND token = NEW.token);
END;

CREATE TABLE identities_new (
    kind TEXT NOT NULL,
    token BLOB NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, token)
) WITHOUT ROWID;
INSERT INTO identities_new (kind, token, customer_id, sealed, created_at) SELECT kind, token, customer_id, sealed, created_at FROM identities;
DROP TABLE identities;
ALTER TABLE identities_new RENAME TO identities;
CREATE INDEX identities_customer ON identities (customer_id);
