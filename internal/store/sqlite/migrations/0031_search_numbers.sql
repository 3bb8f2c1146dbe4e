-- Search tokens keyed by a number per customer instead of the customer's 36-character id:
-- search_tokens' rows shrink from about 50 bytes to under 20, so the index a create's tokens
-- are moved into is a third of the pages, which is what moving them and building the index
-- cost. search_lists gives each customer that number (its rowid, given in the order lists are
-- written, never given twice: AUTOINCREMENT, so that no number a search or a cache of pending
-- lists holds can come to mean another list) and maps it back to the customer.
--
-- merged = 0: pending, the tokens are in the list alone (see internal/store/search.go);
-- merged = 1: in search_tokens too.
CREATE TABLE search_lists_new (
    num INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id TEXT NOT NULL UNIQUE,
    tokens TEXT NOT NULL,
    merged INTEGER NOT NULL
);
INSERT INTO search_lists_new (customer_id, tokens, merged)
    SELECT customer_id, tokens, merged FROM search_lists ORDER BY customer_id;
CREATE TABLE search_tokens_new (
    token INTEGER NOT NULL,
    num INTEGER NOT NULL,
    PRIMARY KEY (token, num)
) WITHOUT ROWID;
INSERT INTO search_tokens_new (token, num)
    SELECT t.token, l.num FROM search_tokens t JOIN search_lists_new l ON l.customer_id = t.customer_id
    ORDER BY 1, 2;
DROP TABLE search_tokens;
DROP TABLE search_lists;
ALTER TABLE search_tokens_new RENAME TO search_tokens;
ALTER TABLE search_lists_new RENAME TO search_lists;
CREATE INDEX search_lists_pending ON search_lists (num) WHERE merged = 0;
