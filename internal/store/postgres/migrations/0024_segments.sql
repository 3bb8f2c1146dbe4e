-- Segments: a name, a purpose and a rule (JSON, no personal values). Memberships and their
-- history hold customer ids only; the history says who entered and left, when and why.
CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    purpose TEXT NOT NULL,
    rule TEXT NOT NULL,
    min_cohort BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL
);

CREATE TABLE segment_members (
    segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    entered_at BIGINT NOT NULL,
    PRIMARY KEY (segment_id, customer_id)
);
CREATE INDEX segment_members_customer ON segment_members (customer_id);

CREATE TABLE segment_history (
    id BIGSERIAL PRIMARY KEY,
    segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    entered BIGINT NOT NULL,
    reason TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX segment_history_segment ON segment_history (segment_id, id);
CREATE INDEX segment_history_customer ON segment_history (customer_id);

-- The privacy budget each caller spent on noisy trend answers per day.
CREATE TABLE trend_budgets (
    actor TEXT NOT NULL,
    day TEXT NOT NULL,
    spent DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (actor, day)
);
