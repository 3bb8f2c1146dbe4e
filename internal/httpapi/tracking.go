package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/problem"
)

// The tracking routes speak Segment's HTTP API: a write key as the Basic user name or as
// writeKey in the body, JSON or text/plain bodies, 200 {"success": true} once stored, 400 for
// bad input (too large included), 401 for a bad key and 429 with Retry-After when the server
// is saturated. Their errors are Segment-style JSON rather than problem+json, because that is
// what the libraries log.

// trackingError is the body of a refused tracking request.
type trackingError struct {
	Success   bool   `json:"success"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id"`
}

// DefaultTrackingSlots bounds the tracking requests read and processed at once; beyond it
// requests wait up to TrackingWait for a slot and then get 429, so memory stays bounded by
// slots × batch size however many clients send.
const DefaultTrackingSlots = 16

// TrackingWait is how long a tracking request may wait for a slot before 429.
var TrackingWait = 2 * time.Second

func (s *Server) ingestRoutes() []route {
	if s.Ingest == nil {
		return nil
	}
	var rs []route
	short := map[string]string{}
	for k, v := range ingest.ShortKinds {
		short[v] = k
	}
	for _, kind := range ingest.Kinds {
		h := s.track(kind)
		sum := "Segment-compatible " + kind + " (write key as Basic user name or writeKey in the body). 200 once durably stored."
		for _, p := range []string{"/v1/" + kind, "/v1/" + short[kind]} {
			rs = append(rs,
				route{Method: "POST", Path: p, Summary: sum, Public: true, Body: "TrackingMessage", Returns: "TrackingResult", Status: 200, Errors: []int{400, 401, 403, 429}, handle: h},
				route{Method: "OPTIONS", Path: p, Summary: "CORS preflight for browser libraries.", Public: true, Status: 204, handle: s.preflight})
		}
	}
	purpose := []param{purposeHeader}
	return append(rs,
		route{Method: "GET", Path: "/v1/projects/{writeKey}/settings", Summary: "Settings analytics.js loads for a write key; points it at this server.", Public: true, Returns: "object", Status: 200, Errors: []int{404}, handle: s.projectSettings},
		route{Method: "GET", Path: "/v1/customers/{id}/events", Summary: "The customer's events (and those of customers merged into it), newest first; personal parts revealed for a purpose.",
			Query: []param{{Name: "type", Type: "string", Description: "Only this message type (track, page …)."}, {Name: "name", Type: "string", Description: "Only events with this name."},
				{Name: "category", Type: "string", Description: "Only this catalog category."}, {Name: "since", Type: "string", Description: "RFC 3339 time, inclusive."},
				{Name: "until", Type: "string", Description: "RFC 3339 time, exclusive."}, {Name: "limit", Type: "integer", Description: "Page size, 1 to 500 (default 50)."},
				{Name: "cursor", Type: "string", Description: "The next_cursor of the previous page."}},
			Headers: purpose, Returns: "EventList", Status: 200, Errors: []int{403, 404, 422}, handle: s.listEvents},
		route{Method: "GET", Path: "/v1/customers/{id}/identities", Summary: "The identifiers stitched to the customer (masked unless revealed for a purpose).", Headers: purpose, Returns: "IdentityList", Status: 200, Errors: []int{403, 404, 422}, handle: s.listIdentities},
		route{Method: "GET", Path: "/v1/customers/{id}/merges", Summary: "Merges involving the customer, with their reasons.", Returns: "MergeList", Status: 200, Errors: []int{403, 404, 422}, handle: s.listMerges},
		route{Method: "POST", Path: "/v1/merges/{id}/undo", Summary: "Undo a merge: both customers and their events are restored.", Returns: "Merge", Status: 200, Errors: []int{403, 404, 409, 422}, handle: s.undoMerge},
		route{Method: "GET", Path: "/v1/customers/{id}/orders", Summary: "The customer's orders with line items and refunds.", Query: []param{{Name: "limit", Type: "integer", Description: "1 to 500 (default 50)."}}, Returns: "OrderList", Status: 200, Errors: []int{403, 404, 422}, handle: s.listOrders},
		route{Method: "POST", Path: "/v1/orders", Summary: "Record an order from a till (idempotent by order_id).", Body: "TillOrder", Returns: "TrackingResult", Status: 200, Errors: []int{400, 403, 404, 422}, handle: s.recordOrder},
		route{Method: "POST", Path: "/v1/orders/{order_id}/refunds", Summary: "Record a refund or return of an order (idempotent by refund_id).", Body: "TillRefund", Returns: "TrackingResult", Status: 200, Errors: []int{400, 403, 404, 422}, handle: s.recordRefund},
		route{Method: "POST", Path: "/v1/orders/{order_id}/cancel", Summary: "Record that an order was cancelled.", Returns: "TrackingResult", Status: 200, Errors: []int{403, 404}, handle: s.cancelOrder},
		route{Method: "GET", Path: "/v1/carts/abandoned", Summary: "Checkouts started with no order since (default older than the configured time).", Query: []param{{Name: "older_than", Type: "string", Description: "A Go duration such as 1h or 30m."}, {Name: "limit", Type: "integer", Description: "1 to 1000 (default 100)."}}, Returns: "CartList", Status: 200, Errors: []int{403, 422}, handle: s.abandonedCarts},
		route{Method: "GET", Path: "/v1/ingest/drops", Summary: "What minimisation dropped from a write key's messages (undeclared, invalid, PII, limits), by name; never values.", Query: []param{{Name: "key_id", Type: "string", Description: "The write key's id.", Required: true}}, Returns: "DropCounts", Status: 200, Errors: []int{403, 422}, handle: s.ingestDrops},
	)
}

// ingestMetrics are registered with the server's registry.
type ingestMetrics struct {
	events  *prometheus.CounterVec
	dropped *prometheus.CounterVec
	batches prometheus.Histogram
	waiting prometheus.Gauge
}

func (s *Server) registerIngestMetrics() {
	if s.Ingest == nil {
		return
	}
	m := &ingestMetrics{
		// Labels are write key ids (which name a key, never a customer) and fixed words.
		events:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_ingest_messages_total", Help: "Tracking messages by write key id and outcome (stored, duplicate)."}, []string{"key_id", "outcome"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_ingest_dropped_total", Help: "Traits, properties and identifiers dropped at the door, by write key id and reason."}, []string{"key_id", "reason"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "steward_ingest_batch_seconds", Help: "Time to store one tracking request.", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "steward_ingest_inflight", Help: "Tracking requests being processed."}),
	}
	s.registry.MustRegister(m.events, m.dropped, m.batches, m.waiting)
	s.ingestMetrics = m
	s.Ingest.Observe = func(keyID string, stored, duplicates int, dropped map[string]int64) {
		m.observe(keyID, ingest.Result{Stored: stored, Duplicates: duplicates}, dropped)
	}
	slots := s.TrackingSlots
	if slots <= 0 {
		slots = DefaultTrackingSlots
	}
	s.trackSlots = make(chan struct{}, slots)
}

func (m *ingestMetrics) observe(keyID string, res ingest.Result, dropped map[string]int64) {
	m.events.WithLabelValues(keyID, "stored").Add(float64(res.Stored))
	m.events.WithLabelValues(keyID, "duplicate").Add(float64(res.Duplicates))
	for name, n := range dropped {
		reason, _, _ := strings.Cut(name, ":")
		m.dropped.WithLabelValues(keyID, reason).Add(float64(n))
	}
}

func cors(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	origin := r.Header.Get("Origin")
	if origin == "" {
		origin = "*"
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Authorization, Sec-GPC")
	h.Set("Access-Control-Max-Age", "86400")
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) error {
	cors(w, r)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) trackFail(w http.ResponseWriter, r *http.Request, err error) error {
	rid := w.Header().Get("Request-Id")
	kind := problem.KindOf(err)
	status, code := http.StatusBadRequest, "invalid_request"
	switch kind {
	case problem.Invalid, problem.TooLarge:
	case problem.Unauthenticated:
		status, code = http.StatusUnauthorized, "invalid_write_key"
	case problem.Forbidden:
		status, code = http.StatusForbidden, "forbidden"
	case problem.RateLimited:
		status, code = http.StatusTooManyRequests, "rate_limited"
		w.Header().Set("Retry-After", "1")
	case problem.NotFound:
		status, code = http.StatusNotFound, "not_found"
	case problem.Unavailable:
		status, code = http.StatusServiceUnavailable, "unavailable"
		w.Header().Set("Retry-After", "1")
		s.Log.Error("tracking request failed", "request_id", rid, "route", r.Pattern, "kind", kind.String(), "err", err)
	default:
		status, code = http.StatusInternalServerError, "internal"
		s.Log.Error("tracking request failed", "request_id", rid, "route", r.Pattern, "kind", kind.String(), "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="steward"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(trackingError{Code: code, Message: problem.Detail(err), Field: problem.FieldOf(err), RequestID: rid})
}

// track serves one tracking route.
func (s *Server) track(kind string) handlerFunc {
	limit := int64(ingest.MaxEventBytes)
	if kind == ingest.KindBatch {
		limit = ingest.MaxBatchBytes
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		cors(w, r)
		start := time.Now()
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
			return s.trackFail(w, r, problem.InvalidField("Content-Type", "must be application/json or text/plain"))
		}
		// A slot first: waiting requests hold no body in memory, so overload costs sockets,
		// not heap, and turns into 429 after TrackingWait.
		t := time.NewTimer(TrackingWait)
		select {
		case s.trackSlots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return s.trackFail(w, r, problem.New(problem.RateLimited, "server is saturated; retry later"))
		case <-r.Context().Done():
			t.Stop()
			return s.trackFail(w, r, problem.New(problem.Unavailable, "request cancelled"))
		}
		defer func() { <-s.trackSlots }()
		s.ingestMetrics.waiting.Inc()
		defer s.ingestMetrics.waiting.Dec()
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				return s.trackFail(w, r, problem.New(problem.TooLarge, "request body is too large"))
			}
			return s.trackFail(w, r, problem.InvalidField("body", "could not be read"))
		}
		if int64(len(body)) > limit {
			return s.trackFail(w, r, problem.New(problem.TooLarge, "request body must be at most %d bytes", limit))
		}
		received := time.Now().UTC()
		req, err := ingest.Parse(kind, body, received)
		if err != nil {
			return s.trackFail(w, r, err)
		}
		key, _, _ := r.BasicAuth()
		if key == "" {
			key = req.WriteKey
		}
		if key == "" {
			return s.trackFail(w, r, problem.New(problem.Unauthenticated, "missing write key: send it as the Basic user name or as writeKey in the body"))
		}
		actor, err := s.APIKeys.Authenticate(r.Context(), key)
		if err != nil {
			return s.trackFail(w, r, problem.New(problem.Unauthenticated, "invalid write key"))
		}
		ctx := audit.WithActor(r.Context(), actor)
		keyID := strings.TrimPrefix(actor.ID, "key:")
		res, err := s.Ingest.Ingest(ctx, ingest.Batch{KeyID: keyID, Messages: req.Messages, ReceivedAt: received, GPC: strings.TrimSpace(r.Header.Get("Sec-GPC")) == "1"})
		if err != nil {
			return s.trackFail(w, r, err)
		}
		s.ingestMetrics.batches.Observe(time.Since(start).Seconds())
		return writeJSON(w, http.StatusOK, map[string]any{"success": true, "stored": res.Stored, "duplicates": res.Duplicates})
	}
}

// projectSettings answers analytics.js's settings request for a write key, pointing the
// library at this server so that only the host changes in a site's snippet.
func (s *Server) projectSettings(w http.ResponseWriter, r *http.Request) error {
	cors(w, r)
	key := r.PathValue("writeKey")
	actor, err := s.APIKeys.Authenticate(r.Context(), key)
	if err != nil || !s.Catalog.RoleHas(actor.Role, "events.write") {
		return problem.NotFoundf("unknown write key")
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	w.Header().Set("Cache-Control", "private, max-age=300")
	return writeJSON(w, http.StatusOK, map[string]any{
		"integrations": map[string]any{"Segment.io": map[string]any{"apiKey": key, "apiHost": r.Host + "/v1", "protocol": proto, "unbundledIntegrations": []string{}, "addBundledMetadata": false}},
		"plan": map[string]any{"track": map[string]any{"__default": map[string]any{"enabled": true, "integrations": map[string]any{}}},
			"identify": map[string]any{"__default": map[string]any{"enabled": true}}, "group": map[string]any{"__default": map[string]any{"enabled": true}}},
		"edgeFunction": map[string]any{}, "analyticsNextEnabled": true, "middlewareSettings": map[string]any{}, "enabledMiddleware": map[string]any{},
		"metrics": map[string]any{"sampleRate": 0}, "legacyVideoPluginsEnabled": false, "remotePlugins": []any{},
	})
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := ingest.EventFilter{Type: q.Get("type"), Name: q.Get("name"), Category: q.Get("category")}
	var err error
	if f.Limit, err = intParam(r, "limit", 50); err != nil {
		return err
	}
	if f.Since, err = timeParam(r, "since"); err != nil {
		return err
	}
	if f.Until, err = timeParam(r, "until"); err != nil {
		return err
	}
	if c := q.Get("cursor"); c != "" {
		if f.BeforeID, err = strconv.ParseInt(c, 10, 64); err != nil || f.BeforeID < 1 {
			return problem.InvalidField("cursor", "is not a valid cursor")
		}
	}
	evs, next, err := s.Ingest.Events(r.Context(), r.PathValue("id"), r.Header.Get("Steward-Purpose"), f)
	if err != nil {
		return err
	}
	out := map[string]any{"data": evs}
	if next != "" {
		out["next_cursor"] = next
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) listIdentities(w http.ResponseWriter, r *http.Request) error {
	ids, root, err := s.Ingest.Identities(r.Context(), r.PathValue("id"), r.Header.Get("Steward-Purpose"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": ids, "root_id": root})
}

func (s *Server) listMerges(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.Ingest.Merges(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": ms})
}

func (s *Server) undoMerge(w http.ResponseWriter, r *http.Request) error {
	m, err := s.unmerge(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (s *Server) listOrders(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		return err
	}
	os, err := s.Ingest.Orders(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": os})
}

func actorKeyID(ctx context.Context) string {
	a, _ := audit.ActorFrom(ctx)
	return strings.TrimPrefix(a.ID, "key:")
}

func (s *Server) recordOrder(w http.ResponseWriter, r *http.Request) error {
	var in ingest.TillOrder
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := s.Ingest.RecordOrder(r.Context(), actorKeyID(r.Context()), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"success": true, "stored": res.Stored, "duplicates": res.Duplicates})
}

func (s *Server) recordRefund(w http.ResponseWriter, r *http.Request) error {
	var in ingest.TillRefund
	if err := decode(r, &in); err != nil {
		return err
	}
	res, err := s.Ingest.RecordRefund(r.Context(), actorKeyID(r.Context()), r.PathValue("order_id"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"success": true, "stored": res.Stored, "duplicates": res.Duplicates})
}

func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Ingest.CancelOrder(r.Context(), actorKeyID(r.Context()), r.PathValue("order_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"success": true, "stored": res.Stored, "duplicates": res.Duplicates})
}

func (s *Server) abandonedCarts(w http.ResponseWriter, r *http.Request) error {
	var after time.Duration
	if v := r.URL.Query().Get("older_than"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return problem.InvalidField("older_than", "must be a positive duration such as 1h")
		}
		after = d
	}
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		return err
	}
	carts, err := s.Ingest.AbandonedCarts(r.Context(), after, limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"data": carts})
}

func (s *Server) ingestDrops(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Ingest.Drops(r.Context(), r.URL.Query().Get("key_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"key_id": r.URL.Query().Get("key_id"), "dropped": d})
}

func init() {
	integer := map[string]any{"type": "integer"}
	number := map[string]any{"type": "number"}
	item := obj(map[string]any{"product_id": str(), "sku": str(), "name": str(), "category": str(), "price": number, "quantity": integer})
	for name, s := range map[string]any{
		"TrackingMessage": map[string]any{"type": "object", "description": "A Segment message (identify, track, page, screen, group, alias) or, on /v1/batch, {\"batch\": [messages], \"context\": {…}, \"sentAt\": …}. userId or anonymousId is required; at most 32 KB per message, 500 KB and 2,500 messages per batch.",
			"properties": map[string]any{"type": str(), "messageId": str(), "userId": str(), "anonymousId": str(), "previousId": str(), "groupId": str(), "event": str(), "name": str(),
				"properties": map[string]any{"type": "object"}, "traits": map[string]any{"type": "object"}, "context": map[string]any{"type": "object"},
				"timestamp": dateTime(), "originalTimestamp": dateTime(), "sentAt": dateTime(), "writeKey": str(), "batch": arr(map[string]any{"type": "object"})}},
		"TrackingResult": obj(map[string]any{"success": map[string]any{"type": "boolean"}, "stored": integer, "duplicates": integer}),
		"Event": obj(map[string]any{"id": str(), "customer_id": str(), "type": str(), "name": str(), "category": str(), "timestamp": dateTime(), "received_at": dateTime(),
			"expires_at": dateTime(), "properties": map[string]any{"type": "object"}, "context": map[string]any{"type": "object"}, "revealed": map[string]any{"type": "boolean"}}),
		"EventList":    obj(map[string]any{"data": arr(ref("Event")), "next_cursor": str()}),
		"IdentityList": obj(map[string]any{"root_id": str(), "data": arr(obj(map[string]any{"kind": str(), "customer_id": str(), "value": str(), "created_at": dateTime()}))}),
		"Merge":        obj(map[string]any{"id": str(), "winner_id": str(), "loser_id": str(), "reason": str(), "created_at": dateTime(), "undone_at": dateTime()}),
		"MergeList":    obj(map[string]any{"data": arr(ref("Merge"))}),
		"OrderList": obj(map[string]any{"data": arr(obj(map[string]any{"order_id": str(), "customer_id": str(), "status": str(), "currency": str(), "total": number, "tax": number,
			"shipping": number, "discount": number, "refunded": number, "placed_at": dateTime(), "updated_at": dateTime(), "items": arr(item),
			"refunds": arr(obj(map[string]any{"kind": str(), "amount": number, "items": arr(item), "at": dateTime()}))}))}),
		"TillOrder": map[string]any{"type": "object", "required": []string{"order_id", "currency"}, "properties": map[string]any{"customer_id": str(), "user_id": str(), "email": str(),
			"order_id": str(), "currency": str(), "total": number, "tax": number, "shipping": number, "discount": number, "items": arr(item), "placed_at": dateTime()}},
		"TillRefund": map[string]any{"type": "object", "required": []string{"refund_id"}, "properties": map[string]any{"refund_id": str(), "kind": map[string]any{"enum": []string{"refund", "return"}},
			"amount": number, "items": arr(item)}},
		"CartList":   obj(map[string]any{"data": arr(obj(map[string]any{"customer_id": str(), "checkout_id": str(), "started_at": dateTime(), "value": number, "currency": str()}))}),
		"DropCounts": obj(map[string]any{"key_id": str(), "dropped": map[string]any{"type": "object", "additionalProperties": integer}}),
	} {
		schemas[name] = s
	}
}
