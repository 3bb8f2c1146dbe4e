-- The privacy portal's one-time sign-in links and sessions, by the SHA-256 of their secrets:
-- a copy of the database opens no session. A link is removed when used; a session when it
-- ends; both with their customer.
CREATE TABLE portal_tokens (
    hash BLOB PRIMARY KEY,
    kind TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    csrf TEXT NOT NULL DEFAULT ''
);
CREATE INDEX portal_tokens_customer ON portal_tokens (customer_id, kind, created_at);
