package customer

import (
	"context"
	"encoding/json"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
)

// Record is a customer as engines store it: sealed personal values, plain non-personal
// values, the customer's wrapped data key and the blind-index tokens for look-ups.
type Record struct {
	ID            string
	Version       int64
	MasterVersion int    // master key version that wraps Key
	Key           []byte // the customer's data key, wrapped
	Sealed        map[string][]byte
	Plain         map[string]json.RawMessage
	Index         []IndexEntry
	// Search holds the profile's search tokens (see package search) when it was sealed in
	// this process: engines replace the stored tokens with them. Nil, on a record read from
	// the store and written back unsealed, leaves the stored tokens as they are.
	Search []int64
	// IndexKept, on a record resealed for a change of fields that neither the blind index
	// nor search reads (Vault.ResealChanged), says that the stored index entries and search
	// tokens stand: Index and Search were not derived again, and engines leave both alone.
	IndexKept bool
	CreatedAt time.Time
	UpdatedAt time.Time

	// MergedInto, as GetCustomer and FindCustomers return it, is the customer this one was
	// merged into (by stitching or a duplicate review), empty for a customer standing on its
	// own. A merged customer keeps its row so that the merge can be undone; it is answered
	// for by the customer it was merged into.
	MergedInto string
	// Claims, on a record being created, are the index tokens the create stands on: engines
	// check them inside the inserting transaction (see Claim).
	Claims []Claim
}

// Claim makes a create stand only if no customer holds Token in Field's blind index other
// than those the creator already opened and found to hold another value (Seen). Tokens are
// truncated, so a failed claim proves nothing by itself: the engine answers Conflict and the
// creator looks again, opening whoever holds the token now. This is what keeps two concurrent
// creates of one new e-mail address from both succeeding.
type Claim struct {
	Field string
	Token int64
	Seen  []string
}

// IndexEntry is one blind-index token for one field.
type IndexEntry struct {
	Field string
	Token int64
}

// Store persists customers. Write methods store the audit entries in the same transaction as
// the change, so a change is never without its record.
type Store interface {
	// CreateCustomer inserts r. Returns Conflict if the id exists or one of r's claims fails.
	CreateCustomer(ctx context.Context, r *Record, entries []audit.Entry) error
	// CreateCustomers inserts every record or none (Conflict if any id exists or any claim
	// fails).
	CreateCustomers(ctx context.Context, recs []*Record, entries []audit.Entry) error
	// UpdateCustomer replaces r's values, index entries and key if the stored version is still
	// prevVersion. Returns NotFound if the customer does not exist and Conflict if another
	// writer got there first.
	UpdateCustomer(ctx context.Context, r *Record, prevVersion int64, entries []audit.Entry) error
	// CreateCustomerWith is CreateCustomer that also stores the consent ledger append optOut
	// (the opt-out a request relayed) in the same transaction: both or neither.
	CreateCustomerWith(ctx context.Context, r *Record, entries []audit.Entry, optOut consent.Append) error
	// UpdateCustomerWith is UpdateCustomer that also stores optOut in the same transaction;
	// Conflict, writing nothing, also when optOut's expectations no longer hold.
	UpdateCustomerWith(ctx context.Context, r *Record, prevVersion int64, entries []audit.Entry, optOut consent.Append) error
	// GetCustomer returns NotFound if the customer does not exist.
	GetCustomer(ctx context.Context, id string) (*Record, error)
	// FindCustomers returns the customers with the token in field's blind index: candidates
	// that the caller must open and compare, because tokens are deliberately truncated. Merged
	// customers are among them, with MergedInto set.
	FindCustomers(ctx context.Context, field string, token int64, limit int) ([]*Record, error)
	// CustomersByID returns the stored customers among ids, in no particular order, in a few
	// batched queries however many ids there are.
	CustomersByID(ctx context.Context, ids []string) ([]*Record, error)
	// ListCustomers returns up to limit customers with id greater than after, by id, merged
	// ones included: the walk of retention, which must reach every stored value.
	ListCustomers(ctx context.Context, after string, limit int) ([]*Record, error)
	// ListUnmerged is ListCustomers without the customers merged into another: what a
	// listing shows, one record per person.
	ListUnmerged(ctx context.Context, after string, limit int) ([]*Record, error)
	// CountCustomers returns how many customers are stored.
	CountCustomers(ctx context.Context) (int64, error)
}

// KeyStore lets key rotation walk and rewrap customers' data keys without touching values.
type KeyStore interface {
	// CustomerKeys returns up to limit (id, master version, wrapped key) triples with id
	// greater than after, by id.
	CustomerKeys(ctx context.Context, after string, limit int) ([]WrappedKey, error)
	// RewrapCustomerKeys replaces wrapped keys whose master version is still the old one.
	RewrapCustomerKeys(ctx context.Context, keys []WrappedKey) error
	// CountCustomers returns how many customers are stored, for progress reporting.
	CountCustomers(ctx context.Context) (int64, error)
}

// WrappedKey is one customer's wrapped data key.
type WrappedKey struct {
	CustomerID    string
	MasterVersion int
	Key           []byte
	OldVersion    int // set by rotation: the version the key was wrapped under when read
}
