-- Who made each API key (staff:<id>, key:<id> or system), so a person's keys are revoked
-- with their access, and when a key stops working by itself. Keys made before keep no owner
-- and no expiry.
ALTER TABLE api_keys ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
