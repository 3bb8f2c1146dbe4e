package ingest

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/problem"
)

// Tills and back offices record commerce directly rather than through a tracking library.
// Each call becomes the Segment e-commerce event it stands for, with a messageId made from the
// order, so posting the same order or refund twice stores it once.

// TillOrder is an order recorded at a till.
type TillOrder struct {
	CustomerID string      `json:"customer_id,omitempty"`
	UserID     string      `json:"user_id,omitempty"`
	Email      string      `json:"email,omitempty"`
	Phone      string      `json:"phone,omitempty"`
	OrderID    string      `json:"order_id"`
	Currency   string      `json:"currency"`
	Total      float64     `json:"total"`
	Tax        float64     `json:"tax,omitempty"`
	Shipping   float64     `json:"shipping,omitempty"`
	Discount   float64     `json:"discount,omitempty"`
	Items      []OrderItem `json:"items,omitempty"`
	PlacedAt   *time.Time  `json:"placed_at,omitempty"`
}

// TillRefund is a refund or return of a recorded order.
type TillRefund struct {
	RefundID string      `json:"refund_id"`
	Kind     string      `json:"kind"` // refund (default) or return
	Amount   float64     `json:"amount"`
	Items    []OrderItem `json:"items,omitempty"`
}

// RecordOrder stores an order placed at a till for a customer given by id, user id, e-mail
// address or phone number. The contact details go to the profile like any other source's: the
// customer who has them is found (through identities and the profile's blind index), or one
// is created holding them, and a found customer without an e-mail address or phone number
// gets the one given. A contact value never replaces one the profile holds, and one that
// another customer holds stays theirs: a till is not where a customer's details are changed.
func (s *Service) RecordOrder(ctx context.Context, keyID string, o TillOrder) (Result, error) {
	if err := s.requireTrusted(ctx); err != nil {
		return Result{}, err
	}
	if strings.TrimSpace(o.OrderID) == "" || len(o.OrderID) > 128 {
		return Result{}, problem.InvalidField("order_id", "is required (at most 128 characters)")
	}
	if len(strings.TrimSpace(o.Currency)) != 3 {
		return Result{}, problem.InvalidField("currency", "must be a three-letter ISO 4217 code")
	}
	if o.Total < 0 {
		return Result{}, problem.InvalidField("total", "must not be negative")
	}
	for i, it := range o.Items {
		if it.Quantity <= 0 || it.Price < 0 || (it.ProductID == "" && it.SKU == "") {
			return Result{}, problem.InvalidField("items["+strconv.Itoa(i)+"]", "needs product_id or sku, a price of at least 0 and a positive quantity")
		}
	}
	m := Message{Type: TypeTrack, Name: "Order Completed", MessageID: "till:" + o.OrderID + ":completed", CustomerID: o.CustomerID, UserID: o.UserID}
	if o.CustomerID != "" && !ident.Valid(o.CustomerID) {
		return Result{}, problem.InvalidField("customer_id", "is not a valid customer id")
	}
	for _, c := range [...][2]string{{"email", o.Email}, {"phone", o.Phone}} {
		field, v := c[0], c[1]
		if v == "" {
			continue
		}
		if _, _, err := s.norm.Value(field, v); err != nil {
			return Result{}, err
		}
		if m.Context.Traits == nil {
			m.Context.Traits = map[string]any{}
		}
		m.Context.Traits[field] = v
		m.FillContact = true
	}
	if o.CustomerID == "" && o.UserID == "" && o.Email == "" && o.Phone == "" {
		return Result{}, problem.InvalidField("customer_id", "customer_id, user_id, email or phone is required")
	}
	m.Timestamp = s.now()
	if o.PlacedAt != nil {
		m.Timestamp = o.PlacedAt.UTC().Truncate(time.Microsecond)
	}
	m.Properties = map[string]any{"order_id": o.OrderID, "currency": strings.ToUpper(o.Currency), "total": num(o.Total),
		"tax": num(o.Tax), "shipping": num(o.Shipping), "discount": num(o.Discount), "products": itemList(o.Items)}
	return s.Ingest(ctx, Batch{KeyID: keyID, Messages: []Message{m}, ReceivedAt: s.now()})
}

// RecordRefund stores a refund or return of an order recorded earlier. Returns NotFound for
// an unknown order.
func (s *Service) RecordRefund(ctx context.Context, keyID, orderID string, r TillRefund) (Result, error) {
	if err := s.requireTrusted(ctx); err != nil {
		return Result{}, err
	}
	if strings.TrimSpace(r.RefundID) == "" || len(r.RefundID) > 128 {
		return Result{}, problem.InvalidField("refund_id", "is required (at most 128 characters), so a repeated call is recognised")
	}
	if r.Kind == "" {
		r.Kind = "refund"
	}
	if r.Kind != "refund" && r.Kind != "return" {
		return Result{}, problem.InvalidField("kind", "must be refund or return")
	}
	if r.Amount < 0 {
		return Result{}, problem.InvalidField("amount", "must not be negative")
	}
	cust, err := s.store.OrderCustomer(ctx, orderID)
	if err != nil {
		return Result{}, err
	}
	m := Message{Type: TypeTrack, Name: "Order Refunded", MessageID: "till:" + orderID + ":refund:" + r.RefundID, CustomerID: cust,
		Timestamp:  s.now(),
		Properties: map[string]any{"order_id": orderID, "total": num(r.Amount), "reason": r.Kind, "products": itemList(r.Items)}}
	return s.Ingest(ctx, Batch{KeyID: keyID, Messages: []Message{m}, ReceivedAt: s.now()})
}

// OrderCustomer returns the customer an order was recorded for, so that a platform's refund
// (which names the order, not the buyer) reaches the right profile. Returns NotFound for an
// order not recorded yet.
func (s *Service) OrderCustomer(ctx context.Context, orderID string) (string, error) {
	if err := s.requireTrusted(ctx); err != nil {
		return "", err
	}
	return s.store.OrderCustomer(ctx, orderID)
}

// CancelOrder records that an order was cancelled. Returns NotFound for an unknown order.
func (s *Service) CancelOrder(ctx context.Context, keyID, orderID string) (Result, error) {
	if err := s.requireTrusted(ctx); err != nil {
		return Result{}, err
	}
	cust, err := s.store.OrderCustomer(ctx, orderID)
	if err != nil {
		return Result{}, err
	}
	m := Message{Type: TypeTrack, Name: "Order Cancelled", MessageID: "till:" + orderID + ":cancelled", CustomerID: cust,
		Timestamp: s.now(), Properties: map[string]any{"order_id": orderID}}
	return s.Ingest(ctx, Batch{KeyID: keyID, Messages: []Message{m}, ReceivedAt: s.now()})
}

// Orders lists a customer's orders, including those of customers merged into it.
func (s *Service) Orders(ctx context.Context, customerID string, limit int) ([]Order, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.read"); err != nil {
		return nil, err
	}
	if !ident.Valid(customerID) {
		return nil, problem.InvalidField("id", "is not a valid customer id")
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > 500 {
		return nil, problem.InvalidField("limit", "must be at most 500")
	}
	_, tree, err := s.store.CustomerTree(ctx, customerID)
	if err != nil {
		return nil, err
	}
	if err := s.ledger.RecordOptOut(ctx, customerID); err != nil {
		return nil, err
	}
	orders, err := s.store.ListOrders(ctx, tree, limit)
	if err != nil {
		return nil, err
	}
	e := audit.New(ctx, "orders.read", customerID, nil, "")
	return orders, s.audit.AppendAudit(ctx, e)
}

// AbandonedCarts lists checkouts started more than after ago with no order since.
func (s *Service) AbandonedCarts(ctx context.Context, after time.Duration, limit int) ([]AbandonedCart, error) {
	if _, err := authz.Require(ctx, s.catalog, "customers.read"); err != nil {
		return nil, err
	}
	if after <= 0 {
		after = s.config.CartAbandonAfter
	}
	if after <= 0 {
		after = time.Hour
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	carts, err := s.store.AbandonedCarts(ctx, s.now().Add(-after), limit)
	if err != nil {
		return nil, err
	}
	e := audit.New(ctx, "carts.read", "", nil, "")
	e.Target = "abandoned_carts:" + strconv.Itoa(len(carts))
	return carts, s.audit.AppendAudit(ctx, e)
}

// fillContact sets the contact details of p (Message.FillContact) on root's profile, each
// where the profile holds no value for its field and no customer outside root's tree holds it
// (a merge the limits refused leaves it with its holder), so the customer is found by them.
func (st *txState) fillContact(ctx context.Context, root string, p *prepared) error {
	pr, err := st.profile(ctx, root)
	if err != nil {
		return err
	}
	fill := map[string]any{}
	for _, id := range p.ids {
		v, ok := p.contact[id.Kind]
		if !ok {
			continue
		}
		if h := st.holders[tokenKey(id.Kind, id.Token)]; h != nil && st.rootOf(h.Root) != root {
			continue
		}
		if _, had := pr.values[id.Kind]; !had {
			fill[id.Kind] = v
		}
	}
	if len(fill) == 0 {
		return nil
	}
	_, err = st.applyTraits(ctx, root, fill)
	return err
}

func num(f float64) json.Number { return json.Number(strconv.FormatFloat(f, 'f', -1, 64)) }

func itemList(items []OrderItem) []any {
	out := make([]any, 0, len(items))
	for _, it := range items {
		o := map[string]any{"price": num(it.Price), "quantity": json.Number(strconv.FormatInt(it.Quantity, 10))}
		for k, v := range map[string]string{"product_id": it.ProductID, "sku": it.SKU, "name": it.Name, "category": it.Category} {
			if v != "" {
				o[k] = v
			}
		}
		out = append(out, o)
	}
	return out
}

// requireTrusted checks that the actor may record orders: events.write and customers.write,
// the trusted server-side writer. Orders carry money and name their customer, so a
// browser-safe key, which anyone can copy from a page, records none.
func (s *Service) requireTrusted(ctx context.Context) error {
	if _, err := authz.Require(ctx, s.catalog, "events.write"); err != nil {
		return err
	}
	_, err := authz.Require(ctx, s.catalog, "customers.write")
	return err
}
