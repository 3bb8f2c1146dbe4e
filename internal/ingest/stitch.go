package ingest

import (
	"context"
	"fmt"
	"sort"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
)

// resolve finds or creates the customer a message belongs to, linking its new identifiers
// and merging customers its identifiers show to be one, within the limits. It returns the
// owner (the customer whose identifier the event arrived under, whose key seals it) and the
// root (the customer the owner has been merged into).
//
// The steps follow docs/ingest.md's rules in order: look every identifier up, choose the
// customer (or make one), link what is new, merge what the message joins, name the owner.
func (st *txState) resolve(ctx context.Context, p *prepared, d drops) (owner, root string, err error) {
	hits, err := st.lookupAll(ctx, p.ids)
	if err != nil {
		return "", "", err
	}
	if root, err = st.chooseRoot(ctx, p.msg, hits); err != nil {
		return "", "", err
	}
	if root == "" {
		pr, err := st.newCustomer(ctx, p.pre)
		if err != nil {
			return "", "", err
		}
		root = pr.rec.ID
	}
	if err := st.linkNew(ctx, root, hits, d); err != nil {
		return "", "", err
	}
	if err := st.mergeJoined(ctx, root, hits, p.msg.Type, d); err != nil {
		return "", "", err
	}
	return st.ownerOf(hits, root), root, nil
}

// hit is one identifier of a message and the holder it already has (nil when it is new).
type hit struct {
	id Identifier
	h  *Holder
}

// lookupAll finds each identifier's holder, strongest identifier first, so that the later
// steps prefer a user id's customer to an e-mail's, and an e-mail's to a cookie's. A userId
// that may equally be an anonymous id (Identifier.Either) is looked up as the anonymous id
// when no customer holds it as a user id, so a web SDK that reuses one value for both is
// stitched to the visitor it already is.
func (st *txState) lookupAll(ctx context.Context, ids []Identifier) ([]hit, error) {
	hits := make([]hit, 0, len(ids))
	for _, id := range ids {
		h, err := st.lookup(ctx, id)
		if err != nil {
			return nil, err
		}
		if h == nil && id.Either {
			alt := id
			alt.Kind = KindAnonymousID
			alt.Token = st.s.keys.IdentityToken(alt.Kind, []byte(alt.Value))
			if h, err = st.lookup(ctx, alt); err != nil {
				return nil, err
			}
			id = alt
		}
		hits = append(hits, hit{id, h})
	}
	sort.SliceStable(hits, func(i, j int) bool { return kindRank[hits[i].id.Class()] < kindRank[hits[j].id.Class()] })
	return hits, nil
}

// chooseRoot picks the customer the message belongs to: the customer it names, else the
// customer of its strongest known identifier; "" when a new customer must be made. The
// strongest identifier being new and one the found customer may not take (a second user
// id on a shared device) also gives "", so that it starts a customer of its own rather than
// being folded into someone else.
func (st *txState) chooseRoot(ctx context.Context, m *Message, hits []hit) (string, error) {
	root := ""
	if m.CustomerID != "" {
		// Recorded for a known customer (a till naming the customer): they are the root.
		r, err := st.tx.Root(ctx, m.CustomerID)
		if err != nil {
			return "", err
		}
		root = st.rootOf(r)
		if _, err := st.countsOf(ctx, root); err != nil {
			return "", err
		}
	}
	for _, h := range hits {
		if root != "" {
			break
		}
		if h.h != nil {
			root = st.rootOf(h.h.Root)
		}
	}
	if root == "" || len(hits) == 0 || hits[0].h != nil {
		return root, nil
	}
	ok, err := st.mayLink(ctx, root, hits[0].id.Class())
	if err != nil || !ok {
		return "", err
	}
	return root, nil
}

// linkNew links the message's new identifiers to root, each within its class's limit; one
// over the limit is dropped (and counted) rather than refusing the message, whose event is
// still worth keeping.
func (st *txState) linkNew(ctx context.Context, root string, hits []hit, d drops) error {
	for i, h := range hits {
		if h.h != nil {
			continue
		}
		ok, err := st.mayLink(ctx, root, h.id.Class())
		if err != nil {
			return err
		}
		if !ok {
			d.add(DropLimit, h.id.Class())
			continue
		}
		st.link(root, h.id)
		hits[i].h = st.holders[tokenKey(h.id.Kind, h.id.Token)]
	}
	return nil
}

// mergeJoined merges into root every other customer whose identifier the message carried:
// one message naming both is the evidence that they are one person (two anonymous trees
// joined by a userId, an alias). Merges that the rules refuse (two known user ids, a merge
// limit) are dropped and counted, and the customers stay apart.
func (st *txState) mergeJoined(ctx context.Context, root string, hits []hit, typ string, d drops) error {
	alias := typ == TypeAlias
	for _, h := range hits {
		if h.h == nil {
			continue
		}
		other := st.rootOf(h.h.Root)
		if other == root {
			continue
		}
		join, err := st.mayJoin(ctx, root, other, h.id.Class(), d)
		if err != nil {
			return err
		}
		if !join {
			continue
		}
		ok, err := st.mayMerge(ctx, root, other, alias && st.b.trusted)
		if err != nil {
			return err
		}
		if !ok {
			d.add(DropLimit, "merge")
			continue
		}
		reason := fmt.Sprintf("%s message carried identifiers of both customers (%s)", typ, h.id.Class())
		st.merge(ctx, root, other, reason)
	}
	return nil
}

// ownerOf is the customer whose identifier the event arrived under — the strongest one that
// ended up with root — since that customer's key seals the event and an unmerge must give
// the event back to them; root itself when no identifier did.
func (st *txState) ownerOf(hits []hit, root string) string {
	for _, h := range hits {
		if h.h != nil && st.rootOf(h.h.Root) == root {
			return h.h.CustomerID
		}
	}
	return root
}

// prefetch looks up every identifier of the batch's new messages in a few queries rather
// than one per identifier.
func (st *txState) prefetch(ctx context.Context, ps []prepared, fresh []bool) error {
	byKind := map[string][][]byte{}
	contacts := map[string][]Identifier{}
	// want marks a token to look up, reporting whether it is new to the transaction.
	want := func(kind string, tok []byte) bool {
		key := tokenKey(kind, tok)
		if _, seen := st.holders[key]; seen {
			return false
		}
		st.holders[key] = nil // until found below
		byKind[kind] = append(byKind[kind], tok)
		return true
	}
	for i := range ps {
		if !fresh[i] {
			continue
		}
		for _, id := range ps[i].ids {
			if want(id.Kind, id.Token) && st.s.isIndexed(id.Kind) {
				contacts[id.Kind] = append(contacts[id.Kind], id)
			}
			if id.Either {
				want(KindAnonymousID, st.s.keys.IdentityToken(KindAnonymousID, []byte(id.Value)))
			}
		}
	}
	for kind, toks := range byKind {
		found := map[string]Holder{}
		held, err := st.holdsKind(ctx, kind)
		if err != nil {
			return err
		}
		if held {
			if found, err = st.tx.Identities(ctx, kind, toks); err != nil {
				return err
			}
		}
		for _, t := range toks {
			if h, ok := found[string(t)]; ok {
				st.hold(tokenKey(kind, t), &h)
			}
		}
	}
	for kind, ids := range contacts {
		var missing []Identifier
		for _, id := range ids {
			if st.holders[tokenKey(kind, id.Token)] == nil {
				missing = append(missing, id)
			}
		}
		if err := st.findIndexed(ctx, kind, missing); err != nil {
			return err
		}
	}
	return nil
}

// holdsKind says, once per transaction, whether any identity row of kind exists: a kind
// nobody holds a row of (e-mail and phone, where profiles answer for current values) needs
// no look-up per identifier. Once a kind is seen held, the service remembers it for good:
// rows of it seldom all go, and if they do, the answer only costs a look-up that finds
// nothing; a statement per kind per transaction was one in sixteen of a delivery's.
func (st *txState) holdsKind(ctx context.Context, kind string) (bool, error) {
	if held, ok := st.heldKinds[kind]; ok {
		return held, nil
	}
	if st.heldKinds == nil {
		st.heldKinds = map[string]bool{}
	}
	_, held := st.s.held.Load(kind)
	if !held {
		var err error
		if held, err = st.tx.HoldsKind(ctx, kind); err != nil {
			return false, err
		}
		if held {
			st.s.held.Store(kind, true)
		}
	}
	st.heldKinds[kind] = held
	return held, nil
}

// findIndexed finds the customers whose profiles currently hold contact identifiers (one
// kind) that no identity row holds, through the blind index. Index tokens are truncated, so
// each candidate's value is opened and compared; when several customers hold the value (two
// records of one person, created before stitching could join them), the oldest holds it.
func (st *txState) findIndexed(ctx context.Context, kind string, ids []Identifier) error {
	if len(ids) == 0 {
		return nil
	}
	toks := make([]int64, 0, len(ids))
	byBlind := make(map[int64][]Identifier, len(ids))
	for _, id := range ids {
		if _, ok := byBlind[id.Blind]; !ok {
			toks = append(toks, id.Blind)
		}
		byBlind[id.Blind] = append(byBlind[id.Blind], id)
	}
	cands, err := st.tx.IndexCandidates(ctx, kind, toks)
	if err != nil {
		return err
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].Holder.CustomerID < cands[j].Holder.CustomerID })
	for _, c := range cands {
		vals, err := st.s.vault.OpenFields(ctx, c.Record, []string{kind})
		if err != nil {
			return err
		}
		for _, id := range byBlind[c.Token] {
			k := tokenKey(kind, id.Token)
			if st.holders[k] == nil && vals[kind] == id.Value {
				h := c.Holder
				st.hold(k, &h)
			}
		}
	}
	return nil
}

// lookup finds an identifier's holder, first among this transaction's links and look-ups.
func (st *txState) lookup(ctx context.Context, id Identifier) (*Holder, error) {
	k := tokenKey(id.Kind, id.Token)
	if h, ok := st.holders[k]; ok {
		return h, nil
	}
	h, found, err := st.tx.Identity(ctx, id.Kind, id.Token)
	if err != nil {
		return nil, err
	}
	if found {
		st.hold(k, &h)
		return &h, nil
	}
	st.holders[k] = nil
	if st.s.isIndexed(id.Kind) {
		if err := st.findIndexed(ctx, id.Kind, []Identifier{id}); err != nil {
			return nil, err
		}
	}
	return st.holders[k], nil
}

// rootOf follows this transaction's merges.
func (st *txState) rootOf(id string) string {
	for i := 0; i < 64; i++ {
		next, ok := st.roots[id]
		if !ok {
			return id
		}
		id = next
	}
	return id
}

// newCustomer starts a customer, from pre when the row was sealed ahead (a copy of it: on
// SQLite the transaction may run twice, and the first run must not change what the second
// starts from).
func (st *txState) newCustomer(ctx context.Context, pre *preProfile) (*profile, error) {
	var pr *profile
	var entry audit.Entry
	if pre != nil {
		rec := *pre.rec
		rec.Index = append([]customer.IndexEntry(nil), pre.rec.Index...)
		dirty := make([]string, 0, len(pre.values))
		for k := range pre.values {
			dirty = append(dirty, k)
		}
		// The values are shared with pre until a change copies them (see applyTraits).
		pr = &profile{rec: &rec, values: pre.values, shared: true, dk: pre.dk, isNew: true, dirty: dirty, sealed: true}
		entry = pre.entry
	} else {
		r, dk, e, err := st.s.vault.NewProfile(ctx, nil)
		if err != nil {
			return nil, err
		}
		pr = &profile{rec: r, values: map[string]any{}, dk: dk, isNew: true}
		entry = e
	}
	pr.part = st.cur
	r := pr.rec
	dk := pr.dk
	st.profiles[r.ID] = pr
	st.keys[r.ID] = dk
	st.counts[r.ID] = map[string]int{}
	st.created = append(st.created, r)
	st.entries = append(st.entries, entry)
	return pr, nil
}

// countsOf loads how many identifiers of each class a root's tree holds.
func (st *txState) countsOf(ctx context.Context, root string) (map[string]int, error) {
	if c, ok := st.counts[root]; ok {
		return c, nil
	}
	tree, err := st.tx.Tree(ctx, root)
	if err != nil {
		return nil, err
	}
	kinds, err := st.tx.IdentityKinds(ctx, tree, st.s.indexed)
	if err != nil {
		return nil, err
	}
	c := map[string]int{}
	for _, k := range kinds {
		c[Identifier{Kind: k}.Class()]++
	}
	st.counts[root] = c
	return c, nil
}

// mayLink says whether root may take one more identifier of class within the limits, which
// keep two people on one shared device from becoming one customer.
func (st *txState) mayLink(ctx context.Context, root, class string) (bool, error) {
	c, err := st.countsOf(ctx, root)
	if err != nil {
		return false, err
	}
	return c[class]+1 <= st.s.config.Limits[class], nil
}

// mayMerge checks the limits on the merged customer. An alias is the client saying outright
// that two ids are one person, so it may join two user ids.
func (st *txState) mayMerge(ctx context.Context, winner, loser string, alias bool) (bool, error) {
	a, err := st.countsOf(ctx, winner)
	if err != nil {
		return false, err
	}
	b, err := st.countsOf(ctx, loser)
	if err != nil {
		return false, err
	}
	for class, n := range b {
		if alias && class == KindUserID {
			continue
		}
		if a[class]+n > st.s.config.Limits[class] {
			return false, nil
		}
	}
	return true, nil
}

// merge folds loser into winner for the rest of the transaction (its counts and later
// look-ups follow the link) and records the merge with its audit entry; nothing of loser
// moves, so the merge can be undone.
func (st *txState) merge(ctx context.Context, winner, loser, reason string) {
	id := ident.New()
	st.merges = append(st.merges, Merge{ID: id, Winner: winner, Loser: loser, Reason: reason, CreatedAt: st.now})
	st.roots[loser] = winner
	a, b := st.counts[winner], st.counts[loser]
	for k, n := range b {
		a[k] += n
	}
	delete(st.counts, loser)
	e := audit.New(ctx, ActionMerge, winner, nil, "")
	e.Target = "customer:" + loser + " merge:" + id
	st.entries = append(st.entries, e)
}

// link gives root a new identifier. Its row is sealed under root's key only when the
// transaction writes it (see identityRows).
func (st *txState) link(root string, id Identifier) {
	st.idRows = append(st.idRows, IdentityRow{Kind: id.Kind, Token: id.Token, CustomerID: root, CreatedAt: st.now, value: id.Value})
	h := &Holder{CustomerID: root, Root: root}
	if pr, ok := st.profiles[root]; ok {
		h.MasterVersion, h.Key = pr.rec.MasterVersion, pr.rec.Key
	}
	st.hold(tokenKey(id.Kind, id.Token), h)
	st.counts[root][id.Class()]++
}
