-- PostgreSQL partitions its events table by month in this migration. SQLite keeps one table:
-- its retention purge deletes expired rows, and the file is compacted by checkpoints and
-- VACUUM, so there is nothing to change here. The number is kept so both engines list the
-- same migrations.
SELECT 1;
