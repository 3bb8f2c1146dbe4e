-- The access chain's head is sealed like the main chain's (see the main database's
-- 0010_audit_seals.sql); the anchor columns stay zero here and exist so that one query reads
-- the heads and checkpoints of both files.
ALTER TABLE audit_heads ADD COLUMN mac BLOB NOT NULL DEFAULT x'';
ALTER TABLE audit_heads ADD COLUMN anchor_chain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN anchor_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_heads ADD COLUMN anchor_hash BLOB NOT NULL DEFAULT x'';
ALTER TABLE audit_checkpoints ADD COLUMN anchor_chain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoints ADD COLUMN anchor_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_checkpoints ADD COLUMN anchor_hash BLOB NOT NULL DEFAULT x'';
