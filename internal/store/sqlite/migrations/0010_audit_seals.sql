-- Chain heads carry a keyed MAC (audit.Sealer.Seal) that vouches for the entries after the
-- last signed checkpoint, and, on the main chain, the access trail's committed head they
-- anchor; checkpoints carry the anchor too, signed. Heads written before this migration
-- have no MAC: they vouch for nothing until the chain's next append seals them.
ALTER TABLE audit_heads ADD COLUMN mac BLOB NOT NULL DEFAULT x'';
ALTER TABLE audit_heads ADD COLUMN anchor_chain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN anchor_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN anchor_hash BLOB NOT NULL DEFAULT x'';
ALTER TABLE audit_checkpoints ADD COLUMN anchor_chain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoints ADD COLUMN anchor_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoints ADD COLUMN anchor_hash BLOB NOT NULL DEFAULT x'';
