-- Each customer's search tokens as one row (a JSON array of the tokens in search_tokens'
-- numbering), so that a change or an erasure deletes the tokens it removes by search_tokens'
-- primary key: the index by customer that did this doubled every token's cost.
--
-- merged = 0: the tokens are in this row alone, pending. A create writes one such row, next to
-- the customer rows it appends anyway, instead of a dozen rows at scattered places of
-- search_tokens; the writer moves the pending rows into search_tokens in sorted batches of
-- hundreds of customers (see internal/store/search.go), and searches read the few pending
-- rows besides search_tokens. merged = 1: the tokens are in search_tokens too.
CREATE TABLE search_lists (
    customer_id TEXT PRIMARY KEY,
    tokens TEXT NOT NULL,
    merged INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX search_lists_pending ON search_lists (customer_id) WHERE merged = 0;
INSERT INTO search_lists (customer_id, tokens, merged)
    SELECT customer_id, json_group_array(token), 1 FROM search_tokens GROUP BY customer_id;
DROP INDEX search_tokens_customer;
