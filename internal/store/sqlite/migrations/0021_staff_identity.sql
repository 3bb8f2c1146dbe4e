-- Staff identity beyond passwords: where an account comes from (local, ldap, saml, oidc,
-- cas), when a session last proved who it is (a reveal asks again after ten minutes), where
-- sign-in goes on to, the WebAuthn ceremony in progress, passkeys, invitations and the
-- single-use record of identity-provider assertions (replays refused on every node).
ALTER TABLE staff_accounts ADD COLUMN via TEXT NOT NULL DEFAULT '';
ALTER TABLE staff_sessions ADD COLUMN auth_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE staff_sessions ADD COLUMN next_path TEXT NOT NULL DEFAULT '';
ALTER TABLE staff_sessions ADD COLUMN ceremony BLOB;

-- A passkey is a public key and its counters: nothing secret, nothing about customers.
CREATE TABLE staff_passkeys (
    id BLOB PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential BLOB NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX staff_passkeys_account ON staff_passkeys (account_id);

-- Invitations are kept by the SHA-256 of their link's secret, like sessions.
CREATE TABLE staff_invites (
    hash BLOB PRIMARY KEY,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE staff_sso_seen (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
