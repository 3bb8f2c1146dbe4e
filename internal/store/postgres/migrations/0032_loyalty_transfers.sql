-- Points follow a merge of customers (see the SQLite migration of the same number): lot names
-- the credit entry whose lot a transfer out takes; qualifying_points is what an entry counts
-- towards the tier when that differs from its points. NULL in entries written before.
ALTER TABLE loyalty_entries ADD COLUMN lot BIGINT;
ALTER TABLE loyalty_entries ADD COLUMN qualifying_points BIGINT;
