package consent

import (
	"context"
	"time"

	"github.com/stewardhq/steward/internal/audit"
)

// Store is what the ledger needs from an engine. Write methods store their audit entries in the
// same transaction, so a change is never without its record. Methods taking many customer ids
// answer in a few batched queries, never one query per id.
type Store interface {
	// PublishPolicy stores p, whose Seq must be one more than the newest stored policy's, with
	// its audit entries. Returns Conflict if the version exists or another policy took Seq.
	PublishPolicy(ctx context.Context, p Policy, entries []audit.Entry) error
	// Policies returns every policy in publication order, without texts.
	Policies(ctx context.Context) ([]Policy, error)
	// Policy returns one policy with its text; NotFound if the version does not exist.
	Policy(ctx context.Context, version string) (Policy, error)
	// AppendConsent stores a's records (all for one customer), suppression entries and audit
	// entries in one transaction. It returns NotFound if the customer does not exist, a
	// *Merged if it has been merged into another, and Conflict, writing nothing, if a.Expect
	// is set and the newest consent record of one of its purposes is no longer the one
	// expected. The customer's row is locked (where the engine locks rows) before the merge
	// link is read, so a merge committing meanwhile either sees the records or is seen.
	AppendConsent(ctx context.Context, a Append) error
	// AppendConsents stores several appends, each for its own customer, in one transaction:
	// all or none. Expect is not supported here. It returns NotFound, writing nothing, if one
	// of the customers does not exist, and a *Merged if one has been merged into another.
	AppendConsents(ctx context.Context, as []Append) error
	// CustomerRecords returns every record of one customer, oldest first, with evidence and
	// receipts.
	CustomerRecords(ctx context.Context, customerID string) ([]Record, error)
	// DecisionRecords returns which of ids are stored customers, which of them have been
	// merged into another customer (id to the customer it was merged into, one link up), and
	// the records of those ids that bear on purpose: its consent and objection records and
	// every restriction, in no particular order, without evidence or receipts — except the
	// evidence (FormID) of refusals with source event or merge, which says which event made
	// them (see eventReason). An empty purpose returns the records of every purpose.
	DecisionRecords(ctx context.Context, ids []string, purpose string) (exist map[string]bool, into map[string]string, recs []Record, err error)
	// DecisionVersion returns the customer's change counter and the newest policy's Seq, in
	// one round trip: what tells a cached decision input whether it is still current. Merging
	// a customer and undoing the merge move its counter.
	DecisionVersion(ctx context.Context, customerID string) (Version, error)
	// DecisionCounters returns the change counters of the stored customers among ids, in a
	// few batched queries; customers not stored are absent.
	DecisionCounters(ctx context.Context, ids []string) (map[string]int64, error)
	// AddSuppressions stores entries and their audit entries in one transaction.
	AddSuppressions(ctx context.Context, entries []Suppression, audit []audit.Entry) error
	// HasSuppressions reports whether any suppression entry names purpose.
	HasSuppressions(ctx context.Context, purpose string) (bool, error)
	// SuppressionSuspects returns which of ids hold an email or phone whose blind-index token
	// is that of an entry for purpose: a superset of the customers on the list, since tokens
	// are truncated.
	SuppressionSuspects(ctx context.Context, purpose string, ids []string) (map[string]bool, error)
	// UnsealedEvidence returns, oldest first, up to limit records after seq whose clear
	// evidence columns still hold evidence that identifies a person: records written before
	// evidence was sealed (see Service.SealStoredEvidence).
	UnsealedEvidence(ctx context.Context, after int64, limit int) ([]Record, error)
	// SealStoredEvidence stores, for each of recs (by Seq), its SealedEvidence and its
	// Evidence.FormID, blanking the other clear evidence columns, in one transaction.
	SealStoredEvidence(ctx context.Context, recs []Record) error
	// SuppressedAt returns, for each of hashes on the list for purpose, when it was last added
	// (keyed by string(hash)).
	SuppressedAt(ctx context.Context, purpose string, hashes [][]byte) (map[string]time.Time, error)
}

// Append is one atomic addition to the ledger.
type Append struct {
	CustomerID   string
	Records      []Record
	Suppressions []Suppression
	Entries      []audit.Entry
	// Expect, when not nil, maps purposes to the Seq of their newest consent record (0 for
	// none) that the append was decided on; idempotent writers such as GPC use it so that two
	// requests at once cannot both append.
	Expect map[string]int64
	// Via, when set, is the customer the choice was sent to, merged into CustomerID when
	// the append was decided. The store locks both and stores nothing, failing with
	// ErrUnmerged, if Via no longer answers to CustomerID: an undo committed meanwhile, which
	// read CustomerID's ledger before this choice, would otherwise leave it where Via's id
	// is no longer answered.
	Via string
}
