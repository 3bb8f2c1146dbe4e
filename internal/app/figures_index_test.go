package app

import (
	"fmt"
	"strings"
	"testing"
)

func TestFiguresKeepIndexesSQLite(t *testing.T)   { figuresKeepIndexes(t, "sqlite") }
func TestFiguresKeepIndexesPostgres(t *testing.T) { figuresKeepIndexes(t, "postgres") }

// figuresKeepIndexes: an order that only moves a customer's figures stores the new version
// without touching the customer's blind-index entries or search list (the same entries, on
// PostgreSQL written by the same transaction as before; the same list under the same
// number), while a change of the e-mail replaces both, and the customer is then found by the
// new address alone.
func figuresKeepIndexes(t *testing.T, engine string) {
	e := newEnv(t, engineURL(t, engine))
	id := e.identified("keep")
	db := e.app.Store.Write()
	state := func() (version int64, index, list string) {
		t.Helper()
		if err := db.QueryRow(`SELECT version FROM customers WHERE id = $1`, id).Scan(&version); err != nil {
			t.Fatal(err)
		}
		// On PostgreSQL a row's xmin names the transaction that wrote it: a row deleted and
		// inserted again, even with the same values, has a new one.
		written := "''"
		if engine == "postgres" {
			written = "xmin::text"
		}
		rows, err := db.Query(`SELECT field, token, `+written+` FROM blind_index WHERE customer_id = $1 ORDER BY field, token`, id)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for rows.Next() {
			var field, by string
			var token int64
			if err := rows.Scan(&field, &token, &by); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s=%d@%s;", field, token, by)
		}
		rows.Close()
		var num int64
		var tokens string
		if err := db.QueryRow(`SELECT num, tokens FROM search_lists WHERE customer_id = $1`, id).Scan(&num, &tokens); err != nil {
			t.Fatal(err)
		}
		return version, b.String(), fmt.Sprintf("%d:%s", num, tokens)
	}
	v0, index0, list0 := state()
	if !strings.Contains(index0, "email=") {
		t.Fatalf("no e-mail entry in the blind index: %q", index0)
	}
	e.mustTrack("/v1/track", `{"type":"track","event":"Order Completed","messageId":"keep-o1","userId":"keep","properties":{"order_id":"keep-o1","total":42,"currency":"EUR"}}`)
	if got := e.figures(id)["lifetime_value"]; got != "42" {
		t.Fatalf("lifetime value %q after the order, want 42", got)
	}
	v1, index1, list1 := state()
	if v1 <= v0 || index1 != index0 || list1 != list0 {
		t.Fatalf("after an order: version %d→%d, index %q→%q, list %q→%q; want a new version and the same index and list", v0, v1, index0, index1, list0, list1)
	}
	e.mustTrack("/v1/identify", `{"type":"identify","messageId":"keep-new-mail","userId":"keep","traits":{"email":"kept.elsewhere@example.org"}}`)
	_, index2, list2 := state()
	if index2 == index1 || list2 == list1 {
		t.Fatalf("after a new e-mail the index (%q) or the search list (%q) is as before", index2, list2)
	}
	if got := e.customerOf("kept.elsewhere@example.org"); got != id {
		t.Fatalf("the new address finds %q, want %s", got, id)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/customers?email=keep@example.com", role: "owner"}); code != 200 || strings.Contains(body, id) {
		t.Fatalf("the old address: got %d %s, want no match", code, body)
	}
}
