package search_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/match"
	"github.com/stewardhq/steward/internal/search"
)

// Search quality through the whole service on SQLite: the Febrl originals are created as
// customers (sealed, with their search tokens), each duplicate's name and suburb is searched
// for as a support agent would, and the original must come back. The baseline is what a plain
// SQLite FTS5 trigram index over the same values in clear finds for the same queries.

// febrlFiles are the labelled sets measured.
var febrlFiles = []string{"dataset1.csv", "dataset2.csv"}

// serviceSearch loads orgs into a new Steward and returns a search through its service that
// answers with record ids.
func serviceSearch(t testing.TB, orgs map[string]map[string]any) func(q string, n int) []string {
	t.Helper()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	if _, err := app.Init(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	recs := make([]string, 0, len(orgs))
	for id := range orgs {
		recs = append(recs, id)
	}
	sort.Strings(recs)
	sys := authz.WithActor(ctx, authz.System)
	rec := map[string]string{}
	for from := 0; from < len(recs); from += 1000 {
		part := recs[from:min(from+1000, len(recs))]
		batch := make([]map[string]any, len(part))
		for i, id := range part {
			batch[i] = map[string]any{}
			for k, v := range orgs[id] {
				if v != "" {
					batch[i][k] = v
				}
			}
		}
		ids, err := a.Customers.CreateBatch(sys, batch)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range ids {
			rec[id] = part[i]
		}
	}
	support := authz.WithActor(ctx, authz.Actor{ID: "quality", Role: "support"})
	return func(q string, n int) []string {
		res, err := a.Customers.Search(support, q, customer.SearchFilter{}, n, "")
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		out := make([]string, len(res))
		for i, r := range res {
			out[i] = rec[r.ID]
		}
		return out
	}
}

// ftsSearch is the baseline: the same values in clear in an SQLite FTS5 table with the trigram
// tokenizer, queried with the trigrams of every word typed (OR), ranked by BM25.
func ftsSearch(t testing.TB, orgs map[string]map[string]any) func(q string, n int) []string {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "fts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`CREATE VIRTUAL TABLE people USING fts5(rec UNINDEXED, body, tokenize = 'trigram')`); err != nil {
		t.Fatalf("FTS5 trigram: %v", err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for id, v := range orgs {
		body := strings.Join([]string{v["first_name"].(string), v["last_name"].(string), v["city"].(string), v["postal_code"].(string)}, " ")
		if _, err := tx.Exec(`INSERT INTO people (rec, body) VALUES (?, ?)`, id, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return func(q string, n int) []string {
		var grams []string
		for _, w := range strings.Fields(match.FoldText(q)) {
			for i := 0; i+3 <= len(w); i++ {
				grams = append(grams, `"`+w[i:i+3]+`"`)
			}
		}
		if len(grams) == 0 {
			return nil
		}
		rows, err := db.Query(`SELECT rec FROM people WHERE people MATCH ? ORDER BY rank LIMIT ?`, strings.Join(grams, " OR "), n)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			out = append(out, id)
		}
		return out
	}
}

func TestSearchQualityThroughService(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the Febrl sets into Steward")
	}
	for _, file := range febrlFiles {
		orgs, cases := search.FebrlSet(t, file)
		r := search.MeasureRecall(cases, serviceSearch(t, orgs))
		t.Logf("%s: recall@1 %.3f, recall@10 %.3f, MRR %.3f", file, r.At1, r.At10, r.MRR)
		if r.At1 < 0.85 || r.At10 < 0.95 {
			t.Errorf("%s: recall@1 %.3f, recall@10 %.3f; want at least 0.85 and 0.95", file, r.At1, r.At10)
		}
	}
}

// BenchmarkSearchQuality reports recall@1, recall@10 and mean reciprocal rank over every
// labelled query of both Febrl sets, for Steward's search over encrypted profiles and for the
// FTS5 trigram baseline over clear text, measured in the same run; ratio is Steward's MRR over
// the baseline's.
func BenchmarkSearchQuality(b *testing.B) {
	var ours, base search.Recall
	queries := 0
	for range b.N {
		ours, base, queries = search.Recall{}, search.Recall{}, 0
		for _, file := range febrlFiles {
			orgs, cases := search.FebrlSet(b, file)
			o := search.MeasureRecall(cases, serviceSearch(b, orgs))
			f := search.MeasureRecall(cases, ftsSearch(b, orgs))
			n := float64(len(cases))
			ours.At1, ours.At10, ours.MRR = ours.At1+o.At1*n, ours.At10+o.At10*n, ours.MRR+o.MRR*n
			base.At1, base.At10, base.MRR = base.At1+f.At1*n, base.At10+f.At10*n, base.MRR+f.MRR*n
			queries += len(cases)
		}
	}
	n := float64(queries)
	b.ReportMetric(ours.At1/n, "recall@1")
	b.ReportMetric(ours.At10/n, "recall@10")
	b.ReportMetric(ours.MRR/n, "mrr")
	b.ReportMetric(base.At1/n, "fts_recall@1")
	b.ReportMetric(base.At10/n, "fts_recall@10")
	b.ReportMetric(base.MRR/n, "fts_mrr")
	b.ReportMetric(ours.MRR/base.MRR, "ratio")
	b.ReportMetric(n, "queries")
}
