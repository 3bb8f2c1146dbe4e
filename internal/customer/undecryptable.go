package customer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/vault"
)

// ErrUndecryptable marks a stored profile that does not open: its wrapped data key or one of
// its sealed values fails authentication, or a value decrypts to something that is not a
// stored value. That means a damaged row, tampering or a lost master key version, never bad
// input, and no retry will change it.
var ErrUndecryptable = errors.New("stored customer profile does not decrypt")

// undecryptable wraps cause as ErrUndecryptable behind an Internal problem whose detail the
// caller sees. The cause stays for errors.Is; it carries no value (AEAD and JSON errors name
// a position or a key version, and those from values are replaced below).
func undecryptable(cause error, detail string) error {
	return problem.Wrap(problem.Internal, fmt.Errorf("%w: %w", ErrUndecryptable, cause), "%s", detail)
}

// keyUnavailable classifies a failure to unwrap a customer's data key: a key that fails
// authentication (or names a master version the keyset lacks) is undecryptable; anything else
// (the keyset could not be reloaded, say) is a fault of the moment and stays a plain Internal.
func keyUnavailable(err error) error {
	if errors.Is(err, vault.ErrDecrypt) {
		return undecryptable(err, "customer key unavailable")
	}
	return problem.Wrap(problem.Internal, err, "customer key unavailable")
}

// IsUndecryptable reports whether err comes from a stored profile that does not open.
func IsUndecryptable(err error) bool { return errors.Is(err, ErrUndecryptable) }

// Stats counts the profiles that batch reads (listings, look-ups, the duplicate scan, the
// consent suppression match) skipped because they did not decrypt. Each skip counts, so a
// damaged profile listed ten times counts ten: the count measures how often answers left
// something out, and its growth is what an operator alerts on. It holds no ids; the log line
// of each skip names the customer. The metrics endpoint reads it at each scrape, and this
// package never needs to know who is watching.
type Stats struct{ undecryptable atomic.Int64 }

// Undecryptable is how many times a batch read skipped a profile that did not decrypt.
func (s *Stats) Undecryptable() int64 {
	if s == nil {
		return 0
	}
	return s.undecryptable.Load()
}

// Stats is the vault's count of skipped profiles.
func (vt *Vault) Stats() *Stats { return &vt.stats }

// Skip decides whether a batch read may leave out the customer whose profile failed to open
// with err: yes when the profile is undecryptable, which is then counted and logged by
// customer id (a random id, never a value), so one damaged row cannot turn a listing, a
// look-up or a scan of everyone else into an error. Any other error is the caller's to return.
// Reads of one customer by id do not skip: they answer that customer's data cannot be shown.
func (vt *Vault) Skip(ctx context.Context, customerID string, err error) bool {
	if !IsUndecryptable(err) {
		return false
	}
	vt.stats.undecryptable.Add(1)
	vt.log.WarnContext(ctx, "customer profile does not decrypt; left out of a batch read", "customer_id", customerID,
		"request_id", audit.RequestID(ctx))
	return true
}

// unreadable answers a read of one customer whose stored data does not open: an Internal
// problem, which callers see as a bare "internal error" with a request id (no reason, as for
// every internal failure), and a log line with that request id naming the customer, so the
// operator who is handed the request id finds the row to restore or erase.
func (vt *Vault) unreadable(ctx context.Context, customerID string, err error) error {
	if !IsUndecryptable(err) {
		return err
	}
	vt.log.ErrorContext(ctx, "customer profile does not decrypt", "customer_id", customerID, "request_id", audit.RequestID(ctx))
	return err
}

// discardLog is the logger of a vault built without one.
var discardLog = slog.New(slog.DiscardHandler)
