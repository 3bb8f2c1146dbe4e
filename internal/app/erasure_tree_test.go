package app

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/retention"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/sqlite"
	"github.com/stewardhq/steward/internal/store/storetest"
)

// Values of the two visitors of the merge-tree tests, each of which appears only in what the
// tracking API was sent about that visitor.
var treeCanaries = []string{
	"zqtree-anon-one", "ZqTreeAgentOne/7.1", "zqtreeurlone", "198.51.100.201",
	"zqtree-anon-two", "ZqTreeAgentTwo/8.2", "zqtreeurltwo", "203.0.113.202",
	"zqtree-user", "zqtree.person@example.com", "Zqtreefirst",
}

// treeRows counts the rows naming any of ids in every table that holds customer rows or
// merges, so an erasure can be held to leaving none.
func (e *env) treeRows(ids ...string) map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for table, cond := range map[string]string{
		"customers":       "id = $1",
		"events":          "customer_id = $1",
		"identities":      "customer_id = $1",
		"blind_index":     "customer_id = $1",
		"customer_links":  "customer_id = $1 OR merged_into = $1",
		"customer_merges": "winner_id = $1 OR loser_id = $1",
		"match_keys":      "customer_id = $1",
		"match_terms":     "customer_id = $1",
		"search_lists":    "customer_id = $1",
		"duplicates":      "customer_id = $1 OR other_id = $1",
	} {
		for _, id := range ids {
			var n int
			if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE `+cond, id).Scan(&n); err != nil {
				e.t.Fatalf("count %s: %v", table, err)
			}
			out[table] += n
		}
	}
	// search_tokens holds customers' list numbers in blocks: any left behind by an erasure is
	// a number no list has.
	_, out["search_tokens"], _ = storetest.Indexed(e.t, e.app.Store, "")
	return out
}

// erasedWhole holds the erasure of winner and loser to what an erasure of a merge tree must
// leave: no row naming either, both answering 410, each in the erasure ledger (the database's
// and the file) with its own report, the loser's naming the winner.
func (e *env) erasedWhole(winner, loser string) {
	e.t.Helper()
	for table, n := range e.treeRows(winner, loser) {
		if n != 0 {
			e.t.Errorf("%d %s rows of the erased tree left", n, table)
		}
	}
	for _, id := range []string{winner, loser} {
		if code, body := e.do(call{method: "GET", path: "/v1/customers/" + id, role: "support"}); code != 410 {
			e.t.Errorf("GET %s: got %d %s, want 410", id, code, body)
		}
		var n int
		if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM erasure_ledger WHERE customer_id = $1 AND state = 'erased'`, id).Scan(&n); err != nil || n != 1 {
			e.t.Errorf("erasure ledger rows of %s: %d %v", id, n, err)
		}
	}
	code, body := e.do(call{method: "GET", path: "/v1/erasures/" + loser, role: "dpo"})
	if code != 200 || !strings.Contains(body, `"erased_with":"`+winner+`"`) || !strings.Contains(body, `"key_shredded":true`) {
		e.t.Errorf("loser's erasure report: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/erasures/" + winner, role: "dpo"})
	if code != 200 || !strings.Contains(body, `"merged":[{"customer_id":"`+loser+`"`) {
		e.t.Errorf("winner's erasure report: got %d %s", code, body)
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "erasure-ledger.jsonl"))
	if err != nil || !bytes.Contains(b, []byte(winner)) || !bytes.Contains(b, []byte(loser)) {
		e.t.Errorf("ledger file lacks the tree: %v", err)
	}
}

// noCanaries looks for every canary in every file of the SQLite data directory.
func (e *env) noCanaries(canaries []string) {
	e.t.Helper()
	if err := sqlite.Checkpoint(context.Background(), e.app.Store); err != nil {
		e.t.Fatal(err)
	}
	err := filepath.WalkDir(e.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, c := range canaries {
			if bytes.Contains(bytes.ToLower(b), bytes.ToLower([]byte(c))) {
				e.t.Errorf("%s holds %q after the erasure", filepath.Base(path), c)
			}
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// stitchedPair has two anonymous visitors, each with events carrying an address, a user agent
// and a URL, joined by one userId, and returns the customer that won the merge and the one
// merged into it.
func (e *env) stitchedPair() (winner, loser string) {
	t := e.t
	t.Helper()
	e.mustTrack("/v1/batch", `{"batch":[
	  {"type":"page","messageId":"t1","anonymousId":"zqtree-anon-one","name":"Home","context":{"ip":"198.51.100.201","userAgent":"ZqTreeAgentOne/7.1","page":{"url":"https://shop.example/p?q=zqtreeurlone"}}},
	  {"type":"track","messageId":"t2","anonymousId":"zqtree-anon-one","event":"Product Viewed","properties":{"product_id":"p1"},"context":{"ip":"198.51.100.201","userAgent":"ZqTreeAgentOne/7.1"}},
	  {"type":"page","messageId":"t3","anonymousId":"zqtree-anon-two","name":"Home","context":{"ip":"203.0.113.202","userAgent":"ZqTreeAgentTwo/8.2","page":{"url":"https://shop.example/p?q=zqtreeurltwo"}}},
	  {"type":"track","messageId":"t4","anonymousId":"zqtree-anon-two","event":"Product Viewed","properties":{"product_id":"p2"},"context":{"ip":"203.0.113.202","userAgent":"ZqTreeAgentTwo/8.2"}}
	]}`)
	e.mustTrack("/v1/identify", `{"messageId":"t5","userId":"zqtree-user","anonymousId":"zqtree-anon-one","traits":{"email":"zqtree.person@example.com","firstName":"Zqtreefirst"}}`)
	e.mustTrack("/v1/track", `{"messageId":"t6","event":"Cart Viewed","userId":"zqtree-user","anonymousId":"zqtree-anon-two"}`)
	winner = e.customerOf("zqtree.person@example.com")
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + winner + "/merges", role: "owner"})
	var ms struct {
		Data []struct {
			WinnerID string `json:"winner_id"`
			LoserID  string `json:"loser_id"`
		}
	}
	_ = json.Unmarshal([]byte(body), &ms)
	if code != 200 || len(ms.Data) != 1 || ms.Data[0].WinnerID != winner {
		t.Fatalf("merges: got %d %s", code, body)
	}
	loser = ms.Data[0].LoserID
	if n := e.treeRows(loser); n["events"] == 0 || n["identities"] == 0 || n["customer_links"] != 1 {
		t.Fatalf("the merged-in visitor has no rows of its own before the erasure: %v", n)
	}

	return winner, loser
}

func TestErasureCoversStitchedTree(t *testing.T) { erasureCoversStitchedTree(t, "") }

func TestErasureCoversStitchedTreePostgres(t *testing.T) {
	erasureCoversStitchedTree(t, pgtest.URL(t))
}

// erasureCoversStitchedTree: two anonymous visitors, each with events carrying an address,
// a user agent and a URL, are joined by one userId; erasing the customer that won the merge
// erases the merged-in visitor too: profile, events, identifiers, blind index, ledger entry.
func erasureCoversStitchedTree(t *testing.T, db string) {
	e := newEnv(t, db)
	winner, loser := e.stitchedPair()

	rid := e.request(`{"type":"erasure","customer_id":"` + winner + `"}`)
	code, body := e.verifyAndComplete(rid, "")
	if code != 200 || !strings.Contains(body, `"complete":true`) {
		t.Fatalf("complete: got %d %s", code, body)
	}
	e.erasedWhole(winner, loser)
	if !strings.Contains(body, `"merged":[{"customer_id":"`+loser+`"`) {
		t.Errorf("the request's report does not list the merged-in customer: %s", body)
	}
	// The anonymous id of either visitor starts a new, empty customer.
	e.mustTrack("/v1/track", `{"messageId":"t7","event":"Product Viewed","anonymousId":"zqtree-anon-two","properties":{"product_id":"p3"}}`)
	for table, n := range e.treeRows(winner, loser) {
		if n != 0 {
			t.Errorf("new traffic brought back %d %s rows of the erased tree", n, table)
		}
	}
	if db == "" {
		e.noCanaries(treeCanaries)
	}
}

func TestErasureCoversReviewedMerge(t *testing.T) { erasureCoversReviewedMerge(t, "") }

func TestErasureCoversReviewedMergePostgres(t *testing.T) {
	erasureCoversReviewedMerge(t, pgtest.URL(t))
}

// erasureCoversReviewedMerge: a duplicate pair merged through the review queue is one person;
// an erasure asked for by the merged-in record's id erases the customer it was merged into,
// and with it the merged-in one.
func erasureCoversReviewedMerge(t *testing.T, db string) {
	e := newEnv(t, db, reviewOnly)
	e.population(120)
	older := e.create(`{"first_name":"Margaret","last_name":"Zqthornbury","birth_date":"1971-05-14","email":"m.zqthornbury@example.net","address_line1":"14 Orchard Close","city":"Ipswich","postal_code":"IP1 3QT"}`)
	newer := e.create(`{"first_name":"Peggy","last_name":"Zqthornbury","birth_date":"1971-05-14","email":"peggy.zqthornbury@example.org","phone":"+44 7400 123123","address_line1":"14 Orchard Close","address_line2":"Flat 2","city":"Ipswich","postal_code":"IP1 3QT"}`)
	e.scan()
	p := pairOf(e.duplicates("pending"), older, newer)
	if p == nil {
		t.Fatal("the pair was not proposed")
	}
	code, body := e.do(call{method: "POST", path: "/v1/duplicates/" + p.ID + "/merge", role: "admin"})
	if code != 200 {
		t.Fatalf("merge: got %d %s", code, body)
	}
	var m struct{ Duplicate pairView }
	_ = json.Unmarshal([]byte(body), &m)
	winner, loser := m.Duplicate.WinnerID, older
	if loser == winner {
		loser = newer
	}
	if winner == "" || e.treeRows(loser)["customer_links"] != 1 {
		t.Fatalf("merge: got %s", body)
	}
	rid := e.request(`{"type":"erasure","customer_id":"` + loser + `"}`)
	code, body = e.verifyAndComplete(rid, "")
	if code != 200 || !strings.Contains(body, `"complete":true`) {
		t.Fatalf("complete: got %d %s", code, body)
	}
	e.erasedWhole(winner, loser)
	if !strings.Contains(body, `"result":{"customer_id":"`+winner+`"`) || !strings.Contains(body, `"merged":[{"customer_id":"`+loser+`"`) {
		t.Errorf("the request's report is not the whole tree's: %s", body)
	}
	for _, addr := range []string{"m.zqthornbury@example.net", "peggy.zqthornbury@example.org"} {
		if _, body := e.do(call{method: "GET", path: "/v1/suppression?email=" + addr, role: "support"}); !strings.Contains(body, `"suppressed":true`) {
			t.Errorf("%s not suppressed: %s", addr, body)
		}
	}
	if db == "" {
		e.noCanaries([]string{"zqthornbury", "Orchard Close", "7400123123"})
	}
}

func TestRestoreReplaysMergeTree(t *testing.T) { restoreReplaysMergeTree(t, "") }

func TestRestoreReplaysMergeTreePostgres(t *testing.T) { restoreReplaysMergeTree(t, pgtest.URL(t)) }

// restoreReplaysMergeTree: a backup taken after the merge and before the erasure, restored,
// brings back neither the winner nor the merged-in visitor, nor any row of theirs.
func restoreReplaysMergeTree(t *testing.T, db string) {
	e := newEnv(t, db)
	ctx := context.Background()
	winner, loser := e.stitchedPair()
	keep := e.create(`{"email":"alan@example.com","first_name":"Alan"}`)
	old := filepath.Join(t.TempDir(), "before-erasure.stwbak")
	if _, err := e.app.Backup(ctx, old); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Rights.Erase(authz.WithActor(ctx, authz.System), winner, "", "test"); err != nil {
		t.Fatal(err)
	}
	e.srv.Close()
	e.app.Close()
	cfg := config.Default()
	cfg.Data, cfg.DB = e.dir, config.Secret(db)
	rep, err := Restore(ctx, cfg, old, nil)
	if err != nil || rep.Replayed != 2 {
		t.Fatalf("restore: %d replayed, %v; want 2", rep.Replayed, err)
	}
	if got := erasedIn(t, cfg, winner, loser, keep); !got[0] || !got[1] || got[2] {
		t.Fatalf("erased after the restore %v, want [true true false]", got)
	}
	a, err := Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, table := range []string{"events", "identities", "blind_index"} {
		var n int
		if err := a.Store.Write().QueryRow(`SELECT COUNT(*) FROM `+table+` WHERE customer_id IN ($1, $2)`, winner, loser).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s rows of the erased tree after the restore: %d %v", table, n, err)
		}
	}
}

// TestRetentionHoldsMergedTree: a legal hold on a customer merged into an inactive one holds
// the whole person: the retention run counts both as held and goes on, erasing nothing of
// them. Without the hold, the tree is erased once, through its top.
func TestRetentionHoldsMergedTree(t *testing.T) {
	e := newEnv(t, "")
	ctx := authz.WithActor(context.Background(), authz.System)
	winner, loser := e.stitchedPair()
	if _, err := e.app.Rights.SetHold(ctx, loser, "litigation"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.Rights.Erase(ctx, winner, "", "test"); !problem.Is(err, problem.Conflict) {
		t.Fatalf("erasing a tree with a held customer: got %v, want Conflict", err)
	}
	inactive, _ := catalog.ParseRetention("1y")
	r, err := retention.New(retention.Deps{Vault: e.app.Vault, Rights: e.app.Rights, Catalog: e.app.Catalog, Audit: e.app.Store.Audit(),
		Clock: e.clock.Now}, inactive)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Set(400 * 24 * time.Hour)
	run, err := r.Run(ctx)
	if err != nil || run.Erase != 0 || run.Held != 2 {
		t.Fatalf("inactive run: %+v %v", run, err)
	}
	for table, n := range e.treeRows(winner, loser) {
		if n == 0 && (table == "customers" || table == "events" || table == "identities") {
			t.Errorf("held tree lost its %s rows", table)
		}
	}
	if err := e.app.Rights.ReleaseHold(ctx, loser); err != nil {
		t.Fatal(err)
	}
	if run, err = r.Run(ctx); err != nil || run.Erase != 1 || run.Held != 0 {
		t.Fatalf("inactive run without the hold: %+v %v", run, err)
	}
	e.erasedWhole(winner, loser)
}
