package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/segment"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestOfferSegmentsSQLite(t *testing.T)   { offerSegments(t, "") }
func TestOfferSegmentsPostgres(t *testing.T) { offerSegments(t, pgtest.URL(t)) }

// offerSegments: an offer bound to a segment is shown to its members only, after the
// permission decision, stops being shown when a member leaves, and recommends from what the
// segment's own members bought together — or from everyone when the segment is too small.
func offerSegments(t *testing.T, db string) {
	e := newEnv(t, db)
	sys := authz.WithActor(context.Background(), authz.System)
	mustDo := e.mustDo
	// Scotland buys mugs with tea, Wales mugs with coffee, Cornwall (two people) mugs with
	// scones. The first of each region has not ordered, so nothing is left out of their
	// recommendations as already bought.
	people := map[string][]string{}
	for _, r := range []struct {
		region, with string
		n            int
	}{{"Scotland", "TEA", 12}, {"Wales", "COFFEE", 12}, {"Cornwall", "SCONE", 2}} {
		for i := range r.n {
			id := e.create(fmt.Sprintf(`{"email":"%s%d@example.com","region":"%s"}`, strings.ToLower(r.region), i, r.region))
			e.consentToAll(id)
			people[r.region] = append(people[r.region], id)
			if i == 0 {
				continue
			}
			mustDo(call{method: "POST", path: "/v1/orders", role: "ingest", body: fmt.Sprintf(`{"customer_id":"%s","order_id":"%s-%d","currency":"GBP","total":20,"items":[{"sku":"MUG","price":10,"quantity":1},{"sku":"%s","price":10,"quantity":1}]}`,
				id, r.region, i, r.with)}, 200)
		}
	}
	newSegment := func(name, purpose string) string {
		body := mustDo(call{method: "POST", path: "/v1/segments", role: "owner",
			body: `{"name":"` + name + `","purpose":"` + purpose + `","rule":{"field":"region","op":"eq","value":"` + name + `"}}`}, 201)
		var seg segment.Segment
		_ = json.Unmarshal([]byte(body), &seg)
		return seg.ID
	}
	scot, wales, corn := newSegment("Scotland", "personalization"), newSegment("Wales", "personalization"), newSegment("Cornwall", "personalization")
	counted := newSegment("Scotland", "analytics")
	e.runJobs()

	offerBody := func(code, seg string) string {
		return `{"code":"` + code + `","description":"Mugs for the segment","reward":{"kind":"percentage","value":10},"valid_from":"2020-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z","products":["MUG"],"eligibility":[{"kind":"segment","segment":"` + seg + `"}]}`
	}
	// A segment that does not exist, or one built for another purpose, is refused by name.
	if body := mustDo(call{method: "POST", path: "/v1/offers", role: "owner", body: offerBody("NOSEG", "01JNOSUCHSEGMENT")}, 422); !strings.Contains(body, `segment \"01JNOSUCHSEGMENT\" does not exist`) {
		t.Fatalf("unknown segment: %s", body)
	}
	if body := mustDo(call{method: "POST", path: "/v1/offers", role: "owner", body: offerBody("COUNTED", counted)}, 422); !strings.Contains(body, "built for purpose analytics") || !strings.Contains(body, counted) {
		t.Fatalf("analytics segment: %s", body)
	}
	mustDo(call{method: "POST", path: "/v1/offers", role: "owner", body: offerBody("SCOT", scot)}, 201)
	mustDo(call{method: "POST", path: "/v1/offers", role: "owner", body: offerBody("WALES", wales)}, 201)
	mustDo(call{method: "POST", path: "/v1/offers", role: "owner", body: offerBody("CORN", corn)}, 201)

	type decision struct {
		Offers []struct {
			Code            string
			Reasons         []string
			Recommendations []struct {
				ProductID string `json:"product_id"`
			}
		}
		Withheld []struct{ Code, Reason string }
	}
	offers := func(id string) (shown map[string]string, withheld map[string]string) {
		t.Helper()
		var d decision
		if err := json.Unmarshal([]byte(mustDo(call{method: "GET", path: "/v1/customers/" + id + "/offers", role: "owner"}, 200)), &d); err != nil {
			t.Fatal(err)
		}
		shown, withheld = map[string]string{}, map[string]string{}
		for _, o := range d.Offers {
			var recs []string
			for _, r := range o.Recommendations {
				recs = append(recs, r.ProductID)
			}
			shown[o.Code] = strings.Join(recs, ",")
			if !strings.Contains(strings.Join(o.Reasons, ";"), "member of segment") {
				t.Fatalf("%s shown without the segment as a reason: %v", o.Code, o.Reasons)
			}
		}
		for _, w := range d.Withheld {
			withheld[w.Code] = w.Reason
		}
		return shown, withheld
	}

	// A Scottish member sees the Scottish offer with what Scotland buys with mugs; the Welsh
	// offer is withheld, naming the segment.
	shown, withheld := offers(people["Scotland"][0])
	if recs, ok := shown["SCOT"]; !ok || recs != "TEA" || len(shown) != 1 {
		t.Fatalf("a Scottish member: shown %v, want SCOT recommending TEA", shown)
	}
	if withheld["WALES"] != "not a member of segment "+wales || withheld["CORN"] != "not a member of segment "+corn {
		t.Fatalf("a Scottish member: withheld %v", withheld)
	}
	// The Welsh offer recommends from Wales: the same product, other baskets.
	if shown, _ = offers(people["Wales"][0]); shown["WALES"] != "COFFEE" || len(shown) != 1 {
		t.Fatalf("a Welsh member: shown %v, want WALES recommending COFFEE", shown)
	}
	// Cornwall has one buyer, under the minimum: its offer recommends from everyone.
	if shown, _ = offers(people["Cornwall"][0]); shown["CORN"] != "COFFEE,TEA,SCONE" {
		t.Fatalf("a Cornish member: shown %v, want CORN recommending from everyone", shown)
	}

	// A member who withdraws consent to personalisation is not shown it, whatever the segment.
	mustDo(call{method: "POST", path: "/v1/customers/" + people["Scotland"][0] + "/consents", role: "owner",
		body: `{"purpose":"personalization","granted":false,"policy_version":"all","source":"api"}`}, 201)
	if shown, withheld = offers(people["Scotland"][0]); len(shown) != 0 || !strings.Contains(withheld["SCOT"], "not allowed for purpose personalization") {
		t.Fatalf("after withdrawing: shown %v, withheld %v", shown, withheld)
	}

	// A member who moves leaves the segment at the next cycle and stops seeing its offer.
	mover := people["Scotland"][2]
	if err := e.app.segmentCycle(sys); err != nil { // the change feed is followed from here on
		t.Fatal(err)
	}
	if shown, _ = offers(mover); !has(shown, "SCOT") {
		t.Fatalf("before moving: shown %v", shown)
	}
	mustDo(call{method: "PATCH", path: "/v1/customers/" + mover, role: "owner", body: `{"fields":{"region":"Wales"}}`}, 200)
	if err := e.app.segmentCycle(sys); err != nil {
		t.Fatal(err)
	}
	shown, withheld = offers(mover)
	if _, still := shown["SCOT"]; still || withheld["SCOT"] != "not a member of segment "+scot {
		t.Fatalf("after moving: shown %v, withheld %v", shown, withheld)
	}
	if !has(shown, "WALES") {
		t.Fatalf("after moving to Wales the Welsh offer is not shown: %v", shown)
	}
}

func has(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// mustDo sends c and fails the test unless it answers want; it returns the body.
func (e *env) mustDo(c call, want int) string {
	e.t.Helper()
	code, body := e.do(c)
	if code != want {
		e.t.Fatalf("%s %s: got %d %s, want %d", c.method, c.path, code, body, want)
	}
	return body
}
