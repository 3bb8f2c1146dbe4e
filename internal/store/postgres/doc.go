// Package postgres opens Steward on PostgreSQL, where several Steward nodes may share one
// database: all state lives there, jobs are claimed with SKIP LOCKED, and serialization
// failures are retried, so a PostgreSQL-compatible distributed engine can follow. Open returns
// a store.Engine over plain transactions (none of SQLite's writer hooks); backups are pg_dump
// files restored with pg_restore. Its migrations are embedded; a test in package store proves
// they build the same schema as SQLite's.
package postgres
