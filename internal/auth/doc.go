// Package auth owns staff and service credentials: API keys scoped to a catalog role.
//
// Invariants: a key's secret is shown once, at creation, and stored only as its SHA-256 hash
// (keys are 160 random bits, so a slow hash adds nothing); a revoked key never authenticates
// again; creating, listing and revoking keys is audited.
package auth
