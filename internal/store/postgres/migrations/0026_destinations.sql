-- Destinations: where a segment's members are sent, for a purpose, with a field allow-list.
-- The secret is sealed under the destination's own data key (dkey, wrapped by master_version).
CREATE TABLE destinations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    fields TEXT NOT NULL,
    url TEXT NOT NULL,
    master_version BIGINT NOT NULL,
    dkey BYTEA NOT NULL,
    secret BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX destinations_segment ON destinations (segment_id);

-- Deliveries hold the customer id and the action, never a payload: it is made when sent.
CREATE TABLE destination_deliveries (
    id BIGSERIAL PRIMARY KEY,
    destination_id TEXT NOT NULL REFERENCES destinations (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    action TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_at BIGINT NOT NULL,
    last_status BIGINT NOT NULL,
    last_error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT NOT NULL
);
CREATE INDEX destination_deliveries_due ON destination_deliveries (state, next_at);
CREATE INDEX destination_deliveries_destination ON destination_deliveries (destination_id, id);
CREATE INDEX destination_deliveries_customer ON destination_deliveries (customer_id);
