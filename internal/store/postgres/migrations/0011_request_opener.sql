-- Who opened a staff request, so that the four-eyes rule can keep that person from also
-- verifying the requester's identity. Requests opened before this migration take the actor of
-- their request.create audit entry; a self-service request (and one whose entry is gone) keeps
-- the empty string, which the rule treats as having no staff opener.
ALTER TABLE requests ADD COLUMN opened_by TEXT NOT NULL DEFAULT '';
UPDATE requests SET opened_by = COALESCE((SELECT a.actor_id FROM audit_log a
    WHERE a.action = 'request.create' AND a.target = 'request:' || requests.id ORDER BY a.id LIMIT 1), '')
WHERE source = 'staff';
