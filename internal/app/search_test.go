package app

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/httpapi/apitest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/search"
	"github.com/stewardhq/steward/internal/store/pgtest"
	"github.com/stewardhq/steward/internal/store/storetest"
)

// The people the search scenarios look for: what a support agent types must find them
// however it is typed, and the answers must never show their values in clear.
const (
	janeSmith  = `{"first_name":"Jane","last_name":"Smith","city":"Leeds","postal_code":"LS1 4AB","country":"GB","email":"jane.smith@example.com","phone":"+44 7911 123456","customer_number":"C-1042","loyalty_tier":"gold"}`
	billTurner = `{"first_name":"William","last_name":"Turner","city":"Manchester","postal_code":"M1 1AE","country":"GB","email":"w.turner@mail.example","phone":"+44 7911 234567"}`
	zoeAdams   = `{"first_name":"Zoë","last_name":"Adams","city":"Zürich","country":"CH","email":"zoe@adams.example"}`
	johnSmyth  = `{"first_name":"John","last_name":"Smyth","city":"York","country":"GB","email":"john@smyth.example","loyalty_tier":"silver"}`
)

// searchFor runs a search as support and returns the ids found, best first.
func (e *env) searchFor(query string) []string {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/search?q=" + url.QueryEscape(query), role: "support"})
	if code != 200 {
		e.t.Fatalf("search %q: got %d %s", query, code, body)
	}
	var out struct {
		Data []struct {
			ID      string   `json:"id"`
			Score   float64  `json:"score"`
			Matched []string `json:"matched"`
		}
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		e.t.Fatal(err)
	}
	ids := make([]string, len(out.Data))
	for i, d := range out.Data {
		ids[i] = d.ID
	}
	return ids
}

// searchTokens counts the search tokens stored for a customer, in the index and in its list,
// and any row of the index left without its list (a customer erased but not its tokens).
func (e *env) searchTokens(id string) int {
	e.t.Helper()
	var n int
	if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM search_lists WHERE customer_id = $1`, id).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	held, orphans, _ := storetest.Indexed(e.t, e.app.Store, id)
	return n + held + orphans
}

func TestSearch(t *testing.T)         { searchScenarios(t, "") }
func TestSearchPostgres(t *testing.T) { searchScenarios(t, pgtest.URL(t)) }

func searchScenarios(t *testing.T, db string) {
	e := newEnv(t, db)
	jane, bill, zoe, john := e.create(janeSmith), e.create(billTurner), e.create(zoeAdams), e.create(johnSmyth)

	t.Run("finds", func(t *testing.T) {
		for _, c := range []struct {
			query string
			want  string
		}{
			{"jane smith", jane},
			{"Smith Jane", jane},
			{"JANE SMITH LEEDS", jane},
			{"jnae smiht", jane},       // transpositions
			{"jane smth", jane},        // a missing letter
			{"jane smyth leeds", jane}, // a typo
			{"bill turner", bill},      // a nickname
			{"turner billy", bill},     // any order
			{"zoe adams", zoe},         // diacritics
			{"adams zurich", zoe},      // a name and a town
			{"smith ls1 4ab", jane},    // postal code with the space
			{"smith LS14AB", jane},     // and without
			{"jane.smith@example.com", jane},
			{"jane.smith@", jane},          // the local part
			{"jane.sm@", jane},             // its beginning
			{"@adams.example", zoe},        // the domain
			{"07911 123456", jane},         // a national number
			{"+44 (0) 7911-123-456", jane}, // any format
			{"3456", jane},                 // the last digits
			{"234567", bill},
			{"C-1042", jane}, // a customer number
			{"c1042", jane},
			{"smyth", john},
		} {
			got := e.searchFor(c.query)
			if len(got) == 0 || got[0] != c.want {
				t.Errorf("%q: got %v, want %s first", c.query, got, c.want)
			}
		}
		if got := e.searchFor("smith"); len(got) < 2 || got[0] != jane || !slices.Contains(got, john) {
			t.Errorf("smith: got %v, want Smith first and Smyth after", got)
		}
		if got := e.searchFor("qqqzzzx"); len(got) != 0 {
			t.Errorf("nonsense found %v", got)
		}
	})

	t.Run("filters", func(t *testing.T) {
		for _, c := range []struct {
			params string
			want   []string
		}{
			{"q=smith&country=GB", []string{jane, john}},
			{"q=smith&country=CH", nil},
			{"q=smith&loyalty_tier=silver", []string{john}},
			{"q=smith&created_after=2000-01-01T00:00:00Z", []string{jane, john}},
			{"q=smith&created_before=2000-01-01T00:00:00Z", nil},
			{"q=smith&contact_status=valid&limit=1", []string{jane}},
		} {
			code, body := e.do(call{method: "GET", path: "/v1/customers/search?" + c.params, role: "support"})
			var out struct{ Data []struct{ ID string } }
			_ = json.Unmarshal([]byte(body), &out)
			var got []string
			for _, d := range out.Data {
				got = append(got, d.ID)
			}
			if code != 200 || !slices.Equal(got, c.want) {
				t.Errorf("%s: got %d %v, want %v", c.params, code, got, c.want)
			}
		}
	})

	t.Run("masked, permitted and audited", func(t *testing.T) {
		long := strings.Repeat("a", 201)
		e.runner(jane).Run(t, []apitest.Scenario{
			{Name: "support sees masked values", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane+smith+leeds", Role: "support"},
				Status: 200, Want: []string{jane, `"score":1`, `"matched":["city","first_name","last_name"]`, `"J***"`},
				NotWant: []string{"Smith", "jane.smith@example.com", "7911 123456", "LS1 4AB"}, Audit: []string{"customer.search:support:"}},
			{Name: "marketer may list, so may search", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane", Role: "marketer"},
				Status: 200, Want: []string{jane}, Audit: []string{"customer.search:marketer:"}},
			{Name: "write-only keys may not", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane", Role: "ingest"}, Status: 403},
			{Name: "a purpose is refused", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane", Role: "support", Purpose: "support"},
				Status: 422, Want: []string{"Steward-Purpose"}},
			{Name: "no query", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search", Role: "support"}, Status: 422, Want: []string{`"q`, "empty"}},
			{Name: "blank query", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=+++", Role: "support"}, Status: 422, Want: []string{"empty"}},
			{Name: "too long", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=" + long, Role: "support"}, Status: 422, Want: []string{"too long"}},
			{Name: "limit zero", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane&limit=0", Role: "support"}, Status: 422, Want: []string{"limit"}},
			{Name: "limit too big", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane&limit=51", Role: "support"}, Status: 422, Want: []string{"limit"}},
			{Name: "limit not a number", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane&limit=ten", Role: "support"}, Status: 422, Want: []string{"limit"}},
			{Name: "unknown filter", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane&first_name=jane", Role: "support"}, Status: 422, Want: []string{"first_name"}},
			{Name: "bad country", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane&country=Atlantis", Role: "support"}, Status: 422, Want: []string{"country"}},
			{Name: "bad contact status", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane&contact_status=happy", Role: "support"}, Status: 422, Want: []string{"contact_status"}},
			{Name: "bad time", Request: apitest.Request{Method: "GET", Path: "/v1/customers/search?q=jane&created_after=yesterday", Role: "support"}, Status: 422, Want: []string{"created_after"}},
		})
		// The search itself is recorded with the kinds of token used and the result count,
		// never with what was typed.
		entries, err := e.app.Store.Audit().ListAudit(context.Background(), audit.Filter{Action: audit.ActionCustomerSearch, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var summary *audit.Entry
		for i, en := range entries {
			if en.CustomerID == "" && en.ActorRole == "support" && strings.HasPrefix(en.Target, "results:") && summary == nil {
				summary = &entries[i]
			}
			said := strings.ToLower(strings.Join(append(en.Fields, en.Target, en.Purpose), " "))
			for _, typed := range []string{"jane", "smith", "leeds", "3456", "1042"} {
				if strings.Contains(said, typed) {
					t.Errorf("an audit entry holds what was typed (%q): %+v", typed, en)
				}
			}
		}
		if summary == nil || len(summary.Fields) == 0 {
			t.Fatalf("no search entry with the kinds of token used: %+v", entries)
		}
		kinds := []string{"order_number"}
		for _, k := range search.Kinds() {
			kinds = append(kinds, k.String())
		}
		for _, k := range summary.Fields {
			if !slices.Contains(kinds, k) {
				t.Errorf("search entry names %q, not a token kind", k)
			}
		}
	})

	t.Run("every write path keeps the tokens", func(t *testing.T) {
		// An update: the new town is found, the old one no longer.
		if code, body := e.do(call{method: "PATCH", path: "/v1/customers/" + zoe, role: "owner", body: `{"fields":{"city":"Geneva","last_name":"Adamson"}}`}); code != 200 {
			t.Fatalf("patch: got %d %s", code, body)
		}
		if got := e.searchFor("zoe adamson geneva"); len(got) == 0 || got[0] != zoe {
			t.Errorf("after the change: got %v, want %s", got, zoe)
		}
		if got := e.searchFor("zurich"); slices.Contains(got, zoe) {
			t.Errorf("the old town still finds the customer: %v", got)
		}
		// Tracking: a visitor identified with a name.
		e.mustTrack("/v1/identify", `{"messageId":"s1","userId":"srch-user","traits":{"email":"grace.hopper@navy.example","firstName":"Grace","lastName":"Hopper","address":{"city":"Arlington"}}}`)
		grace := e.customerOf("grace.hopper@navy.example")
		if got := e.searchFor("grace hoper"); len(got) == 0 || got[0] != grace {
			t.Errorf("identified visitor: got %v, want %s", got, grace)
		}
		// An import.
		code, body := e.upload("owner", url.Values{"map": {"email=email", "first=first_name", "last=last_name", "town=city"}},
			"email,first,last,town\nalan.turing@bletchley.example,Alan,Turing,Wilmslow\n")
		if code != 202 {
			t.Fatalf("upload: got %d %s", code, body)
		}
		e.runJobs()
		alan := e.customerOf("alan.turing@bletchley.example")
		if got := e.searchFor("turing wilmslow"); len(got) == 0 || got[0] != alan {
			t.Errorf("imported: got %v, want %s", got, alan)
		}
	})

	t.Run("merged customers answer through the winner", func(t *testing.T) {
		winner, loser := e.stitchedPair()
		got := e.searchFor("zqtreefirst")
		if len(got) != 1 || got[0] != winner || e.searchTokens(winner) == 0 {
			t.Errorf("got %v, want only the winner %s (not %s)", got, winner, loser)
		}
	})

	t.Run("erasure leaves no token", func(t *testing.T) {
		// Moved into the index first, as a server's maintenance does.
		if _, err := e.app.Store.Customers().MergeSearch(context.Background()); err != nil {
			t.Fatal(err)
		}
		if e.searchTokens(jane) < 2 {
			t.Fatal("no tokens before the erasure")
		}
		rid := e.request(`{"type":"erasure","customer_id":"` + jane + `"}`)
		if code, body := e.verifyAndComplete(rid, ""); code != 200 {
			t.Fatalf("erasure: got %d %s", code, body)
		}
		if n := e.searchTokens(jane); n != 0 {
			t.Errorf("%d search tokens of the erased customer left", n)
		}
		if got := e.searchFor("jane smith leeds"); slices.Contains(got, jane) {
			t.Errorf("the erased customer is still found: %v", got)
		}
	})

	t.Run("reindex rebuilds the index", func(t *testing.T) {
		db := e.app.Store.Write()
		if _, err := db.Exec(`DELETE FROM search_tokens`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`DELETE FROM search_lists`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`UPDATE search_state SET built = 0`); err != nil {
			t.Fatal(err)
		}
		if got := e.searchFor("bill turner"); len(got) != 0 {
			t.Fatalf("found without tokens: %v", got)
		}
		// An upgraded database: the start queues the job, the runner builds the index.
		if err := e.app.queueReindex(context.Background()); err != nil {
			t.Fatal(err)
		}
		jobs, err := e.app.Store.Jobs().ListJobs(context.Background(), 10)
		if err != nil || len(jobs) == 0 || jobs[0].Kind != SearchReindexJob || jobs[0].State != job.Queued {
			t.Fatalf("no reindex job queued: %+v %v", jobs, err)
		}
		e.runJobs()
		if got := e.searchFor("bill turner"); len(got) == 0 || got[0] != bill {
			t.Errorf("after the reindex: got %v, want %s", got, bill)
		}
		if built, err := e.app.Vault.SearchIndexBuilt(context.Background()); err != nil || !built {
			t.Errorf("index not marked built: %v %v", built, err)
		}
		// Asked again on a built index, the start queues nothing.
		sys := authz.WithActor(context.Background(), authz.System)
		if err := e.app.queueReindex(sys); err != nil {
			t.Fatal(err)
		}
		if jobs, _ := e.app.Store.Jobs().ListJobs(context.Background(), 10); jobs[0].State != job.Done {
			t.Errorf("a built index queued another reindex: %+v", jobs[0])
		}
	})
}
