package ingest

import (
	"encoding/json"
	"math"
	"net/netip"
	"strings"
	"time"
)

// Commerce: Segment's e-commerce events also become first-class orders, refunds, reviews and
// checkouts, so that a shop can ask "what did this customer buy and return" without reading
// events. The events stay as they arrived; these records are derived from them in the same
// transaction.

// Order change kinds.
const (
	OrderCompleted  = "completed"
	OrderUpdated    = "updated"
	OrderRefunded   = "refunded"
	OrderCancelled  = "cancelled"
	ProductReviewed = "reviewed"
	CheckoutStarted = "checkout_started"
	CartAdded       = "cart_added"
)

// commerceEvents maps Segment event names to change kinds.
var commerceEvents = map[string]string{
	"Order Completed": OrderCompleted, "Order Updated": OrderUpdated, "Order Refunded": OrderRefunded,
	"Order Cancelled": OrderCancelled, "Product Reviewed": ProductReviewed, "Checkout Started": CheckoutStarted,
	"Product Added": CartAdded,
}

// OrderChange is one commerce fact derived from an event.
type OrderChange struct {
	Kind       string
	CustomerID string
	OrderID    string
	CheckoutID string // checkout_id or cart_id
	At         time.Time
	Currency   string
	Total      float64 // order total; for a refund, the amount refunded
	Tax        float64
	Shipping   float64
	Discount   float64
	Items      []OrderItem
	Reason     string // refund kind: refund or return
	Review     *Review
}

// OrderItem is one line of an order or of a refund.
type OrderItem struct {
	ProductID string  `json:"product_id,omitempty"`
	SKU       string  `json:"sku,omitempty"`
	Name      string  `json:"name,omitempty"`
	Category  string  `json:"category,omitempty"`
	Price     float64 `json:"price"`
	Quantity  int64   `json:"quantity"`
}

// Review is a product review without its text, which stays sealed with its event.
type Review struct {
	ReviewID  string `json:"review_id,omitempty"`
	ProductID string `json:"product_id"`
	Rating    int64  `json:"rating"`
}

// Order is an order as read back.
type Order struct {
	OrderID    string      `json:"order_id"`
	CustomerID string      `json:"customer_id"`
	Status     string      `json:"status"`
	Currency   string      `json:"currency"`
	Total      float64     `json:"total"`
	Tax        float64     `json:"tax"`
	Shipping   float64     `json:"shipping"`
	Discount   float64     `json:"discount"`
	Refunded   float64     `json:"refunded"`
	PlacedAt   time.Time   `json:"placed_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	Items      []OrderItem `json:"items"`
	Refunds    []Refund    `json:"refunds,omitempty"`
}

// Refund is one refund or return of an order.
type Refund struct {
	Kind   string      `json:"kind"`
	Amount float64     `json:"amount"`
	Items  []OrderItem `json:"items,omitempty"`
	At     time.Time   `json:"at"`
}

// AbandonedCart is a checkout started and not followed by an order in time.
type AbandonedCart struct {
	CustomerID string    `json:"customer_id"`
	CheckoutID string    `json:"checkout_id"`
	StartedAt  time.Time `json:"started_at"`
	Value      float64   `json:"value"`
	Currency   string    `json:"currency,omitempty"`
}

// commerceChanges derives the commerce facts of a track message. Values of the wrong type
// are ignored rather than refused: the event itself is kept, and a half-understood order is
// better derived than guessed.
func commerceChanges(m *Message) []OrderChange {
	if m.Type != TypeTrack {
		return nil
	}
	kind, ok := commerceEvents[m.Name]
	if !ok {
		return nil
	}
	p := m.Properties
	c := OrderChange{Kind: kind, At: m.Timestamp, OrderID: text(p["order_id"]), Currency: strings.ToUpper(text(p["currency"]))}
	c.CheckoutID = text(p["checkout_id"])
	if c.CheckoutID == "" {
		c.CheckoutID = text(p["cart_id"])
	}
	c.Total = firstNumber(p, "total", "revenue", "value")
	c.Tax, c.Shipping, c.Discount = number(p["tax"]), number(p["shipping"]), number(p["discount"])
	if list, ok := p["products"].([]any); ok {
		for _, e := range list {
			if o, ok := e.(map[string]any); ok {
				c.Items = append(c.Items, item(o))
			}
		}
	}
	switch kind {
	case OrderCompleted, OrderUpdated, OrderRefunded, OrderCancelled:
		if c.OrderID == "" {
			return nil
		}
		if kind == OrderRefunded {
			c.Reason = "refund"
			if r := text(p["reason"]); r == "return" {
				c.Reason = "return"
			}
		}
	case ProductReviewed:
		r := &Review{ReviewID: text(p["review_id"]), ProductID: text(p["product_id"]), Rating: int64(number(p["rating"]))}
		if r.ProductID == "" || r.Rating < 0 || r.Rating > 10 {
			return nil
		}
		c.Review = r
	case CheckoutStarted, CartAdded:
		if kind == CartAdded && len(c.Items) == 0 && text(p["product_id"]) != "" {
			c.Items = []OrderItem{item(p)}
		}
		if c.CheckoutID == "" {
			c.CheckoutID = c.OrderID
		}
		if c.CheckoutID == "" {
			c.CheckoutID = "default"
		}
	}
	return []OrderChange{c}
}

func item(o map[string]any) OrderItem {
	q := int64(number(o["quantity"]))
	if q == 0 {
		q = 1
	}
	return OrderItem{ProductID: text(o["product_id"]), SKU: text(o["sku"]), Name: text(o["name"]), Category: text(o["category"]),
		Price: number(o["price"]), Quantity: q}
}

// text reads a short non-personal string: ids, names, currencies. A value holding PII is
// treated as absent, so it never reaches a clear column.
func text(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = strings.TrimSpace(x)
	case json.Number:
		s = x.String()
	}
	if len(s) > 128 || findPII(s) != "" {
		return ""
	}
	return s
}

func number(v any) float64 {
	var f float64
	switch x := v.(type) {
	case json.Number:
		f, _ = x.Float64()
	case float64:
		f = x
	case int64:
		f = float64(x)
	case int:
		f = float64(x)
	case string:
		n := json.Number(strings.TrimSpace(x))
		f, _ = n.Float64()
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

func firstNumber(p map[string]any, names ...string) float64 {
	for _, n := range names {
		if _, ok := p[n]; ok {
			return number(p[n])
		}
	}
	return 0
}

// ipPrefix generalises an address to its /24 (IPv4) or /48 (IPv6) network.
func ipPrefix(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ""
	}
	return p.String()
}
