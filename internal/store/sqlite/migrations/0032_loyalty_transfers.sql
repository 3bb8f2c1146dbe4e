-- Points follow a merge of customers: the merged-away account's lots move to the account of
-- the customer it was merged into (and what is left of them moves back when the merge is
-- undone), as transfer entries on both sides.
--
-- lot names the credit entry whose lot a transfer out takes, so a debit can take one lot
-- rather than the oldest; qualifying_points is what an entry counts towards the tier when
-- that differs from its points (a lot moved after some of it was spent still carries all the
-- qualifying points it was earned with). Entries written before have NULL in both: they
-- take the oldest lots, and qualify with their points when qualifying.
ALTER TABLE loyalty_entries ADD COLUMN lot INTEGER;
ALTER TABLE loyalty_entries ADD COLUMN qualifying_points INTEGER;
