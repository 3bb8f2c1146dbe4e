// Package job is a database-backed queue for long work that must survive a restart: it knows
// nothing of the domains whose work it runs.
//
// Invariants: a job is in exactly one visible state (queued, running, done, failed); a running
// job holds a lease, and a job whose lease ran out (its node died) is claimed again and resumes
// from the last cursor it checkpointed, so handlers must make each step safe to repeat.
package job
