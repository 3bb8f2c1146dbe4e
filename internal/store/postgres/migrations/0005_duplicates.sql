-- Duplicate detection and contact status.

-- Blocking keys of the duplicate matcher, as the first 64 bits of a keyed hash of rule and
-- value: customers sharing a token are candidates. Derived by the duplicate scan from the
-- values of the version in customer_quality.
CREATE TABLE match_keys (
    token BIGINT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (token, customer_id)
);
CREATE INDEX match_keys_customer ON match_keys (customer_id);

-- What the scan last derived from each customer: the profile version its keys come from, the
-- contact verdict (valid, risky, invalid, none) with reason codes, and since when the current
-- e-mail address (known by its blind-index token) has been seen. No values.
CREATE TABLE customer_quality (
    customer_id TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    version BIGINT NOT NULL,
    validation TEXT NOT NULL,
    reasons TEXT NOT NULL,
    email_token BIGINT NOT NULL,
    email_since BIGINT NOT NULL,
    checked_at BIGINT NOT NULL
);

-- Pairs the matcher judged likely to be one person: customer_id sorts before other_id.
-- Evidence is comparison levels and weights (JSON), never values. A merged pair keeps what
-- undoing needs: the winner's values before and after, sealed under the winner's key, and the
-- consent records the merge added.
CREATE TABLE duplicates (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    other_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    score DOUBLE PRECISION NOT NULL,
    weight DOUBLE PRECISION NOT NULL,
    decision TEXT NOT NULL,
    evidence TEXT NOT NULL,
    state TEXT NOT NULL,
    merge_id TEXT,
    winner_id TEXT,
    auto BOOLEAN NOT NULL DEFAULT FALSE,
    undo_sealed BYTEA,
    merged_version BIGINT,
    changed TEXT,
    carried TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    decided_at BIGINT,
    decided_by TEXT,
    UNIQUE (customer_id, other_id)
);
CREATE INDEX duplicates_state ON duplicates (state, score DESC, id);
CREATE INDEX duplicates_other ON duplicates (other_id);
CREATE INDEX duplicates_merge ON duplicates (merge_id);

-- Engagement signals by customer, for contact status.
CREATE INDEX events_engagement ON events (customer_id, name, at) WHERE category = 'engagement';
