-- How common each customer's given name, family name, address and town are, for the
-- duplicate matcher's term-frequency weights: one row per customer and value, the value as
-- the first 64 bits of a keyed hash of its kind and normalised form, never in clear. Counting
-- the rows of one token says how many customers share the value. Derived by the duplicate
-- scan with the blocking keys in match_keys, from the version in customer_quality.
CREATE TABLE match_terms (
    kind TEXT NOT NULL,
    token BIGINT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, token, customer_id)
);
CREATE INDEX match_terms_customer ON match_terms (customer_id);
