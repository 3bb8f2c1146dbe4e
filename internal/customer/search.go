package customer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/search"
)

// Search over encrypted profiles (see package search and docs/security.md): every profile
// write stores the profile's search tokens with it (seal computes them), a query's tokens fetch
// candidates, and the candidates are opened here and scored on their values.

// SearchStore is what search needs from an engine beyond the profiles themselves.
type SearchStore interface {
	// Store reads the customers holding tokens.
	search.Store
	// SearchCustomers returns the stored customers among ids with MergedInto set, in no
	// particular order.
	SearchCustomers(ctx context.Context, ids []string) ([]*Record, error)
	// OrderCustomers returns the ids of the customers who placed the orders with these ids.
	OrderCustomers(ctx context.Context, orderIDs []string) ([]string, error)
	// ReplaceSearchTokens stores each record's Search tokens in place of the ones stored,
	// for the records whose stored version is still theirs, and says how many it replaced.
	ReplaceSearchTokens(ctx context.Context, recs []*Record) (int, error)
	// SearchIndexBuilt reports whether every stored customer has its tokens;
	// MarkSearchIndexBuilt records that a complete rebuild says so.
	SearchIndexBuilt(ctx context.Context) (bool, error)
	MarkSearchIndexBuilt(ctx context.Context) error
}

// Search limits: a search answers a person looking at a list, not an export.
const (
	DefaultSearchLimit = 10
	MaxSearchLimit     = 50
)

// SearchFilter narrows a search to customers whose stored values agree; empty parts do not
// filter. The values are compared after opening, like the query's.
type SearchFilter struct {
	Country       string
	LoyaltyTier   string
	ContactStatus string
	// CreatedFrom is inclusive, CreatedTo exclusive; zero times do not filter.
	CreatedFrom, CreatedTo time.Time
}

// SearchResult is one customer a search found: masked like a listing, with how well it
// answered the query (0 to 1) and the fields that agreed.
type SearchResult struct {
	ID      string         `json:"id"`
	Score   float64        `json:"score"`
	Matched []string       `json:"matched"`
	Fields  map[string]any `json:"fields,omitempty"`
}

// Search finds the customers that best answer text — names in any order, with typos and
// nicknames, a town or postal code, e-mail parts, phone endings, customer, member and order
// numbers — best first, at most limit (0 means DefaultSearchLimit). Results are always
// masked, as listings are, so the role rule is the listing's (customers.read), and a purpose is
// refused. A customer merged into another is answered for by that one. Every search writes
// one audit entry naming the kinds of token the query used and the number of results (never
// the text), and one per customer shown. Invalid names the bad parameter (q, limit, a filter).
func (s *Service) Search(ctx context.Context, text string, f SearchFilter, limit int, purpose string) ([]SearchResult, error) {
	if err := s.checkRead(ctx, ""); err != nil {
		return nil, err
	}
	if purpose != "" {
		return nil, problem.InvalidField("Steward-Purpose", "search results are always masked; reveal one customer at a time")
	}
	switch {
	case limit == 0:
		limit = DefaultSearchLimit
	case limit < 1 || limit > MaxSearchLimit:
		return nil, problem.InvalidField("limit", "must be 1 to %d", MaxSearchLimit)
	}
	f, err := s.searchFilter(f)
	if err != nil {
		return nil, err
	}
	q, err := search.Parse(text)
	if err != nil {
		return nil, problem.InvalidField("q", "%s", err.Error())
	}
	st, ok := s.store.(SearchStore)
	if !ok {
		return nil, problem.New(problem.Internal, "this store cannot search")
	}
	ids, err := search.Candidates(ctx, st, s.keys, q, search.CandidatesFor(limit))
	if err != nil {
		return nil, err
	}
	kinds := search.KindsOf(q.Terms())
	var ordered []string
	if len(q.Orders) > 0 {
		if ordered, err = st.OrderCustomers(ctx, q.Orders); err != nil {
			return nil, err
		}
		kinds = append(kinds, "order_number")
		ids = append(slices.Clip(ordered), ids...)
	}
	// A whole phone number is found exactly, through the phone field's blind index.
	var phoned []*Record
	if q.Phone != "" {
		if phoned, err = s.phoneHolders(ctx, q.Phone); err != nil {
			return nil, err
		}
		kinds = append(kinds, "phone")
	}
	ids = slices.DeleteFunc(ids, func(id string) bool {
		return slices.ContainsFunc(phoned, func(r *Record) bool { return r.ID == id })
	})
	recs, err := st.SearchCustomers(ctx, ids)
	if err != nil {
		return nil, err
	}
	recs = append(phoned, recs...)
	for _, r := range slices.Backward(phoned) {
		ids = append([]string{r.ID}, ids...)
	}
	results, shown, err := s.scoreCandidates(ctx, q, f, recs, ordered)
	if err != nil {
		return nil, err
	}
	// Best first; equal scores keep the candidate ranking, which weighed how rare the shared
	// tokens are.
	rank := make(map[string]int, len(ids))
	for i, id := range ids {
		if _, ok := rank[id]; !ok {
			rank[id] = i
		}
	}
	sort.SliceStable(results, func(i, j int) bool {
		if results[i].Score != results[j].Score {
			return results[i].Score > results[j].Score
		}
		return rank[results[i].found] < rank[results[j].found]
	})
	if len(results) > limit {
		results = results[:limit]
	}
	out := make([]SearchResult, len(results))
	entries := []audit.Entry{searchEntry(ctx, kinds, len(results))}
	for i, r := range results {
		out[i] = r.SearchResult
		entries = append(entries, audit.New(ctx, audit.ActionCustomerSearch, r.ID, sortedKeys(shown[r.ID]), ""))
	}
	if err := s.audit.AppendAudit(ctx, entries...); err != nil {
		return nil, err
	}
	return out, nil
}

// phoneHolders are the customers the phone field's blind index holds for text read as a
// phone number (none when it is not one): candidates, scored like any other.
func (s *Service) phoneHolders(ctx context.Context, text string) ([]*Record, error) {
	f, ok := s.catalog.Field("phone")
	if !ok || !f.Indexed() {
		return nil, nil
	}
	v, _, err := s.norm.Value("phone", text)
	if err != nil {
		return nil, nil
	}
	return s.store.FindCustomers(ctx, "phone", s.keys.BlindIndex("phone", indexBytes(v)), MaxLookup)
}

// searchEntry is the record of one search: the kinds of token asked for and how many
// customers were shown, never the query text.
func searchEntry(ctx context.Context, kinds []string, n int) audit.Entry {
	e := audit.New(ctx, audit.ActionCustomerSearch, "", kinds, "")
	e.Target = fmt.Sprintf("results:%d", n)
	return e
}

// scored is a result with the candidate it was found as (itself, or a customer merged into it).
type scored struct {
	SearchResult
	found string
}

// scoreCandidates opens the candidates, scores them against q, applies f, and answers for
// merged customers with the customer they were merged into, each customer once with the best
// score any of its records earned. shown holds the values of each result, for its audit entry.
func (s *Service) scoreCandidates(ctx context.Context, q search.Query, f SearchFilter, recs []*Record, ordered []string) ([]scored, map[string]map[string]any, error) {
	best := map[string]int{}
	shown := map[string]map[string]any{}
	var out []scored
	for _, r := range recs {
		values, err := s.vault.open(ctx, r)
		if s.vault.Skip(ctx, r.ID, err) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		score, matched := search.Score(q, values)
		if slices.Contains(ordered, r.ID) {
			score, matched = 1, []string{"order_number"}
		}
		if score <= 0 {
			continue
		}
		found := r.ID
		if r.MergedInto != "" {
			if r, err = s.vault.root(ctx, r); err != nil {
				return nil, nil, err
			}
			if shown[r.ID] == nil {
				values, err = s.vault.open(ctx, r)
				if s.vault.Skip(ctx, r.ID, err) {
					continue
				}
				if err != nil {
					return nil, nil, err
				}
			}
		}
		if i, ok := best[r.ID]; ok {
			if score > out[i].Score {
				out[i].Score, out[i].Matched, out[i].found = score, matched, found
			}
			continue
		}
		keep, err := s.filtered(ctx, f, r, values)
		if err != nil {
			return nil, nil, err
		}
		if !keep {
			continue
		}
		v := s.render(ctx, r, values, "")
		best[r.ID] = len(out)
		shown[r.ID] = values
		out = append(out, scored{SearchResult{ID: r.ID, Score: round3(score), Matched: matched, Fields: v.Fields}, found})
	}
	return out, shown, nil
}

// filtered reports whether r passes f.
func (s *Service) filtered(ctx context.Context, f SearchFilter, r *Record, values map[string]any) (bool, error) {
	switch {
	case f.Country != "" && values["country"] != f.Country,
		f.LoyaltyTier != "" && values["loyalty_tier"] != f.LoyaltyTier,
		!f.CreatedFrom.IsZero() && r.CreatedAt.Before(f.CreatedFrom),
		!f.CreatedTo.IsZero() && !r.CreatedAt.Before(f.CreatedTo):
		return false, nil
	}
	if f.ContactStatus != "" {
		st, err := s.contactStatus(ctx, r, values)
		if err != nil {
			return false, err
		}
		return st.Status == f.ContactStatus, nil
	}
	return true, nil
}

// contactStatuses are the statuses a search may filter on.
var contactStatuses = []string{quality.StatusValid, quality.StatusRisky, quality.StatusInvalid, quality.StatusInactive,
	quality.StatusBounced, quality.StatusComplained, quality.StatusUnsubscribed, quality.StatusNone}

// searchFilter validates f and normalises its values as stored values are.
func (s *Service) searchFilter(f SearchFilter) (SearchFilter, error) {
	for _, c := range []struct {
		field string
		v     *string
	}{{"country", &f.Country}, {"loyalty_tier", &f.LoyaltyTier}} {
		if *c.v == "" {
			continue
		}
		v, _, err := s.norm.Value(c.field, *c.v)
		if err != nil {
			return f, err
		}
		str, _ := v.(string)
		*c.v = str
	}
	if f.ContactStatus != "" {
		if !slices.Contains(contactStatuses, f.ContactStatus) {
			return f, problem.InvalidField("contact_status", "must be one of %v", contactStatuses)
		}
		if s.statuses == nil {
			return f, problem.InvalidField("contact_status", "contact status is not derived on this server")
		}
	}
	if !f.CreatedFrom.IsZero() && !f.CreatedTo.IsZero() && !f.CreatedFrom.Before(f.CreatedTo) {
		return f, problem.InvalidField("created_before", "must be after created_after")
	}
	return f, nil
}

func round3(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }

// ReindexSearch rebuilds the search tokens of up to limit customers with id greater than
// after, from their stored values, and returns the last id handled ("" when none was left)
// and how many customers it reindexed. A customer changed meanwhile keeps the tokens its own
// change wrote; one whose profile does not decrypt is skipped and counted (see Skip). Safe to
// repeat: the reindex job's step.
func (vt *Vault) ReindexSearch(ctx context.Context, after string, limit int) (string, int, error) {
	st, ok := vt.store.(SearchStore)
	if !ok {
		return "", 0, errors.New("this store cannot search")
	}
	recs, err := vt.store.ListCustomers(ctx, after, limit)
	if err != nil || len(recs) == 0 {
		return "", 0, err
	}
	readable := recs[:0:0]
	for _, r := range recs {
		values, err := vt.open(ctx, r)
		if vt.Skip(ctx, r.ID, err) {
			continue
		}
		if err != nil {
			return after, 0, err
		}
		r.Search = search.Tokens(vt.keys, search.Index(values))
		readable = append(readable, r)
	}
	n, err := st.ReplaceSearchTokens(ctx, readable)
	if err != nil {
		return after, 0, err
	}
	return recs[len(recs)-1].ID, n, nil
}

// SearchIndexBuilt reports whether every stored customer has its search tokens.
func (vt *Vault) SearchIndexBuilt(ctx context.Context) (bool, error) {
	st, ok := vt.store.(SearchStore)
	if !ok {
		return false, errors.New("this store cannot search")
	}
	return st.SearchIndexBuilt(ctx)
}

// MarkSearchIndexBuilt records that a rebuild reached every customer.
func (vt *Vault) MarkSearchIndexBuilt(ctx context.Context) error {
	st, ok := vt.store.(SearchStore)
	if !ok {
		return errors.New("this store cannot search")
	}
	return st.MarkSearchIndexBuilt(ctx)
}
