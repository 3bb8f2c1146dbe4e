-- Events partitioned by the month they were received in (declarative range partitioning on
-- received_at, in microseconds since 1970, months in UTC). A month whose events have all passed
-- their retention is dropped whole (DROP TABLE, instant, nothing left in dead row versions)
-- instead of deleted row by row; reads and erasures by customer use each partition's index.
-- steward_event_partitions creates the months a range of times needs; nodes call it at start
-- and with every retention purge, so the current month and the next two always exist.

CREATE FUNCTION steward_event_partitions(from_us BIGINT, to_us BIGINT) RETURNS INTEGER AS $$
DECLARE
    m TIMESTAMP := date_trunc('month', to_timestamp(from_us / 1000000.0) AT TIME ZONE 'UTC');
    next TIMESTAMP;
    made INTEGER := 0;
BEGIN
    -- Nodes starting together would otherwise race to create the same table.
    PERFORM pg_advisory_xact_lock(hashtext('steward_event_partitions'));
    WHILE m < to_timestamp(to_us / 1000000.0) AT TIME ZONE 'UTC' LOOP
        next := m + INTERVAL '1 month';
        IF to_regclass(format('events_%s', to_char(m, '"y"YYYY"m"MM'))) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF events FOR VALUES FROM (%s) TO (%s)',
                format('events_%s', to_char(m, '"y"YYYY"m"MM')),
                (extract(epoch FROM m AT TIME ZONE 'UTC') * 1000000)::BIGINT,
                (extract(epoch FROM next AT TIME ZONE 'UTC') * 1000000)::BIGINT);
            made := made + 1;
        END IF;
        m := next;
    END LOOP;
    RETURN made;
END
$$ LANGUAGE plpgsql;

ALTER TABLE events RENAME TO events_unpartitioned;
ALTER INDEX events_pkey RENAME TO events_unpartitioned_pkey;
ALTER INDEX events_customer RENAME TO events_unpartitioned_customer;
ALTER INDEX events_expires RENAME TO events_unpartitioned_expires;
ALTER INDEX events_engagement RENAME TO events_unpartitioned_engagement;
ALTER TABLE events_unpartitioned RENAME CONSTRAINT events_customer_id_fkey TO events_unpartitioned_customer_id_fkey;

CREATE TABLE events (
    id BIGINT NOT NULL DEFAULT nextval('events_id_seq'),
    customer_id TEXT NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    key_id TEXT NOT NULL,
    type TEXT NOT NULL,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    at BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    plain TEXT NOT NULL,
    sealed BYTEA,
    PRIMARY KEY (id, received_at)
) PARTITION BY RANGE (received_at);
CREATE INDEX events_customer ON events (customer_id, id);
-- Whole, not only expires_at > 0: "does anything in this month remain?" asks for kept-forever
-- (0) and not-yet-expired events alike, each an index probe.
CREATE INDEX events_expires ON events (expires_at);
CREATE INDEX events_engagement ON events (customer_id, name, at) WHERE category = 'engagement';

SELECT steward_event_partitions(
    COALESCE((SELECT MIN(received_at) FROM events_unpartitioned), (extract(epoch FROM now()) * 1000000)::BIGINT),
    (extract(epoch FROM now() + INTERVAL '3 months') * 1000000)::BIGINT);
SELECT steward_event_partitions(MAX(received_at), MAX(received_at) + 1) FROM events_unpartitioned;
INSERT INTO events SELECT * FROM events_unpartitioned;
ALTER SEQUENCE events_id_seq OWNED BY events.id;
DROP TABLE events_unpartitioned;
