// Package backup owns Steward's backup file format: a tar stream of database files or dumps,
// encrypted and authenticated in chunks under a random key that is stored only wrapped by the
// root key. A backup file therefore never holds a key that opens it: restoring needs the root
// key (the key file kept apart from backups, or the KMS), and any change to a byte, a missing
// chunk or a cut-off end is detected before anything is restored.
package backup
