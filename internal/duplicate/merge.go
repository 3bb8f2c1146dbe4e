package duplicate

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
)

// undoTable and undoField are bound into the sealed undo state, so it opens only as what it
// is, for the customer it belongs to.
const (
	undoTable = "duplicates"
	undoField = "undo"
)

// Merge merges a pending pair: the customer created first absorbs the other (which stays
// stored, linked, so undoing restores it exactly), the merged profile keeps each field by
// its survivorship rule, and the winner's ledger takes every refusal of the loser's.
// Returns NotFound for an unknown pair and Conflict for one already decided or whose
// customers changed meanwhile.
func (s *Service) Merge(ctx context.Context, id string) (Pair, ingest.Merge, error) {
	if _, err := s.require(ctx, true); err != nil {
		return Pair{}, ingest.Merge{}, err
	}
	if !ident.Valid(id) {
		return Pair{}, ingest.Merge{}, problem.InvalidField("id", "is not a valid duplicate id")
	}
	for attempt := 0; ; attempt++ {
		p, m, err := s.merge(ctx, id, false)
		if problem.Is(err, problem.Conflict) && attempt < 3 && p.State == Pending {
			continue // the winner changed between read and write: read it again
		}
		return p, m, err
	}
}

func (s *Service) merge(ctx context.Context, id string, auto bool) (Pair, ingest.Merge, error) {
	p, err := s.store.GetPair(ctx, id)
	if err != nil {
		return Pair{}, ingest.Merge{}, err
	}
	if p.State != Pending {
		return p, ingest.Merge{}, problem.Conflictf("duplicate %s is %s, not pending", p.ID, p.State)
	}
	recs, err := s.vault.Records(ctx, []string{p.CustomerA, p.CustomerB})
	if err != nil {
		return p, ingest.Merge{}, err
	}
	if len(recs) != 2 {
		return p, ingest.Merge{}, problem.Conflictf("one of the customers of duplicate %s no longer exists", p.ID)
	}
	w, l := recs[0], recs[1]
	if l.CreatedAt.Before(w.CreatedAt) || (l.CreatedAt.Equal(w.CreatedAt) && l.ID < w.ID) {
		w, l = l, w
	}
	// A merge rewrites a profile from another's data: processing that a restriction
	// (GDPR Article 18) holds back until it is lifted.
	for _, c := range []*customer.Record{w, l} {
		restricted, err := s.consents.Restricted(ctx, c.ID)
		if err != nil {
			return p, ingest.Merge{}, err
		}
		if restricted {
			return p, ingest.Merge{}, problem.Conflictf("customer %s is restricted (GDPR Article 18): lift the restriction to merge", c.ID)
		}
	}
	wv, dk, err := s.vault.OpenProfile(ctx, w)
	if err != nil {
		return p, ingest.Merge{}, err
	}
	lv, err := s.open(ctx, l)
	if err != nil {
		return p, ingest.Merge{}, err
	}
	origins, err := s.store.Origins(ctx, []string{w.ID, l.ID})
	if err != nil {
		return p, ingest.Merge{}, err
	}
	merged, changed := s.config.survive(side{values: wv, updated: w.UpdatedAt, origin: origins[w.ID]},
		side{values: lv, updated: l.UpdatedAt, origin: origins[l.ID]})
	after := make(map[string]any, len(changed))
	for _, f := range changed {
		if v, ok := merged[f]; ok {
			after[f] = v
		} else {
			after[f] = nil
		}
	}
	state, err := json.Marshal(sealedState{Before: wv, After: after})
	if err != nil {
		return p, ingest.Merge{}, problem.Wrap(problem.Internal, err, "encoding failed")
	}
	sealed, err := dk.Seal(undoTable, undoField, w.ID, state)
	if err != nil {
		return p, ingest.Merge{}, problem.Wrap(problem.Internal, err, "sealing failed")
	}
	prev := w.Version
	winner := (*customer.Record)(nil)
	if len(changed) > 0 {
		if err := s.vault.Reseal(w, dk, merged); err != nil {
			return p, ingest.Merge{}, err
		}
		winner = w
	}
	carry, err := s.consents.MergeRecords(ctx, w.ID, l.ID, false)
	if err != nil {
		return p, ingest.Merge{}, err
	}
	recsC := carry.Records
	now := s.now()
	m := ingest.Merge{ID: ident.New(), Winner: w.ID, Loser: l.ID, Reason: reasonOf(p, auto), CreatedAt: now}
	a, _ := authz.ActorFrom(ctx)
	e := audit.New(ctx, ingest.ActionMerge, w.ID, changed, "")
	e.Target = "customer:" + l.ID + " merge:" + m.ID + " duplicate:" + p.ID + " " + levels(p.Evidence)
	entries := []audit.Entry{e}
	for i := range recsC {
		entries = append(entries, s.consents.RecordEntry(ctx, &recsC[i]))
	}
	err = s.store.MergePair(ctx, MergeWrite{PairID: p.ID, Merge: m, Winner: winner, WinnerPrev: prev,
		Undo:     UndoState{Sealed: sealed, MergedVersion: w.Version, Changed: changed, Carried: carry.Carried},
		Consents: recsC, Versions: carry.Versions, Auto: auto, By: a.ID, Entries: entries})
	if err != nil {
		return p, ingest.Merge{}, err
	}
	// The winner's derived figures now cover both trees.
	if err := s.ingest.Refigure(ctx, w.ID); err != nil {
		return p, ingest.Merge{}, err
	}
	p, err = s.store.GetPair(ctx, p.ID)
	return p, m, err
}

// Undo undoes a merge. A merge made for a duplicate pair also gives the winner back the
// values it had before (every field the merge changed and nobody has changed since) and the
// consents the merge withdrew (unless the customer has chosen again since); refusals made
// while the two were merged are kept by both (see consent.Service.UnmergeRefusals). The pair
// is then marked undone and never proposed again. Any other merge (identity stitching) is undone
// by the ingest service. Returns NotFound for an unknown merge, Conflict for one undone
// already.
func (s *Service) Undo(ctx context.Context, mergeID string) (ingest.Merge, error) {
	a, err := s.require(ctx, true)
	if err != nil {
		return ingest.Merge{}, err
	}
	if !ident.Valid(mergeID) {
		return ingest.Merge{}, problem.InvalidField("id", "is not a valid merge id")
	}
	for attempt := 0; ; attempt++ {
		p, err := s.store.PairByMerge(ctx, mergeID)
		if problem.Is(err, problem.NotFound) {
			return s.ingest.Unmerge(ctx, mergeID)
		}
		if err != nil {
			return ingest.Merge{}, err
		}
		if p.State != Merged {
			return ingest.Merge{}, problem.Conflictf("merge was already undone")
		}
		m, err := s.undo(ctx, p, mergeID, a.ID)
		if problem.Is(err, problem.Conflict) && attempt < 3 {
			continue // the winner changed between read and write, or another undo won: look again
		}
		return m, err
	}
}

// UndoPair undoes the merge of a merged pair.
func (s *Service) UndoPair(ctx context.Context, id string) (ingest.Merge, error) {
	p, err := s.Get(ctx, id)
	if err != nil {
		return ingest.Merge{}, err
	}
	if p.State != Merged {
		return ingest.Merge{}, problem.Conflictf("duplicate %s is %s, not merged", p.ID, p.State)
	}
	return s.Undo(ctx, p.MergeID)
}

func (s *Service) undo(ctx context.Context, p Pair, mergeID, by string) (ingest.Merge, error) {
	winnerID := p.WinnerID
	w, err := s.vault.Record(ctx, winnerID)
	if err != nil {
		return ingest.Merge{}, err
	}
	var restored *customer.Record
	prev := w.Version
	var fields []string
	if u := p.Undo; u != nil && len(u.Sealed) > 0 && len(u.Changed) > 0 {
		current, dk, err := s.vault.OpenProfile(ctx, w)
		if err != nil {
			return ingest.Merge{}, err
		}
		plain, err := dk.Open(undoTable, undoField, w.ID, u.Sealed)
		if err != nil {
			return ingest.Merge{}, problem.Wrap(problem.Internal, err, "stored merge state does not open")
		}
		var st sealedState
		if err := json.Unmarshal(plain, &st); err != nil {
			return ingest.Merge{}, problem.Wrap(problem.Internal, err, "stored merge state unreadable")
		}
		values := restore(current, st, u.Changed, w.Version == u.MergedVersion)
		fields = diff(current, values)
		if len(fields) > 0 {
			if err := s.vault.Reseal(w, dk, values); err != nil {
				return ingest.Merge{}, err
			}
			restored = w
		}
	}
	// The refusals made while the two were one customer stay with both. They are read first:
	// with them come the ledgers' counters, read before anything of the ledgers, which the
	// undo's transaction checks (a withdrawal recorded meanwhile sends the undo round again).
	loserID := p.CustomerA
	if loserID == winnerID {
		loserID = p.CustomerB
	}
	since := time.Time{}
	if p.DecidedAt != nil {
		since = *p.DecidedAt
	}
	kept, err := s.consents.UnmergeRefusals(ctx, winnerID, loserID, since)
	if err != nil {
		return ingest.Merge{}, err
	}
	recs, err := s.consents.UnmergeRecords(ctx, winnerID, carriedOf(p.Undo))
	if err != nil {
		return ingest.Merge{}, err
	}
	recs = append(recs, kept.Records...)
	m, err := s.store.UnmergePair(ctx, UnmergeWrite{PairID: p.ID, MergeID: mergeID, Winner: restored, WinnerPrev: prev, Consents: recs,
		Versions: kept.Versions, At: s.now(), By: by, Entries: func(m ingest.Merge) []audit.Entry {
			e := audit.New(ctx, ingest.ActionUnmerge, m.Winner, fields, "")
			e.Target = "customer:" + m.Loser + " merge:" + m.ID + " duplicate:" + p.ID
			entries := []audit.Entry{e}
			for i := range recs {
				entries = append(entries, s.consents.RecordEntry(ctx, &recs[i]))
			}
			return entries
		}})
	if err != nil {
		return m, err
	}
	// Each side's derived figures cover its own tree again.
	return m, s.ingest.Refigure(ctx, m.Winner, m.Loser)
}

func carriedOf(u *UndoState) []consent.Carried {
	if u == nil {
		return nil
	}
	return u.Carried
}

// restore computes the winner's values after an undo. When nothing changed the profile since
// the merge, it is the values before the merge. Otherwise each field the merge changed goes
// back only if it still holds what the merge wrote: a correction made since is kept.
func restore(current map[string]any, st sealedState, changed []string, untouched bool) map[string]any {
	if untouched {
		return st.Before
	}
	out := make(map[string]any, len(current))
	for k, v := range current {
		out[k] = v
	}
	for _, f := range changed {
		cur, has := current[f]
		wrote, wroteSome := st.After[f]
		if wroteSome && wrote == nil {
			wroteSome = false
		}
		if has != wroteSome || (has && !sameValue(cur, wrote)) {
			continue // changed since the merge
		}
		if old, ok := st.Before[f]; ok {
			out[f] = old
		} else {
			delete(out, f)
		}
	}
	return out
}

// diff lists the fields whose values differ between a and b.
func diff(a, b map[string]any) []string {
	var out []string
	for k, v := range b {
		if old, ok := a[k]; !ok || !sameValue(old, v) {
			out = append(out, k)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
