-- The loyalty programme: accounts, the append-only points ledger, tier history, and the
-- commerce the ledger has not settled yet (see the SQLite migration of the same number).
CREATE TABLE loyalty_accounts (
    customer_id TEXT PRIMARY KEY,
    balance BIGINT NOT NULL CHECK (balance >= 0),
    tier TEXT NOT NULL,
    tier_since BIGINT NOT NULL,
    joined_at BIGINT NOT NULL,
    expired_through BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE loyalty_entries (
    id BIGSERIAL PRIMARY KEY,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    points BIGINT NOT NULL,
    balance BIGINT NOT NULL CHECK (balance >= 0),
    cause TEXT NOT NULL,
    ref TEXT NOT NULL,
    order_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    qualifying INTEGER NOT NULL,
    expires_at BIGINT NOT NULL,
    at BIGINT NOT NULL,
    dedup TEXT NOT NULL UNIQUE
);
CREATE INDEX loyalty_entries_customer ON loyalty_entries (customer_id, id);
CREATE INDEX loyalty_entries_qualifying ON loyalty_entries (customer_id, at) WHERE qualifying = 1;
CREATE INDEX loyalty_entries_order ON loyalty_entries (order_id) WHERE order_id <> '';
CREATE INDEX loyalty_entries_expiry ON loyalty_entries (expires_at) WHERE expires_at > 0;
CREATE TRIGGER loyalty_entries_append_only BEFORE UPDATE ON loyalty_entries FOR EACH ROW EXECUTE FUNCTION steward_append_only();

CREATE TABLE loyalty_tier_changes (
    id BIGSERIAL PRIMARY KEY,
    customer_id TEXT NOT NULL,
    from_tier TEXT NOT NULL,
    to_tier TEXT NOT NULL,
    qualifying BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX loyalty_tier_changes_customer ON loyalty_tier_changes (customer_id, id);

CREATE TABLE loyalty_pending (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    ref BIGINT NOT NULL
);
CREATE INDEX loyalty_pending_customer ON loyalty_pending (customer_id);

CREATE FUNCTION steward_loyalty_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'completed' AND (TG_OP = 'INSERT' OR OLD.status <> 'completed') THEN
        INSERT INTO loyalty_pending (kind, customer_id, order_id, ref) VALUES ('order', NEW.customer_id, NEW.order_id, 0);
    ELSIF TG_OP = 'UPDATE' AND NEW.status = 'cancelled' AND OLD.status <> 'cancelled' THEN
        INSERT INTO loyalty_pending (kind, customer_id, order_id, ref) VALUES ('cancel', NEW.customer_id, NEW.order_id, 0);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER loyalty_order AFTER INSERT OR UPDATE OF status ON orders FOR EACH ROW EXECUTE FUNCTION steward_loyalty_order();

CREATE FUNCTION steward_loyalty_refund() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO loyalty_pending (kind, customer_id, order_id, ref)
        SELECT 'refund', customer_id, order_id, NEW.id FROM orders WHERE order_id = NEW.order_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER loyalty_order_refunded AFTER INSERT ON order_refunds FOR EACH ROW EXECUTE FUNCTION steward_loyalty_refund();

CREATE FUNCTION steward_loyalty_review() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO loyalty_pending (kind, customer_id, order_id, ref) VALUES ('review', NEW.customer_id, '', NEW.id);
    RETURN NULL;
END;
$$;
CREATE TRIGGER loyalty_review AFTER INSERT ON reviews FOR EACH ROW EXECUTE FUNCTION steward_loyalty_review();
