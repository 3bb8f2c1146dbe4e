-- Connected platforms (shops, card processors, e-mail and SMS services …) whose webhooks Steward
-- receives. The signing secret is sealed under the source's own data key, itself wrapped by the
-- master key; the counters are added to by every node (see source.Service.Flush). Nothing here
-- holds personal data: a refused delivery leaves only a count and the reason, never its body.
CREATE TABLE sources (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    master_version BIGINT NOT NULL,
    data_key BYTEA NOT NULL,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    received BIGINT NOT NULL DEFAULT 0,
    stored BIGINT NOT NULL DEFAULT 0,
    refused BIGINT NOT NULL DEFAULT 0,
    duplicates BIGINT NOT NULL DEFAULT 0,
    ignored BIGINT NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    last_error_at BIGINT NOT NULL DEFAULT 0
);
