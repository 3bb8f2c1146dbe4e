-- The loyalty programme: accounts, the append-only points ledger, tier history, and the
-- commerce the ledger has not settled yet.
--
-- A member's account holds the balance the ledger sums to (every entry also records the
-- balance after it) and is the row two tills redeeming at once are serialised on; the CHECKs
-- keep a balance from ever going below zero. Rows name the customer without a foreign key,
-- like the consent ledger: erasure deletes them through the rights registry.
CREATE TABLE loyalty_accounts (
    customer_id TEXT PRIMARY KEY,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    tier TEXT NOT NULL,
    tier_since INTEGER NOT NULL,
    joined_at INTEGER NOT NULL,
    expired_through INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- dedup is the entry's unique key (the order it was earned for, a redemption's idempotency
-- key…), so a retried posting finds the first instead of writing a second.
CREATE TABLE loyalty_entries (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    points INTEGER NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    cause TEXT NOT NULL,
    ref TEXT NOT NULL,
    order_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    qualifying INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    at INTEGER NOT NULL,
    dedup TEXT NOT NULL UNIQUE
);
CREATE INDEX loyalty_entries_customer ON loyalty_entries (customer_id, id);
CREATE INDEX loyalty_entries_qualifying ON loyalty_entries (customer_id, at) WHERE qualifying = 1;
CREATE INDEX loyalty_entries_order ON loyalty_entries (order_id) WHERE order_id <> '';
CREATE INDEX loyalty_entries_expiry ON loyalty_entries (expires_at) WHERE expires_at > 0;
-- Entries are never changed; erasure deletes a member's entries with the member.
CREATE TRIGGER loyalty_entries_no_update BEFORE UPDATE ON loyalty_entries BEGIN SELECT RAISE(ABORT, 'loyalty_entries is append-only'); END;

CREATE TABLE loyalty_tier_changes (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL,
    from_tier TEXT NOT NULL,
    to_tier TEXT NOT NULL,
    qualifying INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX loyalty_tier_changes_customer ON loyalty_tier_changes (customer_id, id);

-- Commerce the ledger has not settled: written by triggers in the transaction that stores the
-- order, refund or review, whichever way it arrived, and removed in the transaction that
-- posts its entry. ref is the refund's or review's row id.
CREATE TABLE loyalty_pending (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    ref INTEGER NOT NULL
);
CREATE INDEX loyalty_pending_customer ON loyalty_pending (customer_id);
CREATE TRIGGER loyalty_order_completed AFTER INSERT ON orders WHEN NEW.status = 'completed'
BEGIN
    INSERT INTO loyalty_pending (kind, customer_id, order_id, ref) VALUES ('order', NEW.customer_id, NEW.order_id, 0);
END;
CREATE TRIGGER loyalty_order_completed_later AFTER UPDATE OF status ON orders
    WHEN NEW.status = 'completed' AND OLD.status <> 'completed'
BEGIN
    INSERT INTO loyalty_pending (kind, customer_id, order_id, ref) VALUES ('order', NEW.customer_id, NEW.order_id, 0);
END;
CREATE TRIGGER loyalty_order_cancelled AFTER UPDATE OF status ON orders
    WHEN NEW.status = 'cancelled' AND OLD.status <> 'cancelled'
BEGIN
    INSERT INTO loyalty_pending (kind, customer_id, order_id, ref) VALUES ('cancel', NEW.customer_id, NEW.order_id, 0);
END;
CREATE TRIGGER loyalty_order_refunded AFTER INSERT ON order_refunds
BEGIN
    INSERT INTO loyalty_pending (kind, customer_id, order_id, ref)
        SELECT 'refund', customer_id, order_id, NEW.id FROM orders WHERE order_id = NEW.order_id;
END;
CREATE TRIGGER loyalty_review AFTER INSERT ON reviews
BEGIN
    INSERT INTO loyalty_pending (kind, customer_id, order_id, ref) VALUES ('review', NEW.customer_id, '', NEW.id);
END;
