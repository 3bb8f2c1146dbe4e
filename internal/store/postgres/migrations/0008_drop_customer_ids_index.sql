-- SQLite drops a duplicate index here; PostgreSQL never had it. The number keeps both
-- engines' migration lists in step.
SELECT 1;
