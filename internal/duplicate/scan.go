package duplicate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/match"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
)

// refreshBatch is how many customers one refresh step opens and re-keys.
const refreshBatch = 1000

// loadBatch is how many candidates are read per query while scoring.
const loadBatch = 2000

// Result says what a scan did, in counts.
type Result struct {
	Refreshed  int64 `json:"refreshed"`  // customers whose keys were derived again
	Candidates int   `json:"candidates"` // customers sharing a key with someone
	Pairs      int   `json:"pairs"`      // pairs from the review threshold up
	New        int   `json:"new"`        // pairs not seen before
	Pending    int   `json:"pending"`    // pairs left for review
	AutoMerged int   `json:"auto_merged"`
	Skipped    int   `json:"skipped"` // pairs dismissed, merged or undone before
}

// StartScan queues a scan for the job runner and returns its job.
func (s *Service) StartScan(ctx context.Context) (job.Job, error) {
	if _, err := s.require(ctx, true); err != nil {
		return job.Job{}, err
	}
	j := job.Job{ID: ident.New(), Kind: ScanJob}
	if err := s.jobs.CreateJob(ctx, j); err != nil {
		return job.Job{}, err
	}
	return s.jobs.GetJob(ctx, j.ID)
}

// Step is the scan job's step for the job runner: refresh steps walk the stale customers a
// batch at a time (the cursor is "refresh:" and the last id), the last step scores.
func (s *Service) Step(ctx context.Context, j job.Job) (string, int64, error) {
	ctx = authz.WithActor(ctx, authz.System)
	after, resumed := strings.CutPrefix(j.Cursor, "refresh:")
	if j.Cursor == "" || resumed {
		n, last, err := s.refresh(ctx, after, refreshBatch)
		if err != nil {
			return j.Cursor, 0, err
		}
		if n < refreshBatch {
			return "score", int64(n), nil
		}
		return "refresh:" + last, int64(n), nil
	}
	_, err := s.score(ctx, j.Done) // the refresh steps' count: the audit entry reports it
	return "", 0, err
}

// Scan runs a whole scan now: refresh every stale customer, score the candidates, queue the
// pairs and merge those above the merge threshold. The command line and tests use it; the
// server runs the same work as a job.
func (s *Service) Scan(ctx context.Context) (Result, error) {
	if _, err := s.require(ctx, true); err != nil {
		return Result{}, err
	}
	var refreshed int64
	after := ""
	for {
		n, last, err := s.refresh(ctx, after, refreshBatch)
		if err != nil {
			return Result{}, err
		}
		refreshed += int64(n)
		if n < refreshBatch {
			break
		}
		after = last
	}
	return s.score(ctx, refreshed)
}

// refresh derives blocking keys and the contact verdict of up to limit stale customers after
// the id given, and stores them. It returns how many it handled and the last id.
func (s *Service) refresh(ctx context.Context, after string, limit int) (int, string, error) {
	recs, err := s.store.StaleCustomers(ctx, after, limit)
	if err != nil || len(recs) == 0 {
		return 0, after, err
	}
	now := s.now()
	rows := make([]KeyRow, 0, len(recs))
	for _, r := range recs {
		values, err := s.open(ctx, r)
		if s.vault.Skip(ctx, r.ID, err) {
			// It stays stale, so every scan tries it again (and counts it) until it is
			// restored or erased; the others get their keys.
			continue
		}
		if err != nil {
			return 0, after, err
		}
		row := KeyRow{CustomerID: r.ID, Version: r.Version, At: now}
		n := match.Normalize(toMatch(r.ID, values), s.config.DefaultRegion)
		for _, k := range match.BlockingKeys(&n) {
			row.Tokens = append(row.Tokens, s.token(k))
		}
		for _, k := range match.TermKeys(&n) {
			row.Terms = append(row.Terms, TermToken{Kind: k.Rule, Token: s.termToken(k)})
		}
		email, _ := values["email"].(string)
		phone, _ := values["phone"].(string)
		if email != "" {
			row.EmailToken = s.keys.BlindIndex("email", []byte(email))
		}
		row.Validation, row.Reasons = quality.AssessContact(email, phone)
		rows = append(rows, row)
	}
	if err := s.store.SaveKeys(ctx, rows); err != nil {
		return 0, after, err
	}
	return len(recs), recs[len(recs)-1].ID, nil
}

// token is a blocking key as stored: the first 64 bits of its keyed hash. Equal tokens are
// what the store compares; the key itself never leaves memory.
func (s *Service) token(k match.Key) int64 {
	t := s.keys.IdentityToken("match:"+k.Rule, []byte(k.Value))
	return int64(binary.BigEndian.Uint64(t[:8]))
}

// termToken is a term value as stored, like token but under its own derivation, so that a
// term token never equals a blocking token.
func (s *Service) termToken(k match.Key) int64 {
	t := s.keys.IdentityToken("match-term:"+k.Rule, []byte(k.Value))
	return int64(binary.BigEndian.Uint64(t[:8]))
}

// terms is how common values are among all customers, from the stored tokens: the matcher
// scores only candidates, and a surname's frequency must be counted over everyone.
type terms struct {
	s       *Service
	counts  map[int64]int
	typical map[string]float64
}

func (s *Service) loadTerms(ctx context.Context) (*terms, error) {
	rows, err := s.store.TermCounts(ctx)
	if err != nil {
		return nil, err
	}
	t := &terms{s: s, counts: make(map[int64]int, len(rows)), typical: map[string]float64{}}
	sum := map[string]float64{}
	for _, r := range rows {
		if r.Count > 1 {
			t.counts[r.Token] = r.Count
		}
		c := float64(r.Count)
		t.typical[r.Kind] += c * c
		sum[r.Kind] += c
	}
	for kind, n := range sum {
		t.typical[kind] /= n
	}
	return t, nil
}

// Count implements match.TermFrequencies; a value held by one customer is not in the map.
func (t *terms) Count(k match.Key) int {
	if n, ok := t.counts[t.s.termToken(k)]; ok {
		return n
	}
	return 1
}

// Typical implements match.TermFrequencies.
func (t *terms) Typical(comparison string) float64 { return t.typical[comparison] }

func (s *Service) open(ctx context.Context, r *customer.Record) (map[string]any, error) {
	values, _, err := s.vault.OpenProfile(ctx, r)
	return values, err
}

// toMatch maps a profile onto the fields the matcher knows; other fields are left out.
func toMatch(id string, values map[string]any) match.Record {
	rec := match.Record{ID: id}
	for name, v := range values {
		f, err := match.ParseField(name)
		if err != nil {
			continue
		}
		if s, ok := v.(string); ok {
			rec.Set(f, s)
		}
	}
	return rec
}

// score opens the candidates, runs the matcher over them, queues the pairs it reports and
// merges those from the merge threshold up.
func (s *Service) score(ctx context.Context, refreshed int64) (Result, error) {
	res := Result{Refreshed: refreshed}
	ids, err := s.store.CandidateIDs(ctx)
	if err != nil {
		return res, err
	}
	res.Candidates = len(ids)
	var records []match.Record
	for start := 0; start < len(ids); start += loadBatch {
		recs, err := s.vault.Records(ctx, ids[start:min(start+loadBatch, len(ids))])
		if err != nil {
			return res, err
		}
		for _, r := range recs {
			values, err := s.open(ctx, r)
			if s.vault.Skip(ctx, r.ID, err) {
				continue
			}
			if err != nil {
				return res, err
			}
			records = append(records, toMatch(r.ID, values))
		}
	}
	var pairs []match.Pair
	if len(records) >= 2 {
		cfg := match.DefaultConfig()
		cfg.ReviewThreshold, cfg.MergeThreshold, cfg.DefaultRegion = s.config.ReviewThreshold, min(s.config.MergeThreshold, 0.999999), s.config.DefaultRegion
		if cfg.Terms, err = s.loadTerms(ctx); err != nil {
			return res, err
		}
		out, err := match.Run(ctx, records, cfg)
		if err != nil && !errors.Is(err, match.ErrTooFewRecords) {
			return res, fmt.Errorf("matching: %w", err)
		}
		if out != nil {
			pairs = out.Pairs
		}
	}
	known, err := s.store.PairStates(ctx)
	if err != nil {
		return res, err
	}
	now := s.now()
	var save []Pair
	for _, mp := range pairs {
		a, b := records[mp.A].ID, records[mp.B].ID
		if b < a {
			a, b = b, a
		}
		res.Pairs++
		state, seen := known[pairKey(a, b)]
		if seen && state != Pending {
			res.Skipped++
			continue
		}
		if !seen {
			res.New++
		}
		save = append(save, Pair{ID: ident.New(), CustomerA: a, CustomerB: b, Score: mp.Probability, Weight: round2(mp.Weight),
			Decision: string(mp.Decision), Evidence: evidenceOf(mp.Evidence), State: Pending, CreatedAt: now, UpdatedAt: now})
	}
	e := audit.New(ctx, ActionScan, "", nil, "")
	e.Target = fmt.Sprintf("refreshed:%d candidates:%d pairs:%d new:%d", res.Refreshed, res.Candidates, res.Pairs, res.New)
	stored, err := s.store.SavePending(ctx, save, []audit.Entry{e})
	if err != nil {
		return res, err
	}
	res.Pending = len(stored)
	if s.config.MergeThreshold >= 1 {
		return res, nil
	}
	for _, p := range stored {
		if p.Score < s.config.MergeThreshold {
			continue
		}
		if _, _, err := s.merge(ctx, p.ID, true); err != nil {
			// Another merge in this run may have folded one of them already (the pair is
			// then gone, or no longer mergeable and left for a person): the safe outcome.
			if problem.Is(err, problem.NotFound) {
				res.Pending-- // went with the merge of its loser
				continue
			}
			if problem.Is(err, problem.Conflict) {
				continue
			}
			return res, err
		}
		res.AutoMerged++
		res.Pending--
	}
	return res, nil
}
