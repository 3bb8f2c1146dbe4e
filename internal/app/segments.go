package app

import (
	"bytes"
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/notice"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/segment"
	"github.com/stewardhq/steward/internal/store"
)

// openSegments wires segments, trends, exports and destinations over the vault, the
// permission decision and the contact status.
func (a *App) openSegments() (*segment.Service, error) {
	db := a.Store.Segments()
	facts := &segmentFacts{db: db, vault: a.Vault, present: a.Customers.Present, consents: a.Consents, monitor: a.Monitor, keys: a.Keys, now: a.Clock}
	return segment.New(segment.Deps{Store: db, Exports: db, Destinations: db, Trends: db, Loader: facts, Profiles: facts,
		Decider: a.Consents, Jobs: a.Store.Jobs(), Audit: a.Store.Audit(), Catalog: a.Catalog, Keys: a.Keys,
		Transport: &httpTransport{client: &http.Client{Timeout: 10 * time.Second}}, Generalize: a.Customers.Generalize,
		Clock: a.Clock, PublicURL: a.Config.PublicURL})
}

// segmentFacts opens customers for segment rules, exports and deliveries: the privileged
// side of the vault, whose every use the segment service audits.
type segmentFacts struct {
	db       *store.Segments
	vault    *customer.Vault
	present  func(field string, v any, purpose string) (any, bool)
	consents interface {
		Decide(ctx context.Context, ids []string, purposes []string) ([][]bool, error)
	}
	monitor *quality.Monitor
	keys    interface {
		BlindIndex(field string, normalized []byte) int64
	}
	now func() time.Time
}

// open returns the opened values of each of ids that exists and stands on its own, by id.
func (f *segmentFacts) open(ctx context.Context, ids []string) (map[string]*customer.Record, map[string]map[string]any, error) {
	recs, err := f.vault.Records(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	return f.openRecords(ctx, ids, recs)
}

// openRecords opens recs, leaving out those merged into another customer.
func (f *segmentFacts) openRecords(ctx context.Context, ids []string, recs []*customer.Record) (map[string]*customer.Record, map[string]map[string]any, error) {
	merged, err := f.db.Merged(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	// Opening is processor work (unwrapping each customer's key, decrypting each field):
	// spread over the cores for the batches a refresh opens.
	opened := make([]map[string]any, len(recs))
	errs := make([]error, len(recs))
	workers := min(runtime.GOMAXPROCS(0), max(1, len(recs)/64))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(recs); i += workers {
				if !merged[recs[i].ID] {
					opened[i], _, errs[i] = f.vault.OpenProfile(ctx, recs[i])
				}
			}
		}()
	}
	wg.Wait()
	byID := make(map[string]*customer.Record, len(recs))
	values := make(map[string]map[string]any, len(recs))
	for i, r := range recs {
		if merged[r.ID] || f.vault.Skip(ctx, r.ID, errs[i]) {
			continue
		}
		if errs[i] != nil {
			return nil, nil, errs[i]
		}
		byID[r.ID], values[r.ID] = r, opened[i]
	}
	return byID, values, nil
}

// Page implements segment.Loader: one range read of the customers table rather than a
// look-up per id, for the walk of a full refresh.
func (f *segmentFacts) Page(ctx context.Context, after string, limit int, needs segment.Needs) ([]string, []segment.Facts, error) {
	recs, err := f.vault.Page(ctx, after, limit)
	if err != nil || len(recs) == 0 {
		return nil, nil, err
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	byID, values, err := f.openRecords(ctx, ids, recs)
	if err != nil {
		return nil, nil, err
	}
	facts, err := f.facts(ctx, ids, byID, values, needs)
	return ids, facts, err
}

// Facts implements segment.Loader.
func (f *segmentFacts) Facts(ctx context.Context, ids []string, needs segment.Needs) ([]segment.Facts, error) {
	recs, values, err := f.open(ctx, ids)
	if err != nil {
		return nil, err
	}
	return f.facts(ctx, ids, recs, values, needs)
}

// facts adds to opened profiles what needs asks for: decisions, events, contact status.
func (f *segmentFacts) facts(ctx context.Context, ids []string, recs map[string]*customer.Record, values map[string]map[string]any,
	needs segment.Needs) ([]segment.Facts, error) {
	var err error
	live := make([]string, 0, len(recs))
	for _, id := range ids {
		if _, ok := recs[id]; ok {
			live = append(live, id)
		}
	}
	var allowed [][]bool
	if len(needs.Purposes) > 0 && len(live) > 0 {
		if allowed, err = f.consents.Decide(ctx, live, needs.Purposes); err != nil {
			return nil, err
		}
	}
	var events map[string][]segment.Event
	if needs.Events && len(live) > 0 {
		since := f.now().Add(-time.Duration(needs.WindowDays) * 24 * time.Hour)
		if events, err = f.db.EventsSince(ctx, live, since); err != nil {
			return nil, err
		}
	}
	out := make([]segment.Facts, 0, len(live))
	for j, id := range live {
		fa := segment.Facts{CustomerID: id, Values: values[id], Events: events[id], Allowed: map[string]bool{}}
		for i, p := range needs.Purposes {
			fa.Allowed[p] = allowed[i][j]
		}
		if needs.Contact {
			r := recs[id]
			c := quality.Contact{CustomerID: id, Created: r.CreatedAt, Updated: r.UpdatedAt}
			c.Email, _ = values[id]["email"].(string)
			c.Phone, _ = values[id]["phone"].(string)
			if c.Email != "" {
				c.EmailToken = f.keys.BlindIndex("email", []byte(c.Email))
			}
			st, err := f.monitor.ContactStatus(ctx, c)
			if err != nil {
				return nil, err
			}
			fa.ContactStatus = st.Status
		}
		out = append(out, fa)
	}
	return out, nil
}

// Present implements segment.Profiles with the vault's one rule of what a purpose sees.
func (f *segmentFacts) Present(ctx context.Context, ids []string, purpose string, fields []string) ([]map[string]any, error) {
	_, values, err := f.open(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, len(ids))
	for i, id := range ids {
		v, ok := values[id]
		if !ok {
			continue
		}
		m := map[string]any{}
		for _, name := range fields {
			val, has := v[name]
			if !has {
				continue
			}
			if shown, revealed := f.present(name, val, purpose); revealed {
				m[name] = shown
			}
		}
		out[i] = m
	}
	return out, nil
}

// Masked implements segment.Profiles.
func (f *segmentFacts) Masked(ctx context.Context, ids []string) ([]map[string]any, error) {
	_, values, err := f.open(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		v, ok := values[id]
		if !ok {
			continue
		}
		m := map[string]any{"id": id}
		fields := map[string]any{}
		for name, val := range v {
			shown, _ := f.present(name, val, "")
			fields[name] = shown
		}
		m["fields"] = fields
		out = append(out, m)
	}
	return out, nil
}

// httpTransport sends deliveries over HTTP; redirects are not followed, so a destination
// cannot be moved elsewhere by its server.
type httpTransport struct{ client *http.Client }

// Post implements segment.Transport.
func (t *httpTransport) Post(ctx context.Context, url string, header map[string]string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	req.Header.Set("User-Agent", "Steward-Destinations/1")
	c := *t.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// destinationRecipients names every destination as a recipient in the privacy notice and the
// records of processing.
func (a *App) destinationRecipients(ctx context.Context) ([]notice.Recipient, error) {
	rs, err := a.Segments.Recipients(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]notice.Recipient, 0, len(rs))
	for _, r := range rs {
		out = append(out, notice.Recipient{Name: r.Name, Purposes: []string{r.Purpose}})
	}
	return out, nil
}

// segmentCycle is one round of the segment upkeep a serving node runs: memberships of the
// customers changed since the last round, then the deliveries due.
func (a *App) segmentCycle(ctx context.Context) error {
	if _, err := a.Segments.Sync(ctx); err != nil {
		return err
	}
	for {
		n, err := a.Segments.Deliver(ctx, 200)
		if err != nil || n < 200 {
			return err
		}
	}
}

// segmentEvery is how often a serving node runs the segment cycle: the delay between a
// change (an event, a withdrawn consent) and the deliveries it causes.
const segmentEvery = 5 * time.Second

// segmentLoop runs the segment cycle until ctx ends.
func (a *App) segmentLoop(ctx context.Context, every time.Duration) {
	sys := authz.WithActor(ctx, authz.System)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := a.segmentCycle(sys); err != nil && ctx.Err() == nil {
			a.Log.Error("segment cycle failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
