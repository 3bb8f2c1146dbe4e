-- Staff accounts for the console: an argon2id password hash, the TOTP secret sealed, a role
-- of the catalog. Sessions are kept by the SHA-256 of their secret, so a copy of the database
-- opens none.
CREATE TABLE staff_accounts (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    totp BYTEA,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE staff_sessions (
    hash BYTEA PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    csrf TEXT NOT NULL,
    pending BYTEA,
    created_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX staff_sessions_account ON staff_sessions (account_id);
