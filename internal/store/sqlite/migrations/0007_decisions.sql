-- decision_seq counts changes to what the permission decision reads about a customer: their
-- consent records, their contact values (the suppression list matches them) and suppression
-- entries that match those values. A cached decision input is still good while the stored
-- number is the one it was loaded with, so a process can check a cache with one key look-up
-- instead of reloading the customer's ledger.
ALTER TABLE customers ADD COLUMN decision_seq INTEGER NOT NULL DEFAULT 0;

-- The engine bumps it for every ledger record, whichever code path or process appends it.
CREATE TRIGGER consent_records_decision_seq AFTER INSERT ON consent_records BEGIN
    UPDATE customers SET decision_seq = decision_seq + 1 WHERE id = NEW.customer_id;
END;

-- A suppression entry names no customer: it reaches everyone whose email or phone has its
-- blind-index token (a superset, as tokens are truncated, which only costs a reload).
CREATE TRIGGER suppressions_decision_seq AFTER INSERT ON suppressions BEGIN
    UPDATE customers SET decision_seq = decision_seq + 1
    WHERE id IN (SELECT customer_id FROM blind_index WHERE field = NEW.field AND token = NEW.token);
END;

-- Restriction of processing moves into the consent ledger, where the one permission decision
-- reads it: each customer restricted through a request gets a restriction record naming the
-- request, and the table goes.
INSERT INTO consent_records (id, customer_id, kind, purpose, granted, policy_version, source, channel, at,
    form_id, user_agent, ip_hash, tcf, gpp, actor_id, request_id, receipt)
SELECT 'restriction-' || customer_id, customer_id, 'restriction', '', 0, '', 'request', '', created_at,
    'request:' || request_id, '', '', '', '', 'system', '', ''
FROM restrictions ORDER BY created_at;
DROP TABLE restrictions;

-- An erasure's marketing suppression entries (keyed hashes and blind-index tokens) go into the
-- erasure ledger too, so that a restore replays them with the erasure.
ALTER TABLE erasure_ledger ADD COLUMN marketing TEXT NOT NULL DEFAULT '[]';
