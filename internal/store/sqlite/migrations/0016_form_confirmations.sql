-- Consents from hosted forms that wait for the address's holder to follow the e-mailed link
-- (double opt-in). Only the link's hash is kept, with ids, purposes and times: never the
-- address. A row goes when its link is used, with its customer, or after it expires.
CREATE TABLE form_confirmations (
    token_hash BLOB PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    form TEXT NOT NULL,
    purposes TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX form_confirmations_customer ON form_confirmations (customer_id);

-- When a consent that took effect later (a double opt-in, confirmed by following a link) was
-- asked for: the record's own time is the confirmation, so the ledger keeps both moments.
ALTER TABLE consent_records ADD COLUMN requested_at BIGINT;
