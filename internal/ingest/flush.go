package ingest

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/problem"
)

// flush writes everything the batch produced, in foreign-key order: new customers first, then
// what refers to them (identities, merges, consent records, events, orders), then the stored
// customers the batch changed (their figures computed from what was just written), and the
// audit entries last, so that they describe exactly what was written in the same transaction.
func (st *txState) flush(ctx context.Context, events []EventRow, orders []OrderChange, d drops) error {
	if err := st.createCustomers(ctx); err != nil {
		return err
	}
	carries, err := st.guardLedgers(ctx)
	if err != nil {
		return err
	}
	if err := st.writeLinks(ctx, carries); err != nil {
		return err
	}
	if err := st.recordSignals(ctx); err != nil {
		return err
	}
	if err := st.writeActivity(ctx, events, orders, d); err != nil {
		return err
	}
	// Figures before the stored customers' updates, which then carry them: a profile the
	// batch changes and whose figures change is sealed and written once.
	if err := st.deriveFigures(ctx); err != nil {
		return err
	}
	updates, err := st.updateCustomers(ctx)
	if err != nil {
		return err
	}
	entries := append(st.entries, updates...)
	if st.parts == nil {
		entries = append(entries, st.batchEntry(ctx, len(events), len(st.created), len(updates)))
		return st.tx.AppendAudit(ctx, entries)
	}
	// Each part's own batch entry, with its own counts.
	created := map[*batchPart]int{}
	for _, r := range st.created {
		created[st.partOf(st.profiles[r.ID])]++
	}
	updated := map[*batchPart]int{}
	for i := range updates {
		updated[st.partOf(st.profiles[updates[i].CustomerID])]++
	}
	for _, bp := range st.parts {
		entries = append(entries, st.batchEntry(bp.tctx, bp.events, created[bp], updated[bp]))
	}
	return st.tx.AppendAudit(ctx, entries)
}

// partOf is the part a profile's changes are attributed to: the one whose message first
// touched it (see txState.profile), else the first.
func (st *txState) partOf(pr *profile) *batchPart {
	if pr != nil && pr.part != nil {
		return pr.part
	}
	return st.parts[0]
}

// profileCtx is the context a change of pr is recorded with: its part's (see partOf), or
// ctx in a transaction that stores no parts (an import, a derivation).
func (st *txState) profileCtx(ctx context.Context, pr *profile) context.Context {
	if st.parts == nil {
		return ctx
	}
	return st.partOf(pr).tctx
}

// createCustomers seals the batch's new customers with their final values and inserts them
// in one statement. Their create entries name the fields they were created with, which are
// only known once every message of the batch has been applied.
func (st *txState) createCustomers(ctx context.Context) error {
	if len(st.created) == 0 {
		return nil
	}
	// The create entry of each new customer, found by id: a scan of the entries per customer
	// made a batch of thousands quadratic.
	createEntry := make(map[string]int, len(st.created))
	for i := range st.entries {
		if st.entries[i].Action == audit.ActionCustomerCreate {
			createEntry[st.entries[i].CustomerID] = i
		}
	}
	for _, r := range st.created {
		pr := st.profiles[r.ID]
		if len(pr.dirty) == 0 {
			continue
		}
		if !pr.sealed {
			if err := st.s.vault.Reseal(pr.rec, pr.dk, pr.values); err != nil {
				return err
			}
		}
		pr.rec.Version = 1
		sort.Strings(pr.dirty)
		if i, ok := createEntry[r.ID]; ok {
			st.entries[i].Fields = pr.dirty
		}
	}
	return st.tx.CreateCustomers(ctx, st.created)
}

// updateCustomers reseals and stores each stored customer the batch changed, once however
// many messages changed it, in id order (so that a batch writes, and audits, in the same
// order every time), and returns their update entries.
func (st *txState) updateCustomers(ctx context.Context) ([]audit.Entry, error) {
	ids := make([]string, 0, len(st.profiles))
	for id := range st.profiles {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var updates []audit.Entry
	for _, id := range ids {
		pr := st.profiles[id]
		if pr.isNew || len(pr.dirty) == 0 {
			continue
		}
		if err := st.s.vault.ResealChanged(pr.rec, pr.dk, pr.values, pr.dirty); err != nil {
			return nil, err
		}
		if err := st.tx.UpdateCustomer(ctx, pr.rec, pr.prev); err != nil {
			return nil, err
		}
		sort.Strings(pr.dirty)
		updates = append(updates, audit.New(st.profileCtx(ctx, pr), audit.ActionCustomerUpdate, id, pr.dirty, ""))
	}
	return updates, nil
}

// writeLinks stores the identities the batch linked and the merges it made; a merge's winner
// takes over the loser's opt-outs in the same transaction, so no merge ever loses one.
func (st *txState) writeLinks(ctx context.Context, carries []carry) error {
	rows, err := st.identityRows(ctx)
	if err != nil {
		return err
	}
	if len(rows) > 0 {
		if err := st.tx.AddIdentities(ctx, rows); err != nil {
			return err
		}
	}
	if len(st.proposals) > 0 {
		if err := st.tx.ProposePairs(ctx, st.proposals); err != nil {
			return err
		}
	}
	if len(st.merges) == 0 {
		return nil
	}
	if err := st.tx.AddMerges(ctx, st.merges); err != nil {
		return err
	}
	return st.carryRefusals(ctx, carries)
}

// writeActivity stores the batch's events, order changes and the counts of what
// minimisation dropped (kept per write key, so a developer can see what their SDK sends that
// Steward refuses).
func (st *txState) writeActivity(ctx context.Context, events []EventRow, orders []OrderChange, d drops) error {
	if len(events) > 0 {
		if err := st.tx.InsertEvents(ctx, events); err != nil {
			return err
		}
	}
	if len(orders) > 0 {
		if err := st.tx.AddOrders(ctx, orders); err != nil {
			return err
		}
	}
	if st.parts == nil {
		if len(d) > 0 {
			return st.tx.AddDrops(ctx, st.b.KeyID, d)
		}
		return nil
	}
	for _, bp := range st.parts {
		if len(bp.d) > 0 {
			if err := st.tx.AddDrops(ctx, bp.b.KeyID, bp.d); err != nil {
				return err
			}
		}
	}
	return nil
}

// batchEntry is the one audit entry that sums up the transaction: a tracking batch, an
// import batch or an abandoned-cart sweep, with its counts (never a value).
func (st *txState) batchEntry(ctx context.Context, events, created, updated int) audit.Entry {
	batch := audit.New(ctx, ActionIngestBatch, "", nil, "")
	batch.Target = fmt.Sprintf("events:%d customers_created:%d", events, created)
	if st.importing {
		batch.Action = ActionImport
		batch.Target = fmt.Sprintf("customers_created:%d customers_updated:%d", created, updated)
	}
	if st.abandoned > 0 {
		batch.Action = ActionCartsAbandoned
		batch.Target = fmt.Sprintf("carts:%d customers_updated:%d", st.abandoned, updated)
	}
	return batch
}

// recordSignals appends to the consent ledger what the batch's consent signals call for, in
// the batch's transaction: a message and the choice it carried are stored together or not at
// all. A signal is attributed to the customer its message's customer was merged into by the
// end of the batch, whose ledger decides.
func (st *txState) recordSignals(ctx context.Context) error {
	if len(st.signals) == 0 {
		return nil
	}
	for i := range st.signals {
		st.signals[i].CustomerID = st.rootOf(st.signals[i].CustomerID)
	}
	if err := st.eventContacts(ctx); err != nil {
		return err
	}
	as, err := st.s.ledger.SignalRecords(ctx, st.signals, st.carried...)
	if err != nil || len(as) == 0 {
		return err
	}
	// The evidence (user agent) is sealed under each customer's key, which the transaction
	// holds even for customers it creates.
	for i := range as {
		for j := range as[i].Records {
			r := &as[i].Records[j]
			if consent.ClearEvidence(r) {
				continue
			}
			dk, err := st.key(ctx, r.CustomerID)
			if err != nil {
				return err
			}
			if err := consent.SealEvidence(dk, r); err != nil {
				return err
			}
		}
	}
	return st.tx.AppendConsents(ctx, as)
}

// carry is the refusals one loser's ledger calls for in one of the customers above it.
type carry struct {
	winner, loser string
	consent.Carry
}

// guardLedgers decides, before the batch writes its merges and consent records, what each
// merge carries, and makes sure the decisions and the customers written for stay true until
// the transaction ends:
//   - each loser's refusals go to every customer above it in the batch's merges (B merged
//     into A, then A into C: B's go to A and to C), so that undoing either merge still
//     leaves them where the merged ids are answered;
//   - the stored customers of the merges and of the consent signals are then locked and
//     read again: if a choice, a suppression or a contact change moved one's decision
//     counter since the decision was read, or one was merged into another customer since the
//     batch resolved it, the transaction fails with ErrLedgerChanged and the store runs it
//     again, reading what committed. Customers the batch creates are seen by nobody else.
func (st *txState) guardLedgers(ctx context.Context) ([]carry, error) {
	if len(st.merges) == 0 && len(st.signals) == 0 {
		return nil, nil
	}
	created := make(map[string]bool, len(st.created))
	for _, r := range st.created {
		created[r.ID] = true
	}
	var carries []carry
	for _, m := range st.merges {
		w := m.Winner
		for depth := 0; w != "" && depth <= len(st.merges); depth++ {
			c, err := st.s.merger.MergeRecords(ctx, w, m.Loser, true)
			if err != nil {
				return nil, err
			}
			carries = append(carries, carry{winner: w, loser: m.Loser, Carry: c})
			w = st.roots[w]
		}
	}
	var ids []string
	for _, c := range carries {
		ids = append(ids, c.winner, c.loser)
	}
	// The signals' records are decided after the lock, from the ledger as committed: their
	// customers' counters are read now, so that a change made by a writer that shares this
	// transaction without having committed (SQLite's group commit) is noticed.
	var signalIDs []string
	for _, sig := range st.signals {
		if id := st.rootOf(sig.CustomerID); !created[id] && !slices.Contains(signalIDs, id) {
			signalIDs = append(signalIDs, id)
		}
	}
	signalled, err := st.s.ledger.DecisionVersions(ctx, signalIDs)
	if err != nil {
		return nil, err
	}
	ids = append(ids, signalIDs...)
	stored := ids[:0:0]
	for _, id := range ids {
		if !created[id] {
			stored = append(stored, id)
		}
	}
	if len(stored) == 0 {
		return carries, nil
	}
	locked, err := st.tx.LockCustomers(ctx, stored)
	if err != nil {
		return nil, err
	}
	for _, id := range stored {
		if l, ok := locked[id]; !ok || l.Into != "" {
			return nil, consent.LedgerChanged() // erased or merged meanwhile
		}
	}
	for _, c := range carries {
		for id, v := range c.Versions {
			if !created[id] && locked[id].Version != v {
				return nil, consent.LedgerChanged()
			}
		}
	}
	for id, v := range signalled {
		if locked[id].Version != v {
			return nil, consent.LedgerChanged()
		}
	}
	return carries, nil
}

// carryRefusals appends the refusals guardLedgers decided, with their audit entries.
func (st *txState) carryRefusals(ctx context.Context, carries []carry) error {
	for _, c := range carries {
		if len(c.Records) == 0 {
			continue
		}
		if err := st.tx.AddConsentRecords(ctx, c.Records); err != nil {
			return err
		}
		st.carried = append(st.carried, c.Records...)
		for i := range c.Records {
			st.entries = append(st.entries, st.s.merger.RecordEntry(ctx, &c.Records[i]))
		}
	}
	return nil
}

// identityRows are the identity rows the transaction stores. A contact identifier that is
// its customer's current profile value is left out: the profile's blind-index entry finds
// it (see findIndexed), and a second random insert per identifier was a third of an
// import's writing. A contact value the transaction replaces in a stored profile gets a row
// instead, so an address a customer used before keeps linking to them.
func (st *txState) identityRows(ctx context.Context) ([]IdentityRow, error) {
	rows := make([]IdentityRow, 0, len(st.idRows))
	linked := map[string]bool{}
	for _, r := range st.idRows {
		if pr, ok := st.profiles[r.CustomerID]; ok && st.s.isIndexed(r.Kind) && pr.values[r.Kind] == any(r.value) {
			continue
		}
		dk, err := st.key(ctx, r.CustomerID)
		if err != nil {
			return nil, err
		}
		if r.Sealed, err = dk.Seal(IdentitiesTable, r.Kind, r.CustomerID, []byte(r.value)); err != nil {
			return nil, problem.Wrap(problem.Internal, err, "sealing failed")
		}
		rows = append(rows, r)
		linked[tokenKey(r.Kind, r.Token)] = true
	}
	ids := make([]string, 0, len(st.profiles))
	for id, pr := range st.profiles {
		if !pr.isNew && len(pr.dirty) > 0 {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		pr := st.profiles[id]
		for _, kind := range st.s.indexed {
			old, _ := pr.was[kind].(string)
			if old == "" || pr.values[kind] == any(old) {
				continue
			}
			row, err := st.keepReplaced(ctx, id, pr, kind, old)
			if err != nil {
				return nil, err
			}
			if row != nil && !linked[tokenKey(kind, row.Token)] {
				rows = append(rows, *row)
			}
		}
	}
	return rows, nil
}

// keepReplaced returns the identity row that keeps a replaced contact value linked to the
// customer, or nil when a row (theirs or someone else's) already holds it.
func (st *txState) keepReplaced(ctx context.Context, id string, pr *profile, kind, old string) (*IdentityRow, error) {
	tok := st.s.keys.IdentityToken(kind, []byte(old))
	if h := st.holders[tokenKey(kind, tok)]; h != nil && h.CustomerID != id {
		return nil, nil
	}
	if _, found, err := st.tx.Identity(ctx, kind, tok); err != nil || found {
		return nil, err
	}
	ct, err := pr.dk.Seal(IdentitiesTable, kind, id, []byte(old))
	if err != nil {
		return nil, problem.Wrap(problem.Internal, err, "sealing failed")
	}
	return &IdentityRow{Kind: kind, Token: tok, CustomerID: id, Sealed: ct, CreatedAt: st.now}, nil
}
