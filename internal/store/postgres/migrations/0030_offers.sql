-- The offer catalogue, who was evaluated as eligible for each offer (in the shown or the
-- hold-out group, for its uplift) and the redemptions made against orders.
CREATE TABLE offers (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    reward_kind TEXT NOT NULL,
    reward_value DOUBLE PRECISION NOT NULL,
    valid_from BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    eligibility TEXT NOT NULL,
    cap_count BIGINT NOT NULL,
    cap_days BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    products TEXT NOT NULL,
    holdout DOUBLE PRECISION NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE offer_exposures (
    offer_id TEXT NOT NULL REFERENCES offers (id),
    customer_id TEXT NOT NULL,
    holdout BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (offer_id, customer_id)
);
CREATE INDEX offer_exposures_customer ON offer_exposures (customer_id);

CREATE TABLE offer_redemptions (
    id BIGSERIAL PRIMARY KEY,
    offer_id TEXT NOT NULL REFERENCES offers (id),
    customer_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    at BIGINT NOT NULL,
    UNIQUE (offer_id, order_id)
);
CREATE INDEX offer_redemptions_customer ON offer_redemptions (customer_id, offer_id, at);
