package app

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/source"
)

func TestIngestAllPartsSQLite(t *testing.T)   { ingestAllParts(t, "sqlite") }
func TestIngestAllPartsPostgres(t *testing.T) { ingestAllParts(t, "postgres") }

// ingestAllParts: batches of several sources stored in one transaction are each the work of
// their own source. Every audit entry, event, drop count and consent record names the part
// that caused it, whether the parts are stored as one batch (they touch different customers)
// or one after the other (two touch one customer, or one records consent); ids are claimed
// per source; and a part's bad message fails the call, storing nothing.
func ingestAllParts(t *testing.T, engine string) {
	e := newEnv(t, engineURL(t, engine))
	ada := e.create(`{"email":"ada@example.com"}`)
	shop := authz.Actor{ID: "source:shop-test", Name: "shopify source shop", Role: "ingest"}
	mail := authz.Actor{ID: "source:mail-test", Name: "sendgrid source mail", Role: "ingest"}
	now := time.Now().UTC()
	part := func(a authz.Actor, request string, msgs ...ingest.Message) ingest.Part {
		return ingest.Part{Ctx: audit.WithRequestID(authz.WithActor(context.Background(), a), request),
			Batch: ingest.Batch{KeyID: a.ID, Messages: msgs, ReceivedAt: now, Lasting: true}}
	}
	identify := func(id, mail string, traits map[string]any) ingest.Message {
		traits["email"] = mail
		return ingest.Message{Type: ingest.TypeIdentify, MessageID: id, Traits: traits, Timestamp: now}
	}
	track := func(id, name, mail string, props map[string]any) ingest.Message {
		return ingest.Message{Type: ingest.TypeTrack, MessageID: id, Name: name, Properties: props, Timestamp: now,
			Context: ingest.Context{Traits: map[string]any{"email": mail}}}
	}
	order := func(id, orderID, mail string) ingest.Message {
		return track(id, "Order Completed", mail, map[string]any{"order_id": orderID, "total": 25.5, "currency": "EUR"})
	}
	ingestAll := func(parts ...ingest.Part) []ingest.Result {
		t.Helper()
		rs, err := e.app.Ingest.IngestAll(context.Background(), parts)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	shared := func() (int64, int64) { return e.app.Ingest.Stats().Shared() }
	// since returns the audit entries appended after the entry with id from, oldest first.
	since := func(from int64) []audit.Entry {
		t.Helper()
		var out []audit.Entry
		for _, en := range e.auditEntries("") {
			if en.ID > from {
				out = append([]audit.Entry{en}, out...)
			}
		}
		return out
	}
	last := func() int64 {
		es := e.auditEntries("")
		if len(es) == 0 {
			return 0
		}
		return es[0].ID
	}
	customerOf := func(mail string) string {
		t.Helper()
		ids := e.findable("email", mail)
		if len(ids) != 1 {
			t.Fatalf("find %s: %v", mail, ids)
		}
		return ids[0]
	}

	// Disjoint customers: one batch. The shop creates Bea with an order and renames Ada (an
	// undeclared trait dropped on the way); the e-mail service's contact creates Cy.
	mark := last()
	rs := ingestAll(
		part(shop, "req-shop", identify("s-1", "bea@example.com", map[string]any{"first_name": "Bea", "shoe_size": 39}),
			order("s-2", "o-1", "bea@example.com"), identify("s-3", "ada@example.com", map[string]any{"last_name": "Lovelace"})),
		part(mail, "req-mail", identify("m-1", "cy@example.com", map[string]any{"first_name": "Cy"})))
	if rs[0].Stored != 3 || rs[1].Stored != 1 || len(rs[0].Fresh) != 3 || len(rs[1].Fresh) != 1 {
		t.Fatalf("results: %+v", rs)
	}
	if together, apart := shared(); together != 1 || apart != 0 {
		t.Fatalf("disjoint parts: stored together %d, apart %d; want one batch", together, apart)
	}
	bea, cy := customerOf("bea@example.com"), customerOf("cy@example.com")
	want := map[string]string{ // action customer → actor request
		"customer.create " + bea: shop.ID + " req-shop",
		"customer.update " + ada: shop.ID + " req-shop",
		"customer.update " + bea: shop.ID + " req-shop", // her figures, once her order is stored
		"customer.create " + cy:  mail.ID + " req-mail",
	}
	got := map[string]string{}
	var batches []string
	for _, en := range since(mark) {
		switch en.Action {
		case ingest.ActionIngestBatch:
			batches = append(batches, en.ActorID+" "+en.RequestID+" "+en.Target)
		case "customer.create", "customer.update":
			got[en.Action+" "+en.CustomerID] = en.ActorID + " " + en.RequestID
			if en.ActorRole != "ingest" {
				t.Errorf("%s of %s: role %q", en.Action, en.CustomerID, en.ActorRole)
			}
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: recorded by %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("profile entries: got %v, want %v", got, want)
	}
	wantBatches := []string{shop.ID + " req-shop events:3 customers_created:1", mail.ID + " req-mail events:1 customers_created:1"}
	if strings.Join(batches, "|") != strings.Join(wantBatches, "|") {
		t.Errorf("batch entries: got %q, want %q", batches, wantBatches)
	}
	keys := map[string]int{}
	rows, err := e.app.Store.Write().Query(`SELECT key_id, COUNT(*) FROM events GROUP BY key_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		keys[k] = n
	}
	rows.Close()
	if keys[shop.ID] != 3 || keys[mail.ID] != 1 {
		t.Errorf("events by key: %v", keys)
	}
	drops := map[string]string{}
	rows, err = e.app.Store.Write().Query(`SELECT key_id, name FROM ingest_drops ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, name string
		if err := rows.Scan(&k, &name); err != nil {
			t.Fatal(err)
		}
		drops[k] += name + " "
	}
	rows.Close()
	if !strings.Contains(drops[shop.ID], "undeclared:trait.shoe_size") || drops[mail.ID] != "" {
		t.Errorf("drops by key: %v, want the shop's undeclared trait counted for the shop only", drops)
	}
	if f := e.figures(bea); f["order_count"] != "1" {
		t.Errorf("Bea's figures: %v", f)
	}

	// Ids are claimed per source: the shop's ids again are duplicates, the same ids from the
	// e-mail service are its own.
	rs = ingestAll(part(shop, "req-again", track("s-2", "Viewed", "bea@example.com", nil)), part(mail, "req-again", track("s-2", "Viewed", "bea@example.com", nil)))
	if rs[0].Stored != 0 || rs[0].Duplicates != 1 || rs[1].Stored != 1 {
		t.Fatalf("claims per source: %+v", rs)
	}

	// Both touch Bea: stored one after the other, each entry still its own source's.
	mark = last()
	together0, apart0 := shared()
	rs = ingestAll(part(shop, "req-shop-2", identify("s-10", "bea@example.com", map[string]any{"last_name": "Buyer"})),
		part(mail, "req-mail-2", order("m-10", "o-2", "bea@example.com")))
	if rs[0].Stored != 1 || rs[1].Stored != 1 {
		t.Fatalf("results: %+v", rs)
	}
	if together, apart := shared(); together != together0 || apart != apart0+1 {
		t.Fatalf("parts sharing a customer: together %d→%d, apart %d→%d; want apart", together0, together, apart0, apart)
	}
	got = map[string]string{}
	batches = nil
	for _, en := range since(mark) {
		switch en.Action {
		case ingest.ActionIngestBatch:
			batches = append(batches, en.ActorID+" "+en.Target)
		case "customer.update":
			got[en.ActorID] += strings.Join(en.Fields, ",")
		}
	}
	if got[shop.ID] != "last_name" || !strings.Contains(got[mail.ID], "order_count") || strings.Contains(got[mail.ID], "last_name") {
		t.Errorf("updates of Bea: got %v, want the shop's name and the e-mail service's figures", got)
	}
	if strings.Join(batches, "|") != shop.ID+" events:1 customers_created:0|"+mail.ID+" events:1 customers_created:0" {
		t.Errorf("batch entries: %q", batches)
	}

	// An unsubscribe records consent in the name of the source it came from.
	together0, apart0 = shared()
	ingestAll(part(shop, "req-shop-3", order("s-20", "o-3", "dee@example.com")),
		part(mail, "req-mail-3", track("m-20", "Unsubscribed", "cy@example.com", map[string]any{"purpose": "marketing_email", "channel": "email"})))
	if together, apart := shared(); together != together0 || apart != apart0+1 {
		t.Fatalf("a part recording consent: together %d→%d, apart %d→%d; want apart", together0, together, apart0, apart)
	}
	h, err := e.app.Consents.History(authz.WithActor(context.Background(), authz.System), cy)
	if err != nil {
		t.Fatal(err)
	}
	if recs := h.History; len(recs) == 0 || recs[len(recs)-1].ActorID != mail.ID {
		t.Fatalf("Cy's consent history: %+v, want the unsubscribe recorded by the e-mail service", h.History)
	}

	// One order changed by two parts (the shop's order, another platform's update of it):
	// stored apart, each naming its own source.
	together0, apart0 = shared()
	rs = ingestAll(part(shop, "req-shop-4", order("s-40", "o-40", "fay@example.com")),
		part(mail, "req-mail-4", track("m-40", "Order Updated", "gus@example.com", map[string]any{"order_id": "o-40", "total": 30, "currency": "EUR"})))
	if rs[0].Stored != 1 || rs[1].Stored != 1 {
		t.Fatalf("results: %+v", rs)
	}
	if together, apart := shared(); together != together0 || apart != apart0+1 {
		t.Fatalf("parts changing one order: together %d→%d, apart %d→%d; want apart", together0, together, apart0, apart)
	}

	// An unsubscribe in one part and, in the next, a merge of that customer into another:
	// stored apart, the merge reads the unsubscribe the part before committed and carries
	// it to the customer it merges into.
	e.mustTrack("/v1/identify", `{"messageId":"setup-hal","userId":"u-hal","traits":{"email":"hal@example.com"}}`)
	hal := customerOf("hal@example.com")
	ivy := e.create(`{"email":"ivy@example.com"}`)
	e.consentToAll(hal)
	e.consentToAll(ivy)
	ingestAll(part(mail, "req-mail-5", track("m-50", "Unsubscribed", "ivy@example.com", map[string]any{"purpose": "marketing_email", "channel": "email"})),
		part(shop, "req-shop-5", ingest.Message{Type: ingest.TypeIdentify, MessageID: "s-50", UserID: "u-hal", Traits: map[string]any{"email": "ivy@example.com"}, Timestamp: now}))
	if root, _, err := e.app.Store.Ingest().CustomerTree(context.Background(), ivy); err != nil || root != hal {
		t.Fatalf("Ivy's root: %s (%v), want her merged into Hal", root, err)
	}
	if d := e.decision(hal, "marketing_email"); d.Allowed || d.Reason != consent.ReasonUnsubscribed {
		t.Fatalf("after the unsubscribe and the merge: %+v, want Hal unsubscribed", d)
	}

	// A part's bad message fails the call: nothing of either part is stored.
	mark = last()
	_, err = e.app.Ingest.IngestAll(context.Background(), []ingest.Part{
		part(shop, "req-bad", order("s-30", "o-4", "eve@example.com")),
		part(mail, "req-bad", ingest.Message{Type: ingest.TypeTrack, MessageID: "m-30", Name: "Viewed"}),
	})
	if err == nil {
		t.Fatal("a part without any identifier was stored")
	}
	if es := since(mark); len(es) != 0 {
		t.Fatalf("a failed call wrote %d audit entries", len(es))
	}
}

func TestSourcesConcurrentAttributionSQLite(t *testing.T) { sourcesConcurrentAttribution(t, "sqlite") }
func TestSourcesConcurrentAttributionPostgres(t *testing.T) {
	sourcesConcurrentAttribution(t, "postgres")
}

// sourcesConcurrentAttribution: a shop, its card processor and its e-mail service deliver at
// once, as they do on a busy day, and their deliveries share transactions; afterwards every
// audit entry about a customer names a source that delivered something about that customer,
// and each source's batch entries count exactly the events stored under its key.
func sourcesConcurrentAttribution(t *testing.T, engine string) {
	e := newEnv(t, engineURL(t, engine))
	shop, cards, mail := e.connect(source.Shopify, "shpss_test"), e.connect(source.Stripe, "whsec_test"), e.connect(source.SendGrid, "")
	var ds []delivery
	const n = 20
	for i := range n {
		shopper, payer := fmt.Sprintf("shop%d@example.com", i), fmt.Sprintf("card%d@example.com", i)
		order := strings.Replace(shopifyOrder(strconv.Itoa(9000+i), shopper, "12.50"), `"id":7001`, fmt.Sprintf(`"id":%d`, 7100+i), 1)
		ds = append(ds, delivery{v: shop, body: order, header: shopifyHeaders("orders/create", "c-"+strconv.Itoa(i))})
		charge := strings.Replace(stripeCharge("ch_c"+strconv.Itoa(i), "pi_c"+strconv.Itoa(i), payer, 1500, 0), "cus_ada", "cus_c"+strconv.Itoa(i), 1)
		ds = append(ds, delivery{v: cards, body: stripeEvent("evt_c"+strconv.Itoa(i), "charge.succeeded", charge)})
		ds = append(ds, delivery{v: mail, body: sendgridEvents(sendgridEvent("sg-c"+strconv.Itoa(i), "delivered", shopper, ""))})
	}
	e.deliverAtOnce(ds)
	together, apart := e.app.Ingest.Stats().Shared()
	t.Logf("transactions of several sources: %d stored together, %d apart", together, apart)
	// Who may have caused entries about each customer: a shopper's by the shop or the e-mail
	// service, a card payer's by the card processor alone.
	may := map[string]string{}
	for i := range n {
		for _, id := range e.findable("email", fmt.Sprintf("shop%d@example.com", i)) {
			may[id] = "source:" + shop.id + " source:" + mail.id
		}
		for _, id := range e.findable("email", fmt.Sprintf("card%d@example.com", i)) {
			may[id] = "source:" + cards.id
		}
	}
	if len(may) != 2*n {
		t.Fatalf("customers: %d, want %d", len(may), 2*n)
	}
	counted := map[string]int{}
	for _, en := range e.auditEntries("") {
		switch {
		case en.Action == ingest.ActionIngestBatch:
			var events, created int
			if _, err := fmt.Sscanf(en.Target, "events:%d customers_created:%d", &events, &created); err != nil {
				t.Fatalf("batch entry %q: %v", en.Target, err)
			}
			counted[en.ActorID] += events
		case en.CustomerID != "" && strings.HasPrefix(en.ActorID, "source:"):
			if allowed, ok := may[en.CustomerID]; !ok || !strings.Contains(allowed, en.ActorID) {
				t.Errorf("%s of customer %s recorded by %s, which delivered nothing about them", en.Action, en.CustomerID, en.ActorID)
			}
		}
	}
	for _, v := range []*vendor{shop, cards, mail} {
		var stored int
		if err := e.app.Store.Write().QueryRow(`SELECT COUNT(*) FROM events WHERE key_id = $1`, "source:"+v.id).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if stored == 0 || counted["source:"+v.id] != stored {
			t.Errorf("%s: batch entries count %d events, %d stored under its key", v.kind, counted["source:"+v.id], stored)
		}
	}
}
