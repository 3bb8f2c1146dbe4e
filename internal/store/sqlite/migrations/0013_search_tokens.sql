-- Search tokens (see internal/search and docs/security.md): keyed, truncated hashes of the
-- words of a customer's names, the town, postal code, e-mail parts, phone endings and numbers,
-- each kind under its own key, with the kind's number in the bits above 32. Written in the
-- transaction of every profile change that alters them; erasure deletes them before the
-- customer row. No reference to customers: a create writes a dozen tokens, and checking each
-- against its customer was a third of what they cost.
CREATE TABLE search_tokens (
    token INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    PRIMARY KEY (token, customer_id)
) WITHOUT ROWID;
CREATE INDEX search_tokens_customer ON search_tokens (customer_id);

-- Whether every stored customer has its tokens: an installation upgraded with customers
-- already stored starts unbuilt, and the server queues the reindex job when it starts.
CREATE TABLE search_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    built INTEGER NOT NULL
);
INSERT INTO search_state (id, built) SELECT 1, CASE WHEN EXISTS (SELECT 1 FROM customers) THEN 0 ELSE 1 END;
