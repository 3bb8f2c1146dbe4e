-- SQLite rebuilds the blind index and the identities here so that their references are checked
-- at commit; PostgreSQL checks a multi-row insert's references without copying pages, so it
-- keeps them as they are. The number keeps both engines' migration lists in step.
SELECT 1;
