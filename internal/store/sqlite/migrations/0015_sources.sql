-- Connected platforms (shops, card processors, e-mail and SMS services …) whose webhooks Steward
-- receives. The signing secret is sealed under the source's own data key, itself wrapped by the
-- master key; the counters are added to by every node (see source.Service.Flush). Nothing here
-- holds personal data: a refused delivery leaves only a count and the reason, never its body.
CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    master_version INTEGER NOT NULL,
    data_key BLOB NOT NULL,
    secret BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    stored INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    duplicates INTEGER NOT NULL DEFAULT 0,
    ignored INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    last_error_at INTEGER NOT NULL DEFAULT 0
);
