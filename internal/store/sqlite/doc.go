// Package sqlite opens Steward's embedded database: a SQLite file in the data directory, in
// WAL mode, with one writer connection and a pool of readers, plus an access trail file
// attached to every connection. Open returns a store.Engine.
//
// It owns what only a single-writer, file-based engine needs, so that the shared core and
// PostgreSQL never see it: the group-commit writer (store.Writer) that merges concurrent
// callers' transactions into one commit, since the commit and not the statements is the cost
// of one writer; the access journal (store.AccessLog) that makes audited reads durable in a
// file and links them into the trail with the next write; statement rewriting (store.Rewriter);
// the background checkpointer the writer paces; page-by-page snapshots for backups and the
// file swap that restores them. Its migrations (main file and access file) are embedded.
package sqlite
