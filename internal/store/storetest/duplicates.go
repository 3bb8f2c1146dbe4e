package storetest

import (
	"cmp"
	"errors"
	"slices"
	"strings"

	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/store"
)

// testDuplicates holds both engines to the duplicate store: stale customers and their keys,
// candidates found from tokens alone, pending pairs that keep their id, decided pairs left
// alone, merges and undos in one transaction each, and the quality report's counts.
func testDuplicates(t *testing.T, db *store.Engine) {
	now := clock.System()
	for i := 1; i <= 4; i++ {
		if err := db.Customers().CreateCustomer(ctx, record(id(i), int64(i)), []audit.Entry{entry(audit.ActionCustomerCreate, id(i))}); err != nil {
			t.Fatal(err)
		}
	}
	stale, err := db.Duplicates().StaleCustomers(ctx, "", 10)
	if err != nil || len(stale) != 4 {
		t.Fatalf("stale: got %d, %v; want 4", len(stale), err)
	}
	rows := []duplicate.KeyRow{
		{CustomerID: id(1), Version: 1, Tokens: []int64{-7, 100}, Terms: []duplicate.TermToken{{Kind: "last_name", Token: 55}, {Kind: "city", Token: -5}},
			Validation: "valid", EmailToken: 11, At: now},
		{CustomerID: id(2), Version: 1, Tokens: []int64{-7, 200}, Terms: []duplicate.TermToken{{Kind: "last_name", Token: 55}},
			Validation: "risky", Reasons: []string{"disposable"}, EmailToken: 12, At: now},
		{CustomerID: id(3), Version: 1, Tokens: []int64{300}, Terms: []duplicate.TermToken{{Kind: "last_name", Token: 66}}, Validation: "none", At: now},
		{CustomerID: id(999), Version: 1, Tokens: []int64{300}, Terms: []duplicate.TermToken{{Kind: "last_name", Token: 66}}, At: now}, // not a customer: skipped
	}
	if err := db.Duplicates().SaveKeys(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if stale, _ = db.Duplicates().StaleCustomers(ctx, "", 10); len(stale) != 1 || stale[0].ID != id(4) {
		t.Fatalf("stale after keys: got %d", len(stale))
	}
	cands, err := db.Duplicates().CandidateIDs(ctx)
	if err != nil || !slices.Equal(cands, []string{id(1), id(2)}) {
		t.Fatalf("candidates: got %v, %v", cands, err)
	}
	// Term counts come from the tokens alone, per kind and token.
	terms, err := db.Duplicates().TermCounts(ctx)
	slices.SortFunc(terms, func(a, b duplicate.TermCount) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), cmp.Compare(a.Token, b.Token))
	})
	if want := []duplicate.TermCount{{Kind: "city", Token: -5, Count: 1}, {Kind: "last_name", Token: 55, Count: 2}, {Kind: "last_name", Token: 66, Count: 1}}; err != nil || !slices.Equal(terms, want) {
		t.Fatalf("term counts: got %v, %v; want %v", terms, err, want)
	}
	// The e-mail keeps its first-seen time while its token stays, and restarts when it changes.
	later := now.Add(time.Hour)
	if err := db.Duplicates().SaveKeys(ctx, []duplicate.KeyRow{{CustomerID: id(1), Version: 1, Tokens: []int64{-7}, Validation: "valid", EmailToken: 11, At: later},
		{CustomerID: id(2), Version: 1, Tokens: []int64{-7}, Validation: "risky", EmailToken: 99, At: later}}); err != nil {
		t.Fatal(err)
	}
	if since, changed, err := db.Quality().EmailSince(ctx, id(1), 11); err != nil || changed || !since.IsZero() {
		t.Fatalf("first address: got %v %v %v, want since always", since, changed, err)
	}
	if since, changed, _ := db.Quality().EmailSince(ctx, id(2), 99); changed || !since.Equal(later) {
		t.Fatalf("changed address: got %v %v, want since %v", since, changed, later)
	}
	if _, changed, _ := db.Quality().EmailSince(ctx, id(2), 12); !changed {
		t.Fatal("an old address counts as the current one")
	}
	if since, changed, _ := db.Quality().EmailSince(ctx, id(4), 1); changed || !since.IsZero() {
		t.Fatal("a customer never scanned has a time for its address")
	}
	pair := func(a, b string, score float64) duplicate.Pair {
		return duplicate.Pair{ID: newID(), CustomerA: a, CustomerB: b, Score: score, Weight: 9.5, Decision: "review",
			Evidence: []duplicate.Evidence{{Comparison: "birth_date", Level: "exact", Weight: 9.02}}, State: duplicate.Pending, CreatedAt: now, UpdatedAt: now}
	}
	p12, p13, p34 := pair(id(1), id(2), 0.97), pair(id(1), id(3), 0.6), pair(id(3), id(4), 0.8)
	saved, err := db.Duplicates().SavePending(ctx, []duplicate.Pair{p12, p13, p34}, []audit.Entry{entry(duplicate.ActionScan, "")})
	if err != nil || len(saved) != 3 {
		t.Fatalf("save: got %d, %v", len(saved), err)
	}
	again := pair(id(1), id(2), 0.98)
	if saved, err = db.Duplicates().SavePending(ctx, []duplicate.Pair{again, p13, p34}, nil); err != nil || len(saved) != 3 || saved[0].ID != p12.ID {
		t.Fatalf("a pending pair did not keep its id: got %+v, %v", saved, err)
	}
	got, err := db.Duplicates().GetPair(ctx, p12.ID)
	if err != nil || got.Score != 0.98 || len(got.Evidence) != 1 || got.Evidence[0].Level != "exact" {
		t.Fatalf("get: got %+v, %v", got, err)
	}
	_, err = db.Duplicates().GetPair(ctx, newID())
	wantKind(t, err, problem.NotFound)
	page, err := db.Duplicates().ListPairs(ctx, duplicate.Pending, nil, 2)
	if err != nil || len(page) != 2 || page[0].ID != p12.ID || page[1].ID != p34.ID {
		t.Fatalf("first page: got %+v, %v", page, err)
	}
	if page, _ = db.Duplicates().ListPairs(ctx, duplicate.Pending, &page[1], 2); len(page) != 1 || page[0].ID != p13.ID {
		t.Fatalf("second page: got %+v", page)
	}
	if n, err := db.Quality().PendingDuplicates(ctx); err != nil || n != 3 {
		t.Fatalf("pending: got %d, %v", n, err)
	}

	if _, err := db.Duplicates().DismissPair(ctx, p13.ID, now, "key:test", []audit.Entry{entry(duplicate.ActionDismiss, id(1))}); err != nil {
		t.Fatal(err)
	}
	_, err = db.Duplicates().DismissPair(ctx, p13.ID, now, "key:test", nil)
	wantKind(t, err, problem.Conflict)
	_, err = db.Duplicates().DismissPair(ctx, newID(), now, "key:test", nil)
	wantKind(t, err, problem.NotFound)
	if saved, _ := db.Duplicates().SavePending(ctx, []duplicate.Pair{pair(id(1), id(3), 0.9), again, p34}, nil); len(saved) != 2 {
		t.Fatal("a dismissed pair came back as pending")
	}
	states, err := db.Duplicates().PairStates(ctx)
	if err != nil || states[id(1)+" "+id(3)] != duplicate.Dismissed || states[id(1)+" "+id(2)] != duplicate.Pending {
		t.Fatalf("states: got %v, %v", states, err)
	}

	p24 := pair(id(2), id(4), 0.7)
	if saved, _ := db.Duplicates().SavePending(ctx, []duplicate.Pair{again, p34, p24}, nil); len(saved) != 3 {
		t.Fatalf("save with the loser's other pair: got %d", len(saved))
	}
	// Merge 2 into 1 with a new profile, a carried withdrawal and the undo state.
	w, err := db.Customers().GetCustomer(ctx, id(1))
	if err != nil {
		t.Fatal(err)
	}
	w.Version, w.Sealed["last_name"] = 2, []byte("ct-merged")
	m := ingest.Merge{ID: newID(), Winner: id(1), Loser: id(2), Reason: "duplicate", CreatedAt: now}
	withdrawal := consentRecord(id(1), consent.KindConsent, "marketing_email", false, now)
	withdrawal.Source = consent.SourceMerge
	mw := duplicate.MergeWrite{PairID: p12.ID, Merge: m, Winner: w, WinnerPrev: 1,
		Undo:     duplicate.UndoState{Sealed: []byte("sealed-state"), MergedVersion: 2, Changed: []string{"last_name"}, Carried: []consent.Carried{{RecordID: withdrawal.ID, Kind: consent.KindConsent, Purpose: "marketing_email", PolicyVersion: "v1"}}},
		Consents: []consent.Record{withdrawal}, Auto: true, By: "system", Entries: []audit.Entry{entry(ingest.ActionMerge, id(1))}}
	mw.Versions = map[string]int64{}
	for _, c := range []string{id(1), id(2)} {
		v, err := db.Consents().DecisionVersion(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		mw.Versions[c] = v.Customer
	}
	stale2 := mw
	stale2.WinnerPrev = 7
	wantKind(t, db.Duplicates().MergePair(ctx, stale2), problem.Conflict)
	// The loser withdraws after the merge was decided: the merge is refused as decided on a
	// ledger that changed, and goes through once decided again.
	late := consentRecord(id(2), consent.KindConsent, "ads_sharing", false, now)
	if err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: id(2), Records: []consent.Record{late}}); err != nil {
		t.Fatal(err)
	}
	if err := db.Duplicates().MergePair(ctx, mw); !errors.Is(err, consent.ErrLedgerChanged) || !problem.Is(err, problem.Conflict) {
		t.Fatalf("merge decided before the loser's withdrawal: got %v, want a changed ledger", err)
	}
	mw.Versions[id(2)]++
	if err := db.Duplicates().MergePair(ctx, mw); err != nil {
		t.Fatal(err)
	}
	wantKind(t, db.Duplicates().MergePair(ctx, mw), problem.Conflict)
	// The merged customer now answers through the winner: its version has moved, its decision
	// inputs name the winner, and an append for it is refused naming the winner.
	if v, err := db.Consents().DecisionVersion(ctx, id(2)); err != nil || v.Customer <= mw.Versions[id(2)] {
		t.Fatalf("loser's version after the merge: got %+v, %v (before %d)", v, err, mw.Versions[id(2)])
	}
	if _, into, _, err := db.Consents().DecisionRecords(ctx, []string{id(1), id(2)}, ""); err != nil || len(into) != 1 || into[id(2)] != id(1) {
		t.Fatalf("decision records of the merged customer: got %v, %v", into, err)
	}
	again2 := consentRecord(id(2), consent.KindConsent, "ads_sharing", true, now.Add(2*time.Second))
	var merged *consent.Merged
	if err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: id(2), Records: []consent.Record{again2}}); !errors.As(err, &merged) ||
		merged.ID != id(2) || merged.Into != id(1) {
		t.Fatalf("append for a merged customer: got %v, want it refused naming the winner", err)
	}
	if err := db.Consents().AppendConsents(ctx, []consent.Append{{CustomerID: id(2), Records: []consent.Record{again2}}}); !errors.As(err, &merged) {
		t.Fatalf("batch append for a merged customer: got %v, want it refused naming the winner", err)
	}
	if recs, _ := db.Consents().CustomerRecords(ctx, id(2)); len(recs) != 1 {
		t.Fatalf("a refused append wrote: got %d records", len(recs))
	}
	if _, err := db.Duplicates().GetPair(ctx, p24.ID); !problem.Is(err, problem.NotFound) {
		t.Fatalf("the loser's other pending pair survived the merge: %v", err)
	}
	if _, err := db.Duplicates().GetPair(ctx, p34.ID); err != nil {
		t.Fatalf("a pair without the loser went with the merge: %v", err)
	}
	got, err = db.Duplicates().PairByMerge(ctx, m.ID)
	if err != nil || got.State != duplicate.Merged || !got.Auto || got.WinnerID != id(1) || got.Undo == nil ||
		string(got.Undo.Sealed) != "sealed-state" || got.Undo.MergedVersion != 2 || len(got.Undo.Carried) != 1 || got.Undo.Changed[0] != "last_name" {
		t.Fatalf("merged pair: got %+v, %v", got, err)
	}
	if root, _, err := db.Ingest().CustomerTree(ctx, id(2)); err != nil || root != id(1) {
		t.Fatalf("loser's root: got %s, %v", root, err)
	}
	if recs, _ := db.Consents().CustomerRecords(ctx, id(1)); len(recs) != 1 || recs[0].Source != consent.SourceMerge {
		t.Fatalf("carried records: got %+v", recs)
	}
	if cands, _ = db.Duplicates().CandidateIDs(ctx); slices.Contains(cands, id(2)) {
		t.Fatalf("a merged-away customer is still a candidate: %v", cands)
	}
	// Another merge involving the loser is refused while the first holds.
	v2, _ := db.Consents().DecisionVersion(ctx, id(2))
	v3, _ := db.Consents().DecisionVersion(ctx, id(3))
	err = db.Duplicates().MergePair(ctx, duplicate.MergeWrite{PairID: p34.ID, Merge: ingest.Merge{ID: newID(), Winner: id(3), Loser: id(2), Reason: "x", CreatedAt: now},
		WinnerPrev: 1, By: "x", Versions: map[string]int64{id(2): v2.Customer, id(3): v3.Customer}})
	if !problem.Is(err, problem.Conflict) || errors.Is(err, consent.ErrLedgerChanged) {
		t.Fatalf("merge of a customer merged meanwhile: got %v, want it refused as merged", err)
	}

	// A choice sent to the merged id and decided for the winner is stored while the link
	// holds (Via), and refused, writing nothing, once the merge is undone.
	viaRec := consentRecord(id(1), consent.KindConsent, "marketing_email", false, now.Add(time.Second))
	if err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: id(1), Via: id(2), Records: []consent.Record{viaRec}}); err != nil {
		t.Fatalf("append for the winner by the merged id: %v", err)
	}
	viaRec2 := consentRecord(id(1), consent.KindConsent, "marketing_sms", false, now.Add(time.Second))
	if err := db.Consents().AppendConsents(ctx, []consent.Append{{CustomerID: id(1), Via: id(2), Records: []consent.Record{viaRec2}}}); err != nil {
		t.Fatalf("batch append for the winner by the merged id: %v", err)
	}
	restored, _ := db.Customers().GetCustomer(ctx, id(1))
	delete(restored.Sealed, "last_name")
	restored.Version = 3
	// The undo was decided on counters read before that choice: it is refused, writing
	// nothing, and goes through once decided again.
	v1, _ := db.Consents().DecisionVersion(ctx, id(1))
	undo := duplicate.UnmergeWrite{PairID: p12.ID, MergeID: m.ID, Winner: restored, WinnerPrev: 2, At: now, By: "key:test",
		Versions: map[string]int64{id(1): v1.Customer - 1, id(2): 0},
		Entries:  func(m ingest.Merge) []audit.Entry { return []audit.Entry{entry(ingest.ActionUnmerge, m.Winner)} }}
	v2now, _ := db.Consents().DecisionVersion(ctx, id(2))
	undo.Versions[id(2)] = v2now.Customer
	if _, err := db.Duplicates().UnmergePair(ctx, undo); !errors.Is(err, consent.ErrLedgerChanged) {
		t.Fatalf("undo decided before a choice: got %v, want a changed ledger", err)
	}
	if root, _, _ := db.Ingest().CustomerTree(ctx, id(2)); root != id(1) {
		t.Fatal("a refused undo undid the merge")
	}
	undo.Versions[id(1)] = v1.Customer
	um, err := db.Duplicates().UnmergePair(ctx, undo)
	if err != nil || um.UndoneAt == nil {
		t.Fatalf("unmerge: got %+v, %v", um, err)
	}
	late2 := consentRecord(id(1), consent.KindConsent, "marketing_email", false, now.Add(2*time.Second))
	if err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: id(1), Via: id(2), Records: []consent.Record{late2}}); !errors.Is(err, consent.ErrUnmerged) ||
		!problem.Is(err, problem.Conflict) {
		t.Fatalf("append by an id whose merge was undone: got %v, want it refused as unmerged", err)
	}
	if err := db.Consents().AppendConsents(ctx, []consent.Append{{CustomerID: id(1), Records: []consent.Record{late2}},
		{CustomerID: id(1), Via: id(2), Records: []consent.Record{late2}}}); !errors.Is(err, consent.ErrUnmerged) {
		t.Fatalf("batch append by an id whose merge was undone: got %v, want it refused as unmerged", err)
	}
	if recs, _ := db.Consents().CustomerRecords(ctx, id(1)); len(recs) != 3 {
		t.Fatalf("winner's records after the refused appends: got %d, want the carried one and the two choices by the merged id", len(recs))
	}
	if _, into, _, err := db.Consents().DecisionRecords(ctx, []string{id(2)}, ""); err != nil || len(into) != 0 {
		t.Fatalf("decision records after the undo: got %v, %v", into, err)
	}
	if err := db.Consents().AppendConsent(ctx, consent.Append{CustomerID: id(2),
		Records: []consent.Record{consentRecord(id(2), consent.KindConsent, "ads_sharing", true, now.Add(time.Second))}}); err != nil {
		t.Fatalf("append for a customer whose merge was undone: %v", err)
	}
	if root, _, _ := db.Ingest().CustomerTree(ctx, id(2)); root != id(2) {
		t.Fatal("the loser is still merged after the undo")
	}
	if c, _ := db.Customers().GetCustomer(ctx, id(1)); c.Version != 3 || c.Sealed["last_name"] != nil {
		t.Fatalf("winner not restored: %+v", c)
	}
	if got, _ = db.Duplicates().GetPair(ctx, p12.ID); got.State != duplicate.Undone || got.Undo == nil || got.Undo.Sealed != nil {
		t.Fatalf("undone pair: got %+v", got)
	}
	_, err = db.Duplicates().UnmergePair(ctx, duplicate.UnmergeWrite{PairID: p12.ID, MergeID: m.ID, At: now, Entries: func(ingest.Merge) []audit.Entry { return nil }})
	wantKind(t, err, problem.Conflict)

	origins, err := db.Duplicates().Origins(ctx, []string{id(1), id(2), id(999)})
	if err != nil || origins[id(1)] != "owner" || len(origins) != 2 {
		t.Fatalf("origins: got %v, %v", origins, err)
	}

	// The report's counts: field names from stored rows, verdicts from the scan.
	total, counts, err := db.Quality().FieldCounts(ctx)
	if err != nil || total != 4 || counts["email"] != 4 || counts["loyalty_tier"] != 4 || counts["first_name"] != 4 {
		t.Fatalf("field counts: got %d %v, %v", total, counts, err)
	}
	var checked, risky int
	if err := db.Quality().ContactRows(ctx, func(r quality.ContactRow) error {
		if r.Checked {
			checked++
		}
		if r.Validation == "risky" {
			risky++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if checked != 2 || risky != 1 { // customer 1 changed version since its keys; 4 was never scanned
		t.Fatalf("contact rows: got %d checked, %d risky", checked, risky)
	}
	if eng, err := db.Quality().Engagement(ctx, id(1)); err != nil || !eng.Engaged.IsZero() {
		t.Fatalf("engagement without events: got %+v, %v", eng, err)
	}
}

func newID() string {
	u, _ := uuid.NewV7()
	return u.String()
}
