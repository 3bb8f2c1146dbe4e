package rights

import (
	"context"
	"errors"
	"time"

	"github.com/stewardhq/steward/internal/audit"
)

// Suppression is one keyed hash of an erased contact value.
type Suppression struct {
	Kind string // the field, e.g. email
	Hash []byte
}

// Hold is a legal hold on a customer: while it stands, neither retention nor erasure touches
// them.
type Hold struct {
	CustomerID string    `json:"customer_id"`
	Reason     string    `json:"reason"`
	ActorID    string    `json:"actor_id"`
	CreatedAt  time.Time `json:"created_at"`
}

// ErrMergedInto is BeginErasure's answer while customers are still merged into the one being
// erased: a merge made after the erasure listed the tree. The erasure lists it again.
var ErrMergedInto = errors.New("customers are merged into the customer being erased")

// Store is what the rights service needs from an engine. Write methods store their audit
// entries in the same transaction.
type Store interface {
	// BeginErasure, in one transaction: records e in the ledger as erasing, adds the
	// suppression hashes, deletes the customer's profile row together with its wrapped data
	// key (crypto-shredding) and blind-index entries, and appends entries. It returns the
	// outcomes for the tables it touched. When the ledger already holds the customer it
	// changes nothing and returns Conflict. While customers are still linked into this one
	// (merged into it) it changes nothing and returns ErrMergedInto: deleting the row would
	// drop the links, the only record of whose they are.
	BeginErasure(ctx context.Context, e LedgerEntry, suppress []Suppression, entries []audit.Entry) ([]Outcome, error)
	// SaveErasureReport stores the report of an erasure in progress.
	SaveErasureReport(ctx context.Context, customerID string, r Report) error
	// FinishErasure marks the ledger entry erased with its final report.
	FinishErasure(ctx context.Context, customerID string, r Report, at time.Time, entries []audit.Entry) error
	// Forget removes the earlier versions of the rows an erasure deleted from the engine's
	// logs where it can (SQLite's write-ahead logs), so the wrapped data key is in no file
	// once the erasure returns. It fails while a long read holds the log back.
	Forget(ctx context.Context) error
	// MergeTree returns the customer at the top of id's merge links and every customer
	// merged into that one at any depth (merges in force, not undone ones), the top first
	// and every customer before those merged into it. NotFound when id has no profile row.
	MergeTree(ctx context.Context, id string) (root string, tree []string, err error)
	// MergedInto returns every customer merged into id at any depth, in MergeTree's order;
	// none for a customer without a profile row.
	MergedInto(ctx context.Context, id string) ([]string, error)
	// LedgerEntry returns NotFound when the customer was never erased.
	LedgerEntry(ctx context.Context, customerID string) (LedgerEntry, error)
	// LedgerEntries returns up to limit entries with id greater than after, by id.
	LedgerEntries(ctx context.Context, after string, limit int) ([]LedgerEntry, error)
	// Erased implements customer.ErasureLedger.
	Erased(ctx context.Context, customerID string) (bool, error)
	// Suppressed reports whether the keyed hash is on the suppression list.
	Suppressed(ctx context.Context, kind string, hash []byte) (bool, error)

	// LegalHold returns NotFound when the customer is not held.
	LegalHold(ctx context.Context, customerID string) (Hold, error)
	// SetLegalHold places or replaces a hold.
	SetLegalHold(ctx context.Context, h Hold, entries []audit.Entry) error
	// ReleaseLegalHold returns NotFound when there was no hold.
	ReleaseLegalHold(ctx context.Context, customerID string, entries []audit.Entry) error
	// LegalHolds lists every hold.
	LegalHolds(ctx context.Context) ([]Hold, error)

	// CreateRequest inserts r.
	CreateRequest(ctx context.Context, r *Request, entries []audit.Entry) error
	// CreateSelfRequest inserts r, a request made on the privacy portal, unless limit or more
	// requests made there with r's contact hash were created since since: then it stores
	// nothing and returns false. The count and the insert share one transaction.
	CreateSelfRequest(ctx context.Context, r *Request, entries []audit.Entry, since time.Time, limit int) (bool, error)
	// UpdateRequest stores r if the stored version is still prev: NotFound or Conflict
	// otherwise, so two staff completing one request at once cannot both win.
	UpdateRequest(ctx context.Context, r *Request, prev int64, entries []audit.Entry) error
	// GetRequest returns NotFound for an unknown id.
	GetRequest(ctx context.Context, id string) (*Request, error)
	// RequestByToken returns the request whose verification token hashes to tokenHash.
	RequestByToken(ctx context.Context, tokenHash []byte) (*Request, error)
	// ListRequests returns requests matching f, by due date.
	ListRequests(ctx context.Context, f RequestFilter) ([]*Request, error)
	// RequestCounts counts open requests by state, and those overdue or due before soon.
	RequestCounts(ctx context.Context, now, soon time.Time) (RequestStats, error)

	// SaveExport stores a sealed export package.
	SaveExport(ctx context.Context, x Export, entries []audit.Entry) error
	// GetExport returns NotFound for an unknown or deleted export.
	GetExport(ctx context.Context, id string) (Export, error)
	// DeleteExpiredExports deletes exports that expired before now and says how many.
	DeleteExpiredExports(ctx context.Context, now time.Time) (int64, error)
}
