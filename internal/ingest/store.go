package ingest

import (
	"context"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
)

// Holder is the customer that holds an identifier, with what is needed to seal for them.
type Holder struct {
	CustomerID    string
	Root          string // the customer it has been merged into, directly or not; itself if none
	MasterVersion int
	Key           []byte
}

// IdentityRow is one stored identifier: its token, its value sealed under the holder's key.
// A row read back with no token and no seal is a profile's current e-mail or phone, which
// the blind index holds (see ListIdentities).
type IdentityRow struct {
	Kind       string
	Token      []byte
	CustomerID string
	Sealed     []byte
	CreatedAt  time.Time
	// value is the identifier in the clear while the transaction that links it runs, so
	// that flush can leave out a row the customer's profile already answers for.
	value string
}

// IndexCandidate is a customer whose blind-index entry for a field carries a token looked
// for. Tokens are truncated, so it is a candidate only: the caller opens the value to be sure.
type IndexCandidate struct {
	Token  int64
	Holder Holder
	Record *customer.Record
}

// Merge records that Loser was folded into Winner, and why. Nothing of Loser moves: its
// identities and events stay its own, and reads follow the link, so undoing a merge restores
// both customers exactly.
type Merge struct {
	ID        string     `json:"id"`
	Winner    string     `json:"winner_id"`
	Loser     string     `json:"loser_id"`
	Reason    string     `json:"reason"`
	CreatedAt time.Time  `json:"created_at"`
	UndoneAt  *time.Time `json:"undone_at,omitempty"`
}

// EventRow is one event as stored.
type EventRow struct {
	ID         int64
	CustomerID string // the customer whose identifier the event arrived under; its key seals it
	KeyID      string
	Type       string
	Name       string
	Category   string
	At         time.Time
	ReceivedAt time.Time
	ExpiresAt  time.Time // zero: kept until the customer is erased
	Plain      []byte    // JSON of the non-personal parts
	Sealed     []byte    // the personal parts, sealed under the customer's data key
	// MasterVersion and Key are the customer's wrapped data key, filled in on reads.
	MasterVersion int
	Key           []byte
}

// EventFilter narrows an event listing. Zero values mean any.
type EventFilter struct {
	Type     string
	Name     string
	Category string
	Since    time.Time
	Until    time.Time
	BeforeID int64 // paging: only events with a smaller id
	Limit    int
}

// Tx is one ingest transaction. Everything written through it commits together or not at
// all. On SQLite the function given to Store.IngestTx may run twice (group commit retries a
// batch after another writer's failure), so it must keep no state outside it.
type Tx interface {
	// ClaimMessages records message ids (hashed), each for the write key at the same index
	// of keyIDs, and reports for each whether it is new: not seen from its key since cutoff.
	// Seen ones are duplicates to skip.
	ClaimMessages(ctx context.Context, keyIDs []string, hashes [][]byte, at, cutoff time.Time) ([]bool, error)
	// Identity returns the holder of an identifier token.
	Identity(ctx context.Context, kind string, token []byte) (Holder, bool, error)
	// Identities returns the holders of many tokens of one kind at once, by token; tokens
	// nobody holds are absent.
	Identities(ctx context.Context, kind string, tokens [][]byte) (map[string]Holder, error)
	// Root returns the customer id has been merged into, or id itself. Returns NotFound if
	// the customer does not exist.
	Root(ctx context.Context, id string) (string, error)
	// Customer returns a customer for update (locked until the end of the transaction where
	// the engine locks rows). Returns NotFound if it does not exist.
	Customer(ctx context.Context, id string) (*customer.Record, error)
	// Tree returns root and every customer merged into it, directly or not.
	Tree(ctx context.Context, root string) ([]string, error)
	// Roots is Root of many customers at once: each id's root, by id. Returns NotFound if
	// one of them does not exist.
	Roots(ctx context.Context, ids []string) (map[string]string, error)
	// Trees is Tree of many roots at once, in their order.
	Trees(ctx context.Context, roots []string) ([][]string, error)
	// IndexCandidates returns the customers whose current value of field (a blind-indexed
	// profile field) has one of tokens, with their holders.
	IndexCandidates(ctx context.Context, field string, tokens []int64) ([]IndexCandidate, error)
	// HoldsKind reports whether any identity row of kind is stored at all.
	HoldsKind(ctx context.Context, kind string) (bool, error)
	// IdentityKinds returns the kinds of the identifiers held by customers, one per
	// identifier: their identity rows, and each of the indexed fields their profiles hold.
	IdentityKinds(ctx context.Context, customerIDs []string, indexed []string) ([]string, error)
	CreateCustomers(ctx context.Context, recs []*customer.Record) error
	// UpdateCustomer stores r if its stored version is still prev (Conflict otherwise).
	UpdateCustomer(ctx context.Context, r *customer.Record, prev int64) error
	AddIdentities(ctx context.Context, rows []IdentityRow) error
	AddMerges(ctx context.Context, ms []Merge) error
	// ProposePairs adds pending pairs to the duplicate review queue (decision
	// PairSharedIdentifier); a pair the queue already holds, in any state, is left alone.
	ProposePairs(ctx context.Context, ps []Proposal) error
	// LockCustomers locks the stored customers among ids (where the engine locks rows, in id
	// order) and returns each one's decision change counter and merge link, read once the
	// lock is held: consent appends lock their customer first, so neither changes until the
	// transaction ends. Customers not stored are absent.
	LockCustomers(ctx context.Context, ids []string) (map[string]Locked, error)
	// AddConsentRecords appends ledger records of customers the transaction has checked.
	AddConsentRecords(ctx context.Context, recs []consent.Record) error
	// AppendConsents stores ledger appends of customers the transaction holds (created in it
	// or checked by it): their records, suppression entries and audit entries.
	AppendConsents(ctx context.Context, as []consent.Append) error
	InsertEvents(ctx context.Context, evs []EventRow) error
	AddOrders(ctx context.Context, changes []OrderChange) error
	// AbandonCarts marks up to limit checkouts started before startedBefore with no order
	// since and not marked before as abandoned at at, and returns them.
	AbandonCarts(ctx context.Context, startedBefore, at time.Time, limit int) ([]AbandonedCart, error)
	// AddDrops adds to the write key's counters of what minimisation dropped.
	AddDrops(ctx context.Context, keyID string, counts map[string]int64) error
	AppendAudit(ctx context.Context, entries []audit.Entry) error
	// Activity returns what the derived figures of the customers of tree are computed from
	// (see Figures), as the transaction sees it, reading only the parts asked for: their
	// orders and refunds (PartOrders), their newest review (PartReview), how many of their
	// events are named one of complaints (PartComplaints), and how many named one of social
	// at or after socialSince (PartSocial).
	Activity(ctx context.Context, tree []string, parts ActivityParts, complaints, social []string, socialSince time.Time) (Activity, error)
	// Activities is Activity of several trees at once, trees[i] read for parts[i]; no
	// customer may be in two of them.
	Activities(ctx context.Context, trees [][]string, parts []ActivityParts, complaints, social []string, socialSince time.Time) ([]Activity, error)
}

// Locked is what Tx.LockCustomers reads of a customer it locked.
type Locked struct {
	// Version is the customer's decision change counter (see consent.Version).
	Version int64
	// Into is the customer it has been merged into, if any.
	Into string
}

// Store is what ingest needs from an engine.
type Store interface {
	// IngestTx runs fn in one write transaction, retrying it when the engine reports a
	// conflict with a concurrent writer, and on every engine when fn fails with
	// consent.ErrLedgerChanged (a choice recorded while a merge of the batch was decided,
	// which the next run reads).
	IngestTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// CustomerTree returns the root a customer has been merged into and every customer in
	// that root's tree. Returns NotFound if the customer does not exist.
	CustomerTree(ctx context.Context, id string) (root string, tree []string, err error)
	// ListEvents returns the events of the given customers, newest first, with their keys.
	ListEvents(ctx context.Context, customerIDs []string, f EventFilter) ([]EventRow, error)
	// ListIdentities returns the identifiers held by the given customers: their identity
	// rows, and a row with neither token nor seal for each of the indexed fields their
	// profiles hold.
	ListIdentities(ctx context.Context, customerIDs []string, indexed []string) ([]IdentityRow, error)
	// ListMerges returns the merges involving any of the given customers, newest first.
	ListMerges(ctx context.Context, customerIDs []string) ([]Merge, error)
	// UndoMerge marks a merge undone and removes its link, with the audit entries. Returns
	// NotFound for an unknown merge and Conflict for one already undone.
	// records, when not nil, gives the consent records stored with the undo, computed from
	// the merge once it is read (see consent.Service.UnmergeRefusals).
	UndoMerge(ctx context.Context, id string, at time.Time, entries func(Merge) []audit.Entry, records func(Merge) (consent.Carry, error)) (Merge, error)
	// Drops returns the write key's counters of dropped input.
	Drops(ctx context.Context, keyID string) (map[string]int64, error)
	// ListOrders returns the orders of the given customers with their refunds, newest first.
	ListOrders(ctx context.Context, customerIDs []string, limit int) ([]Order, error)
	// OrderCustomer returns the customer an order belongs to. Returns NotFound for an
	// unknown order.
	OrderCustomer(ctx context.Context, orderID string) (string, error)
	// AbandonedCarts returns checkouts started before the time given with no order placed by
	// their customer since, oldest first.
	AbandonedCarts(ctx context.Context, startedBefore time.Time, limit int) ([]AbandonedCart, error)
	// PurgeIngest deletes message ids received before dedupBefore and events whose retention
	// ended before now, a bounded number at a time, and reports how many rows went.
	PurgeIngest(ctx context.Context, dedupBefore, now time.Time, limit int) (int64, error)
	// RootCustomers returns up to limit ids of customers not merged into another, in id
	// order, after the id given ("" for the first): the customers Derive walks.
	RootCustomers(ctx context.Context, after string, limit int) ([]string, error)
}
