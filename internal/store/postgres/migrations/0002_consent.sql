-- Privacy-policy versions. A version never changes once published; seq is the publication
-- order, unique so that two versions published at once cannot both take the same place.
CREATE TABLE policies (
    version TEXT PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    effective_at BIGINT NOT NULL,
    text TEXT NOT NULL,
    url TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    language TEXT NOT NULL,
    controller_name TEXT NOT NULL,
    controller_contact TEXT NOT NULL,
    purposes TEXT NOT NULL,
    material_change TEXT NOT NULL,
    published_at BIGINT NOT NULL,
    published_by TEXT NOT NULL
);

-- The consent ledger. seq orders it; appends for one customer are serialised by a lock on the
-- customer's row, so within a customer seq follows commit order. customer_id has no foreign
-- key: proof of consent and of its withdrawal must outlive the profile. ip_hash is a keyed
-- hash; the raw address is never stored.
CREATE TABLE consent_records (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted BOOLEAN NOT NULL,
    policy_version TEXT NOT NULL,
    source TEXT NOT NULL,
    channel TEXT NOT NULL,
    at BIGINT NOT NULL,
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
CREATE INDEX consent_records_customer ON consent_records (customer_id, purpose, kind, seq) INCLUDE (granted, policy_version, source, at);

-- The suppression list: keyed hashes (hex) of normalised email addresses and phone numbers,
-- never the values and never a customer id, so it survives erasure. token is the value's
-- blind-index token, which finds the few customers worth checking without opening everyone.
CREATE TABLE suppressions (
    seq BIGSERIAL PRIMARY KEY,
    hash TEXT NOT NULL,
    token BIGINT NOT NULL,
    field TEXT NOT NULL,
    purpose TEXT NOT NULL,
    source TEXT NOT NULL,
    at BIGINT NOT NULL,
    actor_id TEXT NOT NULL
);
CREATE INDEX suppressions_hash ON suppressions (purpose, hash, at);
CREATE INDEX suppressions_token ON suppressions (purpose, field, token);

-- The three tables are append-only: the engine itself refuses to change or remove a row.
CREATE FUNCTION steward_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER policies_append_only BEFORE UPDATE OR DELETE ON policies FOR EACH ROW EXECUTE FUNCTION steward_append_only();
CREATE TRIGGER consent_records_append_only BEFORE UPDATE OR DELETE ON consent_records FOR EACH ROW EXECUTE FUNCTION steward_append_only();
CREATE TRIGGER suppressions_append_only BEFORE UPDATE OR DELETE ON suppressions FOR EACH ROW EXECUTE FUNCTION steward_append_only();
