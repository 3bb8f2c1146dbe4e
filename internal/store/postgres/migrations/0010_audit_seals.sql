-- Chain heads carry a keyed MAC (audit.Sealer.Seal) that vouches for the entries after the
-- last signed checkpoint. Heads written before this migration have no MAC: they vouch for
-- nothing until the chain's next append seals them. The anchor columns (another chain's head
-- a head or checkpoint vouches for) stay zero here: every chain lives in this one database.
ALTER TABLE audit_heads ADD COLUMN mac BYTEA NOT NULL DEFAULT ''::bytea;
ALTER TABLE audit_heads ADD COLUMN anchor_chain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN anchor_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN anchor_hash BYTEA NOT NULL DEFAULT ''::bytea;
ALTER TABLE audit_checkpoints ADD COLUMN anchor_chain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoints ADD COLUMN anchor_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoints ADD COLUMN anchor_hash BYTEA NOT NULL DEFAULT ''::bytea;
