// Package store implements every domain's storage interface once, over database/sql, for both
// engines: SQLite and PostgreSQL accept the same $n placeholders, RETURNING and ON CONFLICT, so
// one piece of code serves both and the differences the shared SQL must spell out live in a
// small Dialect.
//
// Layout. Each domain has a repository type satisfying exactly the store interface(s) that
// domain declares: Customers (customer.Store, customer.KeyStore), Consents (consent.Store),
// Ingest (ingest.Store), Rights (rights.Store, rights.Rows, customer.ErasureLedger), Duplicates
// (duplicate.Store), Audit (audit.Store), Jobs (job.Store), Keysets (keys.Store), APIKeys
// (auth.Store), Imports (importer.Uploads) and Quality (quality.MonitorStore). Each keeps its
// SQL in the file named after its domain. They share one unexported core: the pools, the
// prepared statements, the write-transaction wrapper (which also tells the permission-decision
// watcher what a write changed) and the audit append that runs inside every write. An Engine,
// which sqlite.Open and postgres.Open return, holds the repositories and what only the engine
// knows (its Backend: backups, compaction, migration files, how long a cached decision may be
// trusted), so no code anywhere decides by an engine's name.
//
// What only SQLite needs stays in store/sqlite and reaches the core through three small
// interfaces: a Writer (group commit: one connection writes, so concurrent callers share
// commits), an AccessLog (the journal that takes audited reads off the writer) and a Rewriter
// (bare parameters, INSERT OR FAIL, a primary-key hint). PostgreSQL sets none of them and
// gets plain transactions, retried on serialization failures. The hot paths pay one interface
// call for this, no allocation.
//
// Invariants: this package sees only ciphertext, wrapped keys and index tokens, never
// plaintext personal data, and never imports the vault; every write method stores its audit
// entries in the same transaction as the change; driver errors are translated into problem
// kinds here and never reach a caller as text; words shown to people (export titles, erasure
// reasons) belong to the domains, the store returns data.
package store
