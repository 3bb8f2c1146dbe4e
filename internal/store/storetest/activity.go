package storetest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store"
)

// testIngestActivity: Activity reads, inside the transaction, a tree's orders and refunds one
// by one (amounts as stored, never summed by the engine), its newest review and its counted
// events, and Activities, Roots and Trees read the same for many at once; RootCustomers pages
// through the customers merged into no one.
func testIngestActivity(t *testing.T, db *store.Engine) {
	c1, c2, c3 := id(1), id(2), id(3)
	now := clock.System()
	ingestTx(t, db, func(ctx context.Context, tx ingest.Tx) error {
		if err := tx.CreateCustomers(ctx, []*customer.Record{record(c1, 1), record(c2, 2), record(c3, 3)}); err != nil {
			return err
		}
		if err := tx.AddMerges(ctx, []ingest.Merge{{ID: id(90), Winner: c1, Loser: c2, Reason: "test", CreatedAt: now}}); err != nil {
			return err
		}
		if err := tx.InsertEvents(ctx, []ingest.EventRow{
			{CustomerID: c2, KeyID: "k", Type: "track", Name: "Complaint Filed", Category: "attitudinal", At: now, ReceivedAt: now, Plain: []byte(`{}`)},
			{CustomerID: c1, KeyID: "k", Type: "track", Name: "Social Interaction", Category: "engagement", At: now, ReceivedAt: now, Plain: []byte(`{}`)},
			{CustomerID: c1, KeyID: "k", Type: "track", Name: "Social Interaction", Category: "engagement", At: now.Add(-400 * 24 * time.Hour), ReceivedAt: now, Plain: []byte(`{}`)},
			{CustomerID: c3, KeyID: "k", Type: "track", Name: "Complaint Filed", Category: "attitudinal", At: now, ReceivedAt: now, Plain: []byte(`{}`)},
		}); err != nil {
			return err
		}
		if err := tx.AddOrders(ctx, []ingest.OrderChange{
			{Kind: ingest.OrderCompleted, CustomerID: c1, OrderID: "a-1", At: now.Add(-time.Hour), Currency: "EUR", Total: 120.5},
			{Kind: ingest.OrderCompleted, CustomerID: c2, OrderID: "a-2", At: now, Currency: "EUR", Total: 0.1},
			{Kind: ingest.OrderRefunded, CustomerID: c1, OrderID: "a-1", At: now, Total: 60.25, Reason: "refund"},
			{Kind: ingest.OrderCompleted, CustomerID: c3, OrderID: "a-3", At: now, Currency: "EUR", Total: 5},
			{Kind: ingest.ProductReviewed, CustomerID: c1, At: now.Add(-time.Hour), Review: &ingest.Review{ProductID: "p", Rating: 5}},
			{Kind: ingest.ProductReviewed, CustomerID: c2, At: now, Review: &ingest.Review{ProductID: "p", Rating: 3}},
		}); err != nil {
			return err
		}
		// Inside the same transaction, what it wrote counts.
		a, err := tx.Activity(ctx, []string{c1, c2}, ingest.AllParts, []string{"Complaint Filed"}, []string{"Social Interaction"}, now.Add(-365*24*time.Hour))
		if err != nil {
			return err
		}
		ids := []string{}
		for _, o := range a.Orders {
			ids = append(ids, o.OrderID+":"+o.Status)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, []string{"a-1:partially_refunded", "a-2:completed"}) || len(a.Refunds) != 1 || a.Refunds[0].Amount != 60.25 ||
			a.Refunds[0].OrderID != "a-1" || a.LastReview == nil || a.LastReview.Rating != 3 || a.Complaints != 1 || a.Social != 1 {
			t.Errorf("activity: got %+v (orders %v)", a, ids)
		}
		// Many at once: the same as one by one, the orders of every tree read together.
		roots, err := tx.Roots(ctx, []string{c2, c3, c1})
		if err != nil {
			return err
		}
		if roots[c2] != c1 || roots[c1] != c1 || roots[c3] != c3 || len(roots) != 3 {
			t.Errorf("roots: got %v", roots)
		}
		if _, err := tx.Roots(ctx, []string{c1, id(99)}); !problem.Is(err, problem.NotFound) {
			t.Errorf("roots of an unknown customer: got %v, want NotFound", err)
		}
		trees, err := tx.Trees(ctx, []string{c3, c1})
		if err != nil {
			return err
		}
		if len(trees) != 2 || !slices.Equal(trees[0], []string{c3}) || !slices.Equal(slices.Sorted(slices.Values(trees[1])), []string{c1, c2}) {
			t.Errorf("trees: got %v", trees)
		}
		parts := []ingest.ActivityParts{ingest.PartOrders, ingest.AllParts}
		many, err := tx.Activities(ctx, trees, parts, []string{"Complaint Filed"}, []string{"Social Interaction"}, now.Add(-365*24*time.Hour))
		if err != nil {
			return err
		}
		for i, tree := range trees {
			one, err := tx.Activity(ctx, tree, parts[i], []string{"Complaint Filed"}, []string{"Social Interaction"}, now.Add(-365*24*time.Hour))
			if err != nil {
				return err
			}
			if !reflect.DeepEqual(many[i], one) {
				t.Errorf("activities of tree %d: got %+v, want %+v", i, many[i], one)
			}
		}
		if len(many[0].Orders) != 1 || many[0].Orders[0].OrderID != "a-3" || many[0].Complaints != 0 || len(many[1].Orders) != 2 {
			t.Errorf("activities: got %+v", many)
		}
		return nil
	})
	var all []string
	for after := ""; ; {
		page, err := db.Ingest().RootCustomers(ctx, after, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1]
	}
	if !slices.Equal(all, []string{c1, c3}) {
		t.Fatalf("root customers: got %v, want %v", all, []string{c1, c3})
	}
}
