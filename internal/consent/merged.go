package consent

import (
	"context"
	"errors"

	"github.com/stewardhq/steward/internal/problem"
)

// Merged customers. A customer merged into another (by identity stitching or a duplicate
// review) is one person with that customer, and the customer at the top of its merge tree
// answers for it, as it does in reads and changes of the profile:
//   - a decision asked for the merged id is the decision of the customer at the top, made
//     from that customer's ledger and contacts, so a client holding an old id never acts on
//     choices the person has since taken back under the other;
//   - a choice recorded under the merged id (a withdrawal from an old link, a request, a
//     relayed GPC signal) goes into the ledger of the customer at the top, where it decides.
//
// The merged customer's own ledger keeps what it held before the merge, which the merge
// carried over where it refused something (see MergeRecords) and which it decides from again
// once the merge is undone.

// Merged is the store's answer to an append for a customer merged into another, which writes
// nothing: Into is the customer at the top of its merge tree, to record for instead. It is a
// Conflict to callers that do not look for it.
type Merged struct {
	ID, Into string
}

func (m *Merged) Error() string { return "conflict: customer was merged into another customer" }

// Unwrap gives the answer a kind for callers that treat it as any other error.
func (m *Merged) Unwrap() error {
	return problem.Conflictf("customer %s was merged into customer %s: use that id", m.ID, m.Into)
}

// ErrLedgerChanged is what a merge's transaction fails with when what the merge decided its
// carried records on has changed (see Carry.Versions), or a customer it writes for was
// merged into another meanwhile: the merge must be decided again. Engines wrap it as a
// Conflict; writers that retry look for it with errors.Is.
var ErrLedgerChanged = errors.New("consent: a ledger changed while a merge was decided")

// LedgerChanged is ErrLedgerChanged as the Conflict the engines return.
func LedgerChanged() error {
	return problem.Wrap(problem.Conflict, ErrLedgerChanged, "a customer's consent changed while the merge was decided; retry")
}

// ErrUnmerged is what an append redirected from a merged customer (Append.Via) fails with
// when that customer's merge was undone meanwhile: the choice is decided again for the id it
// was sent to. Engines wrap it as a Conflict.
var ErrUnmerged = errors.New("consent: the customer a choice was sent to is no longer merged")

// Unmerged is ErrUnmerged as the Conflict the engines return.
func Unmerged() error {
	return problem.Wrap(problem.Conflict, ErrUnmerged, "the customer's merge was undone meanwhile; retry")
}

// merged reports whether err is the store's *Merged or ErrUnmerged answer, which no retry of
// the same append can change.
func merged(err error) bool {
	var m *Merged
	return errors.As(err, &m) || errors.Is(err, ErrUnmerged)
}

// maxMergeDepth bounds how many merge links are followed: merges only ever link a customer to
// one standing on its own, so a chain this long means a damaged table.
const maxMergeDepth = 64

// followMerges runs write for customerID and, while the store answers that the customer has
// been merged into another, again for the customer that answers for it: the append is built
// anew for that customer (its id is in the signed receipt, its contacts go on the
// suppression list) rather than moved. The context of a redirected write names the id the
// choice was sent to (see viaOf, Append.Via); if that id's merge is undone before the write
// commits, the choice is written for it again from the start.
func followMerges[T any](ctx context.Context, customerID string, write func(ctx context.Context, id string) (T, error)) (T, error) {
	sentTo, id := customerID, customerID
	for depth := 0; ; depth++ {
		wctx := ctx
		if id != sentTo {
			wctx = context.WithValue(ctx, viaKey{}, sentTo)
		}
		v, err := write(wctx, id)
		var m *Merged
		switch {
		case depth == maxMergeDepth:
			return v, err
		case errors.As(err, &m):
			id = m.Into
		case errors.Is(err, ErrUnmerged):
			id = sentTo
		default:
			return v, err
		}
	}
}

// viaKey carries, in a write redirected by followMerges, the id the choice was sent to.
type viaKey struct{}

// viaOf is the id a redirected write's choice was sent to (Append.Via), or "".
func viaOf(ctx context.Context) string {
	via, _ := ctx.Value(viaKey{}).(string)
	return via
}

// ledger is what decisions read about the ids asked for, each answered for by the customer
// at the top of its merge tree.
type ledger struct {
	// answer is, for each id asked for, the customer answering for it: the id itself, or
	// the top of its merge tree.
	answer []string
	// exist says whether each answering customer is stored.
	exist []bool
	// records are each answering customer's records.
	records [][]*Record
}

// readLedger reads the decision inputs of ids (see Store.DecisionRecords), following the
// merge links of merged ids to the top of their trees: one read more per level of merges
// among them, none when no id is merged.
func (s *Service) readLedger(ctx context.Context, ids []string, purpose string) (*ledger, error) {
	exist, into, recs, err := s.store.DecisionRecords(ctx, ids, purpose)
	if err != nil {
		return nil, err
	}
	l := &ledger{answer: ids, exist: make([]bool, len(ids)), records: make([][]*Record, len(ids))}
	parent := map[string]string{}
	var read map[string]bool
	for depth := 0; len(into) > 0; depth++ {
		if depth == maxMergeDepth {
			return nil, problem.New(problem.Internal, "merge links form a cycle")
		}
		if read == nil {
			read = make(map[string]bool, len(ids))
			for _, id := range ids {
				read[id] = true
			}
		}
		var next []string
		for id, p := range into {
			parent[id] = p
			if !read[p] {
				read[p] = true
				next = append(next, p)
			}
		}
		if len(next) == 0 {
			break
		}
		more, moreInto, moreRecs, err := s.store.DecisionRecords(ctx, next, purpose)
		if err != nil {
			return nil, err
		}
		for id, ok := range more {
			exist[id] = ok
		}
		recs = append(recs, moreRecs...)
		into = moreInto
	}
	if len(parent) > 0 {
		l.answer = make([]string, len(ids))
		for j, id := range ids {
			for depth := 0; parent[id] != ""; depth++ {
				if depth == maxMergeDepth {
					return nil, problem.New(problem.Internal, "merge links form a cycle")
				}
				id = parent[id]
			}
			l.answer[j] = id
		}
	}
	byCustomer := make(map[string][]*Record, len(l.answer))
	for i := range recs {
		byCustomer[recs[i].CustomerID] = append(byCustomer[recs[i].CustomerID], &recs[i])
	}
	for j, id := range l.answer {
		l.exist[j] = exist[id]
		l.records[j] = byCustomer[id]
	}
	return l, nil
}
