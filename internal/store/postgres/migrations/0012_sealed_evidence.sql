-- Consent evidence that can identify a person (user agent, a caller's form id, TCF and GPP
-- strings) is sealed under the customer's data key into this column, so erasure shreds it.
-- Rows written before hold it in clear in the old columns: the server seals them when it
-- starts (consent.Service.SealStoredEvidence) and blanks the old columns; the partial index
-- finds them without reading the whole ledger.
ALTER TABLE consent_records ADD COLUMN evidence BYTEA NOT NULL DEFAULT ''::bytea;
CREATE INDEX consent_records_unsealed ON consent_records (seq)
    WHERE user_agent <> '' OR tcf <> '' OR gpp <> '' OR (form_id <> '' AND source NOT IN ('event', 'merge', 'request'));
-- The ledger stays append-only but for two changes to a record's evidence: sealing what was
-- in clear (the clear columns emptied, the form id kept or emptied, the sealed column set
-- once) and erasure's blanking (everything emptied).
CREATE FUNCTION steward_consent_evidence_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.seq, NEW.id, NEW.customer_id, NEW.kind, NEW.purpose, NEW.granted, NEW.policy_version, NEW.source,
        NEW.channel, NEW.at, NEW.ip_hash, NEW.actor_id, NEW.request_id, NEW.receipt)
        IS DISTINCT FROM (OLD.seq, OLD.id, OLD.customer_id, OLD.kind, OLD.purpose, OLD.granted, OLD.policy_version,
        OLD.source, OLD.channel, OLD.at, OLD.ip_hash, OLD.actor_id, OLD.request_id, OLD.receipt)
        OR NOT (NEW.form_id = '' OR NEW.form_id = OLD.form_id) OR NEW.user_agent <> '' OR NEW.tcf <> '' OR NEW.gpp <> ''
        OR (length(NEW.evidence) <> 0 AND length(OLD.evidence) <> 0) THEN
        RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER consent_records_append_only ON consent_records;
CREATE TRIGGER consent_records_append_only BEFORE DELETE ON consent_records FOR EACH ROW EXECUTE FUNCTION steward_append_only();
CREATE TRIGGER consent_records_evidence_only BEFORE UPDATE ON consent_records FOR EACH ROW EXECUTE FUNCTION steward_consent_evidence_only();
