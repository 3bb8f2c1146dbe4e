-- Consent evidence that can identify a person (user agent, a caller's form id, TCF and GPP
-- strings) is sealed under the customer's data key into this column, so erasure shreds it.
-- Rows written before hold it in clear in the old columns: the server seals them when it
-- starts (consent.Service.SealStoredEvidence) and blanks the old columns; the partial index
-- finds them without reading the whole ledger.
ALTER TABLE consent_records ADD COLUMN evidence BLOB NOT NULL DEFAULT x'';
CREATE INDEX consent_records_unsealed ON consent_records (seq)
    WHERE user_agent <> '' OR tcf <> '' OR gpp <> '' OR (form_id <> '' AND source NOT IN ('event', 'merge', 'request'));
-- The ledger stays append-only but for two changes to a record's evidence: sealing what was
-- in clear (the clear columns emptied, the form id kept or emptied, the sealed column set
-- once) and erasure's blanking (everything emptied).
DROP TRIGGER consent_records_no_update;
CREATE TRIGGER consent_records_no_update BEFORE UPDATE ON consent_records
WHEN NOT (NEW.seq IS OLD.seq AND NEW.id IS OLD.id AND NEW.customer_id IS OLD.customer_id AND NEW.kind IS OLD.kind
    AND NEW.purpose IS OLD.purpose AND NEW.granted IS OLD.granted AND NEW.policy_version IS OLD.policy_version
    AND NEW.source IS OLD.source AND NEW.channel IS OLD.channel AND NEW.at IS OLD.at AND NEW.ip_hash IS OLD.ip_hash
    AND NEW.actor_id IS OLD.actor_id AND NEW.request_id IS OLD.request_id AND NEW.receipt IS OLD.receipt
    AND (NEW.form_id = '' OR NEW.form_id IS OLD.form_id) AND NEW.user_agent = '' AND NEW.tcf = '' AND NEW.gpp = ''
    AND (length(NEW.evidence) = 0 OR length(OLD.evidence) = 0))
BEGIN SELECT RAISE(ABORT, 'consent_records is append-only'); END;
