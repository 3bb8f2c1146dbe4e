-- Search tokens' customer numbers kept in blocks: one row per token and block instead of one
-- per token and customer (see internal/store/searchblock.go). A block holds a token's numbers
-- within one span of 1,024 numbers (first, the lowest of them, names the span), as n and the
-- numbers' offsets in the span: big-endian two-byte integers, sorted, or a bitmap of the span
-- (128 bytes) when more than 64. Here each token's numbers become one block per span, listed.
CREATE TABLE search_blocks (
    token BIGINT NOT NULL,
    first BIGINT NOT NULL,
    n INTEGER NOT NULL,
    nums BYTEA NOT NULL,
    PRIMARY KEY (token, first)
);
INSERT INTO search_blocks (token, first, n, nums)
    SELECT token, MIN(num), COUNT(*), string_agg(int2send((num & 1023)::smallint), ''::bytea ORDER BY num)
    FROM search_tokens GROUP BY token, num >> 10;
DROP TABLE search_tokens;
ALTER TABLE search_blocks RENAME TO search_tokens;
ALTER INDEX search_blocks_pkey RENAME TO search_tokens_pkey;
