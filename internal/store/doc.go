// Package store implements every domain's storage interface once, over database/sql, for both
// engines: SQLite and PostgreSQL accept the same $n placeholders, RETURNING and ON CONFLICT, so
// one piece of code serves both and the differences live in a small Dialect. The engine
// packages (store/sqlite, store/postgres) open connections, set pragmas and carry migrations.
//
// Invariants: this package sees only ciphertext, wrapped keys and index tokens, never
// plaintext personal data, and never imports the vault; every write method stores its audit
// entries in the same transaction as the change; driver errors are translated into problem
// kinds here and never reach a caller as text.
package store
