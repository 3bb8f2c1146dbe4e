-- Tracking messages already stored, per write key: a SHA-256 prefix of the messageId, so
-- retries within the deduplication window are recognised and stored once.
CREATE TABLE ingest_messages (
    key_id TEXT NOT NULL,
    message_hash BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (key_id, message_hash)
) WITHOUT ROWID;
CREATE INDEX ingest_messages_received ON ingest_messages (received_at);

-- Identifiers (user ids, anonymous ids, e-mail, phone, device and external ids) as keyed
-- full-width tokens, with the value sealed under the holder's data key.
CREATE TABLE identities (
    kind TEXT NOT NULL,
    token BLOB NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    sealed BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, token)
) WITHOUT ROWID;
CREATE INDEX identities_customer ON identities (customer_id);

-- Every merge with its reason; undone merges stay as history.
CREATE TABLE customer_merges (
    id TEXT PRIMARY KEY,
    winner_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    loser_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    undone_at INTEGER
);
CREATE INDEX customer_merges_winner ON customer_merges (winner_id);
CREATE INDEX customer_merges_loser ON customer_merges (loser_id);

-- The merges in force: a merged customer points at the customer it was merged into.
CREATE TABLE customer_links (
    customer_id TEXT PRIMARY KEY REFERENCES customers (id) ON DELETE CASCADE,
    merged_into TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    merge_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX customer_links_into ON customer_links (merged_into);

-- Events: non-personal parts in clear (plain, JSON), personal parts sealed under the data
-- key of the customer whose identifier they arrived under.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    plain TEXT NOT NULL,
    sealed BLOB
);
CREATE INDEX events_customer ON events (customer_id, id);
CREATE INDEX events_expires ON events (expires_at) WHERE expires_at > 0;

-- What minimisation dropped, per write key, by reason and name (never values).
CREATE TABLE ingest_drops (
    key_id TEXT NOT NULL,
    name TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, name)
) WITHOUT ROWID;

-- Commerce records derived from events and from the till endpoints.
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    currency TEXT NOT NULL,
    total REAL NOT NULL,
    tax REAL NOT NULL,
    shipping REAL NOT NULL,
    discount REAL NOT NULL,
    refunded REAL NOT NULL,
    items TEXT NOT NULL,
    placed_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX orders_customer ON orders (customer_id, placed_at);

CREATE TABLE order_refunds (
    id INTEGER PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    amount REAL NOT NULL,
    items TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX order_refunds_order ON order_refunds (order_id);

CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    review_id TEXT NOT NULL,
    product_id TEXT NOT NULL,
    rating INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX reviews_customer ON reviews (customer_id);

-- Checkouts started; one with no order placed by its customer after it is an abandoned cart.
CREATE TABLE checkouts (
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    checkout_id TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    value REAL NOT NULL,
    currency TEXT NOT NULL,
    ordered_at INTEGER NOT NULL,
    PRIMARY KEY (customer_id, checkout_id)
) WITHOUT ROWID;
CREATE INDEX checkouts_open ON checkouts (started_at) WHERE ordered_at = 0;
