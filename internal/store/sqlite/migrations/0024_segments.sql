-- Segments: a name, a purpose and a rule (JSON, no personal values). Memberships and their
-- history hold customer ids only; the history says who entered and left, when and why.
CREATE TABLE segments (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    purpose TEXT NOT NULL,
    rule TEXT NOT NULL,
    min_cohort INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    refreshed_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE segment_members (
    segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    entered_at INTEGER NOT NULL,
    PRIMARY KEY (segment_id, customer_id)
) WITHOUT ROWID;
CREATE INDEX segment_members_customer ON segment_members (customer_id);

CREATE TABLE segment_history (
    id INTEGER PRIMARY KEY,
    segment_id TEXT NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
    customer_id TEXT NOT NULL,
    entered INTEGER NOT NULL,
    reason TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX segment_history_segment ON segment_history (segment_id, id);
CREATE INDEX segment_history_customer ON segment_history (customer_id);

-- The privacy budget each caller spent on noisy trend answers per day.
CREATE TABLE trend_budgets (
    actor TEXT NOT NULL,
    day TEXT NOT NULL,
    spent REAL NOT NULL,
    PRIMARY KEY (actor, day)
) WITHOUT ROWID;
