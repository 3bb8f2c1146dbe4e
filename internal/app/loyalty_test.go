package app

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

func TestLoyaltyAtTheTillSQLite(t *testing.T)   { loyaltyAtTheTill(t, "") }
func TestLoyaltyAtTheTillPostgres(t *testing.T) { loyaltyAtTheTill(t, pgtest.URL(t)) }

// loyaltyAtTheTill is the programme end to end over HTTP: a till records an order for a
// customer found by phone, who earns points; another till redeems them while concurrent
// redemptions of the same points fail cleanly; a refund takes back the points it earned; the
// tier moves up and back down with the threshold; and an eligible, consenting customer is
// shown a personalised offer, with recommendations from consenting customers only, while a
// customer who withdrew (or whose request carries GPC) is not.
func loyaltyAtTheTill(t *testing.T, db string) {
	e := newEnv(t, db)
	e.addTill()
	e.publish(policyV1)
	ada := e.create(`{"email":"ada.member@example.com","phone":"+44 7911 123456"}`)
	bob := e.create(`{"email":"bob.member@example.com"}`)
	cy := e.create(`{"email":"cy.member@example.com"}`)
	dee := e.create(`{"email":"dee.member@example.com"}`)
	for _, id := range []string{ada, cy, dee} {
		e.consentToAll(id)
	}
	mustDo := e.mustDo
	// The till records an order by phone number: the customer is found, enrolled and earns.
	mustDo(call{method: "POST", path: "/v1/orders", role: "till", body: `{"phone":"07911 123456","order_id":"T-1","currency":"GBP","total":300,"items":[{"sku":"MUG","price":100,"quantity":3}]}`}, 200)
	var found struct {
		Data []struct {
			CustomerID string `json:"customer_id"`
			Balance    int64
			Tier       string
		}
	}
	body := mustDo(call{method: "GET", path: "/v1/loyalty/members?phone=%2B447911123456", role: "till"}, 200)
	if err := json.Unmarshal([]byte(body), &found); err != nil || len(found.Data) != 1 || found.Data[0].CustomerID != ada ||
		found.Data[0].Balance != 300 || found.Data[0].Tier != "bronze" {
		t.Fatalf("member by phone: %s", body)
	}
	// A second order crosses the silver threshold (500 points within the window).
	mustDo(call{method: "POST", path: "/v1/orders", role: "till", body: `{"customer_id":"` + ada + `","order_id":"T-2","currency":"GBP","total":300}`}, 200)
	sum := e.loyalty(ada)
	if sum.Balance != 600 || sum.Tier != "silver" || len(sum.TierHistory) != 1 || sum.TierHistory[0].To != "silver" {
		t.Fatalf("after two orders: %+v", sum)
	}
	// Eight tills redeem 400 of the 600 points at once: exactly one succeeds, the others get a
	// clean 409 and nothing changes for them.
	codes := make([]int, 8)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = e.do(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/redemptions", role: "till",
				body: `{"points":400,"idempotency_key":"till-2-redeem-` + strconv.Itoa(i) + `"}`})
		}()
	}
	wg.Wait()
	won := 0
	for i, c := range codes {
		switch c {
		case 201:
			won++
		case 409:
		default:
			t.Errorf("redemption %d: got %d", i, c)
		}
	}
	if won != 1 {
		t.Fatalf("concurrent redemptions: %v, want exactly one 201", codes)
	}
	winner := 0
	for i, c := range codes {
		if c == 201 {
			winner = i
		}
	}
	// The same key again is the same redemption, not a second one.
	body = mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/redemptions", role: "till",
		body: `{"points":400,"idempotency_key":"till-2-redeem-` + strconv.Itoa(winner) + `"}`}, 200)
	if !strings.Contains(body, `"replayed":true`) || !strings.Contains(body, `"balance":200`) {
		t.Fatalf("replay: %s", body)
	}
	mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/redemptions", role: "till", body: `{"points":400}`}, 422)
	// Four tills retrying the same redemption at once: one redemption, three replays of it.
	same := make([]int, 4)
	for i := range same {
		wg.Add(1)
		go func() {
			defer wg.Done()
			same[i], _ = e.do(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/redemptions", role: "till",
				body: `{"points":100,"idempotency_key":"till-3-retry-0001"}`})
		}()
	}
	wg.Wait()
	slices.Sort(same)
	if fmt.Sprint(same) != "[200 200 200 201]" {
		t.Fatalf("the same redemption four times at once: %v", same)
	}
	if s := e.loyalty(ada); s.Balance != 100 {
		t.Fatalf("balance after one redemption of 100 sent four times: %d", s.Balance)
	}
	mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/adjustments", role: "owner", body: `{"points":100,"reason":"correction","idempotency_key":"adj-back-0001"}`}, 201)
	// Half of order T-2 is refunded: half its points go back, and the tier falls to bronze.
	mustDo(call{method: "POST", path: "/v1/orders/T-2/refunds", role: "till", body: `{"refund_id":"r1","amount":150}`}, 200)
	sum = e.loyalty(ada)
	if sum.Balance != 50 || sum.Tier != "bronze" || len(sum.TierHistory) != 2 {
		t.Fatalf("after the refund: %+v", sum)
	}
	kinds := []string{}
	for _, en := range sum.Statement {
		kinds = append(kinds, en.Kind+":"+en.Cause+":"+strconv.FormatInt(en.Points, 10))
	}
	if strings.Join(kinds, ",") != "reverse:refund:-150,adjust:person:100,redeem:redemption:-100,redeem:redemption:-400,earn:order:300,earn:order:300" {
		t.Fatalf("statement: %v", kinds)
	}
	// Staff adjust with a reason; the balance never goes below zero.
	mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/adjustments", role: "owner", body: `{"points":-51,"reason":"correction","idempotency_key":"adj-00001"}`}, 409)
	mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/adjustments", role: "owner", body: `{"points":25,"reason":"because","idempotency_key":"adj-00002"}`}, 422)
	mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/adjustments", role: "till", body: `{"points":25,"reason":"goodwill","idempotency_key":"adj-00003"}`}, 403)
	body = mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/loyalty/adjustments", role: "support", body: `{"points":25,"reason":"goodwill","idempotency_key":"adj-00003"}`}, 201)
	if !strings.Contains(body, `"reason":"goodwill"`) || !strings.Contains(body, `"actor":"key:`) {
		t.Fatalf("adjustment: %s", body)
	}

	// Other customers' orders feed the recommendations: Dee consents, Bob does not.
	mustDo(call{method: "POST", path: "/v1/orders", role: "till", body: `{"customer_id":"` + dee + `","order_id":"D-1","currency":"GBP","total":20,"items":[{"sku":"MUG","price":10,"quantity":1},{"sku":"TEA","price":10,"quantity":1}]}`}, 200)
	mustDo(call{method: "POST", path: "/v1/orders", role: "till", body: `{"customer_id":"` + bob + `","order_id":"B-1","currency":"GBP","total":20,"items":[{"sku":"MUG","price":10,"quantity":1},{"sku":"SPOON","price":10,"quantity":1}]}`}, 200)
	mustDo(call{method: "POST", path: "/v1/customers/" + bob + "/consents", role: "owner", body: `{"purpose":"personalization","granted":false,"policy_version":"2026-01","source":"api"}`}, 201)

	// Offers: a segment condition names a segment that exists.
	body = mustDo(call{method: "POST", path: "/v1/offers", role: "owner", body: `{"code":"VIP","description":"For a segment","reward":{"kind":"percentage","value":5},"valid_from":"2020-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z","eligibility":[{"kind":"segment","segment":"vip"}]}`}, 422)
	if !strings.Contains(body, `segment \"vip\" does not exist`) {
		t.Fatalf("segment offer: %s", body)
	}
	mustDo(call{method: "POST", path: "/v1/offers", role: "owner", body: `{"code":"MUG10","description":"10% off mugs","reward":{"kind":"percentage","value":10},"valid_from":"2020-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z","eligibility":[{"kind":"min_spend","amount":100}],"products":["MUG"],"frequency_cap":{"count":1,"days":30}}`}, 201)
	mustDo(call{method: "POST", path: "/v1/offers", role: "owner", body: `{"code":"GOLDEN","description":"For silver and gold","reward":{"kind":"amount","value":5},"valid_from":"2020-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z","eligibility":[{"kind":"tier","tiers":["silver","gold"]}]}`}, 201)
	mustDo(call{method: "POST", path: "/v1/offers", role: "marketer", body: `{"code":"NOPE","description":"x","reward":{"kind":"amount","value":5},"valid_from":"2020-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z"}`}, 403)

	offers := func(id string, header map[string]string) (shown []string, reasons string, recs []string) {
		t.Helper()
		b := mustDo(call{method: "GET", path: "/v1/customers/" + id + "/offers", role: "owner", header: header}, 200)
		var d struct {
			Offers []struct {
				Code            string
				Reasons         []string
				Recommendations []struct {
					ProductID string `json:"product_id"`
				}
			}
			Withheld []struct{ Code, Reason string }
		}
		if err := json.Unmarshal([]byte(b), &d); err != nil {
			t.Fatal(err)
		}
		for _, o := range d.Offers {
			shown = append(shown, o.Code)
			reasons += strings.Join(o.Reasons, ";")
			for _, r := range o.Recommendations {
				recs = append(recs, r.ProductID)
			}
		}
		for _, w := range d.Withheld {
			reasons += " withheld " + w.Code + ": " + w.Reason
		}
		return shown, reasons, recs
	}
	shown, reasons, recs := offers(ada, nil)
	if strings.Join(shown, ",") != "MUG10" || !strings.Contains(reasons, "spent at least 100") || strings.Join(recs, ",") != "TEA" ||
		!strings.Contains(reasons, "withheld GOLDEN: tier bronze is not one of silver, gold") {
		t.Fatalf("ada's offers: %v %q recommendations %v", shown, reasons, recs)
	}
	if shown, reasons, _ = offers(bob, nil); len(shown) != 0 || !strings.Contains(reasons, "not allowed for purpose personalization") {
		t.Fatalf("bob (withdrew) was shown %v: %s", shown, reasons)
	}
	if shown, reasons, _ = offers(cy, map[string]string{"Sec-GPC": "1"}); len(shown) != 0 || !strings.Contains(reasons, "personalization") {
		t.Fatalf("cy (GPC) was shown %v: %s", shown, reasons)
	}
	// The offer is redeemed against Ada's order once; the frequency cap then withholds it.
	body = mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/offers/MUG10/redemptions", role: "till", body: `{"order_id":"T-1"}`}, 201)
	if !strings.Contains(body, `"discount":30`) {
		t.Fatalf("offer redemption: %s", body)
	}
	mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/offers/MUG10/redemptions", role: "till", body: `{"order_id":"T-2"}`}, 409)
	mustDo(call{method: "POST", path: "/v1/customers/" + ada + "/offers/MUG10/redemptions", role: "till", body: `{"order_id":"D-1"}`}, 409)
	body = mustDo(call{method: "GET", path: "/v1/offers/report", role: "owner"}, 200)
	if !strings.Contains(body, `"code":"MUG10"`) || !strings.Contains(body, `"redemptions":1`) {
		t.Fatalf("report: %s", body)
	}
	e.ledgerInvariants()
}

// addTill gives e a key of the till role.
func (e *env) addTill() {
	e.t.Helper()
	till, _, err := e.app.APIKeys.Create(authz.WithActor(context.Background(), authz.System), "till", "till 1")
	if err != nil {
		e.t.Fatal(err)
	}
	e.keys["till"] = till
}

// loyaltySummary is the part of GET /v1/customers/{id}/loyalty the tests read.
type loyaltySummary struct {
	Balance     int64
	Tier        string
	TierHistory []struct{ From, To string } `json:"tier_history"`
	Statement   []struct {
		Kind, Cause string
		Points      int64
	}
}

func (e *env) loyalty(id string) loyaltySummary {
	e.t.Helper()
	code, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/loyalty", role: "support"})
	if code != 200 {
		e.t.Fatalf("loyalty: got %d %s", code, body)
	}
	var s loyaltySummary
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// ledgerInvariants checks every account against its ledger in the database: the balance is
// the sum of the entries, every entry's running balance is the sum so far and never
// negative, and no order had more points reversed than it earned.
func (e *env) ledgerInvariants() {
	e.t.Helper()
	rows, err := e.app.Store.Read().Query(`SELECT a.customer_id, a.balance, COALESCE(SUM(l.points), 0), COALESCE(MIN(l.balance), 0)
		FROM loyalty_accounts a LEFT JOIN loyalty_entries l ON l.customer_id = a.customer_id GROUP BY a.customer_id, a.balance`)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var bal, sum, low int64
		if err := rows.Scan(&id, &bal, &sum, &low); err != nil {
			e.t.Fatal(err)
		}
		if bal != sum || low < 0 {
			e.t.Errorf("account %s: balance %d, ledger sum %d, lowest running balance %d", id, bal, sum, low)
		}
	}
	var over int
	if err := e.app.Store.Read().QueryRow(`SELECT COUNT(*) FROM (SELECT order_id FROM loyalty_entries WHERE order_id <> ''
		GROUP BY order_id HAVING SUM(CASE WHEN kind = 'reverse' THEN -points ELSE 0 END) > SUM(CASE WHEN kind = 'earn' THEN points ELSE 0 END)) x`).Scan(&over); err != nil || over != 0 {
		e.t.Errorf("orders with more reversed than earned: %d (%v)", over, err)
	}
}

// TestMemberCardInPortal: a member signed in to the privacy portal sees their member card,
// with the member number Steward assigned as a QR code, their tier and balance; a customer who
// is not a member sees no card.
func TestMemberCardInPortal(t *testing.T) {
	mail := t.TempDir()
	e := newEnv(t, "", func(c *config.Config) { c.Mail = config.Secret("file:" + mail) })
	id := e.create(`{"email":"card.member@example.com"}`)
	e.create(`{"email":"not.member@example.com"}`)
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/loyalty", role: "support"}); code != 200 || !strings.Contains(body, `"tier":"bronze"`) {
		t.Fatalf("enrol: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + id + "/loyalty/adjustments", role: "support",
		body: `{"points":150,"reason":"goodwill","idempotency_key":"welcome-1"}`}); code != 201 {
		t.Fatalf("adjust: got %d %s", code, body)
	}
	number := e.fields(id)["loyalty_member_number"].(string)
	if !e.app.Loyalty.Programme().ValidMemberNumber(number) {
		t.Fatalf("assigned member number %q does not check", number)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/loyalty/members?email=Card.Member@Example.com", role: "support"}); code != 200 || !strings.Contains(body, id) {
		t.Fatalf("by e-mail: got %d %s", code, body)
	}
	if code, body := e.do(call{method: "GET", path: "/v1/loyalty/members?email=not.member@example.com", role: "support"}); code != 200 || body != `{"data":[]}`+"\n" && body != `{"data":[]}` {
		t.Fatalf("a customer who is not a member: got %d %q", code, body)
	}
	// The till finds the member by it.
	if code, body := e.do(call{method: "GET", path: "/v1/loyalty/members?member_number=" + number, role: "support"}); code != 200 || !strings.Contains(body, id) {
		t.Fatalf("by member number: got %d %s", code, body)
	}
	wrong := number[:len(number)-1] + string(rune('0'+(int(number[len(number)-1]-'0')+1)%10))
	if code, body := e.do(call{method: "GET", path: "/v1/loyalty/members?member_number=" + wrong, role: "support"}); code != 422 || !strings.Contains(body, "check digit") {
		t.Fatalf("mistyped member number: got %d %s", code, body)
	}
	page := func(email string) string {
		b := e.browser()
		b.post("/portal/link", url.Values{"email": {email}})
		link := mailedLink(t, mail, "/portal/enter")
		_, _, _, cookies := b.postWith("/portal/enter", url.Values{"token": {strings.TrimPrefix(link, "/portal/enter?token=")}}, "")
		if len(cookies) != 1 {
			t.Fatalf("no portal session for %s", email)
		}
		code, p := b.get("/portal", "Cookie", "steward_portal="+cookies[0].Value)
		if code != 200 {
			t.Fatalf("portal: got %d", code)
		}
		return p
	}
	p := page("card.member@example.com")
	for _, want := range []string{"Your member card", "<svg", `aria-label="QR code of member number ` + number + `"`, "150 points", "bronze", "1.50 GBP"} {
		if !strings.Contains(p, want) {
			t.Errorf("member card lacks %q", want)
		}
	}
	if p = page("not.member@example.com"); strings.Contains(p, "Your member card") {
		t.Errorf("a customer who is not a member sees a card")
	}
}

// TestOfferHoldoutAndUplift: an offer with a hold-out share keeps a stable, random part of the
// eligible customers from seeing it; the report counts both groups and who of each ordered
// afterwards; a points multiplier credits the bonus once.
func TestOfferHoldoutAndUplift(t *testing.T) {
	e := newEnv(t, "")
	e.publish(policyV1)
	if code, body := e.do(call{method: "POST", path: "/v1/offers", role: "owner", body: `{"code":"DOUBLE","description":"Double points","reward":{"kind":"points_multiplier","value":2},"valid_from":"2020-01-01T00:00:00Z","valid_until":"2099-01-01T00:00:00Z","holdout":0.5}`}); code != 201 {
		t.Fatalf("offer: got %d %s", code, body)
	}
	shown, held := map[string]bool{}, map[string]bool{}
	var ids []string
	for i := 0; i < 40; i++ {
		id := e.create(fmt.Sprintf(`{"email":"uplift%d@example.com"}`, i))
		e.consentToAll(id)
		ids = append(ids, id)
		for round := 0; round < 2; round++ { // the group is the same every time
			_, body := e.do(call{method: "GET", path: "/v1/customers/" + id + "/offers", role: "owner"})
			in := strings.Contains(body, `"code":"DOUBLE","description"`)
			out := strings.Contains(body, "hold-out group")
			if in == out || (round == 1 && (shown[id] != in || held[id] != out)) {
				t.Fatalf("customer %d round %d: %s", i, round, body)
			}
			shown[id], held[id] = in, out
		}
	}
	nShown, nHeld, shownOrdered, heldOrdered := 0, 0, 0, 0
	var one string
	for i, id := range ids {
		if shown[id] {
			nShown++
			one = id
		} else {
			nHeld++
		}
		if i%2 == 0 { // every other customer orders afterwards
			if code, body := e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: fmt.Sprintf(`{"customer_id":"%s","order_id":"U-%d","currency":"GBP","total":40}`, id, i)}); code != 200 {
				t.Fatalf("order: %d %s", code, body)
			}
			if shown[id] {
				shownOrdered++
			} else {
				heldOrdered++
			}
		}
	}
	if nShown < 8 || nHeld < 8 {
		t.Fatalf("a 50%% hold-out of 40 customers split %d shown, %d held out", nShown, nHeld)
	}
	_, body := e.do(call{method: "GET", path: "/v1/offers/report", role: "owner"})
	for _, want := range []string{fmt.Sprintf(`"shown":%d,"shown_ordered":%d,"holdout":%d,"holdout_ordered":%d`, nShown, shownOrdered, nHeld, heldOrdered),
		fmt.Sprintf(`"uplift":%v`, roundTo4(float64(shownOrdered)/float64(nShown)-float64(heldOrdered)/float64(nHeld)))} {
		if !strings.Contains(body, want) {
			t.Fatalf("report lacks %s: %s", want, body)
		}
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/offers/report", role: "support"}); code != 403 {
		t.Errorf("support reads the report: %d", code)
	}
	// A shown customer who ordered uses the multiplier against their order: the bonus is what
	// the order earned again, once.
	var order string
	for i, id := range ids {
		if id == one && i%2 == 0 {
			order = fmt.Sprintf("U-%d", i)
		}
	}
	if order == "" {
		e.do(call{method: "POST", path: "/v1/orders", role: "ingest", body: `{"customer_id":"` + one + `","order_id":"U-X","currency":"GBP","total":40}`})
		order = "U-X"
	}
	if code, body := e.do(call{method: "POST", path: "/v1/customers/" + one + "/offers/DOUBLE/redemptions", role: "owner", body: `{"order_id":"` + order + `"}`}); code != 201 || !strings.Contains(body, `"bonus_points":40`) {
		t.Fatalf("multiplier: got %d %s", code, body)
	}
	if s := e.loyalty(one); s.Balance != 80 || s.Statement[0].Cause != "offer" {
		t.Fatalf("after the multiplier: %+v", s)
	}
	if code, _ := e.do(call{method: "POST", path: "/v1/customers/" + one + "/offers/DOUBLE/redemptions", role: "owner", body: `{"order_id":"` + order + `"}`}); code != 409 {
		t.Errorf("the same offer on the same order twice: %d", code)
	}
	e.ledgerInvariants()
}

func roundTo4(f float64) float64 { return math.Round(f*1e4) / 1e4 }
