package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/customer"
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
		sum := summary("Segment-compatible " + kind + " (write key as Basic user name or writeKey in the body). 200 once durably stored. Browser-style requests (a short path, writeKey in the body, an Origin header) take only collect keys.")
		for i, p := range []string{"/v1/" + kind, "/v1/" + short[kind]} {
			rs = append(rs,
				post(p, s.track(kind, i == 1), sum, public, in[trackingMessage](), out[TrackingResult](200), errorsAs[trackingError](400, 401, 403, 404, 429, 500, 503)),
				options(p, s.preflight, summary("CORS preflight for browser libraries."), public, noBody(204)))
		}
	}
	return append(rs,
		get("/v1/projects/{writeKey}/settings", s.projectSettings, public, out[projectSettings](200), errs(403, 404, 429)),
		get("/v1/customers/{id}/events", s.listEvents, query(eventQuery...), header(purposeHeader), out[EventList](200), errs(403, 404, 422)),
		get("/v1/customers/{id}/identities", s.listIdentities, header(purposeHeader), out[IdentityList](200), errs(403, 404, 422)),
		get("/v1/customers/{id}/merges", s.listMerges, out[MergeList](200), errs(403, 404, 422)),
		post("/v1/merges/{id}/undo", s.undoMerge, out[ingest.Merge](200), errs(403, 404, 409, 422)),
		get("/v1/customers/{id}/orders", s.listOrders, query(orderQuery...), out[OrderList](200), errs(403, 404, 422)),
		post("/v1/orders", s.recordOrder, in[ingest.TillOrder](), out[TrackingResult](200), errs(400, 403, 404, 413, 422)),
		post("/v1/orders/{order_id}/refunds", s.recordRefund, in[ingest.TillRefund](), out[TrackingResult](200), errs(400, 403, 404, 413, 422)),
		post("/v1/orders/{order_id}/cancel", s.cancelOrder, out[TrackingResult](200), errs(403, 404)),
		get("/v1/carts/abandoned", s.abandonedCarts, query(cartQuery...), out[CartList](200), errs(403, 422)),
		get("/v1/ingest/drops", s.ingestDrops, query(dropQuery...), out[DropCounts](200), errs(403, 422)),
	)
}

// ingestMetrics are registered with the server's registry.
type ingestMetrics struct {
	batches prometheus.Histogram
	waiting prometheus.Gauge
}

// registerIngestMetrics exports the ingest service's own counts and times tracking requests.
func (s *Server) registerIngestMetrics() {
	if s.Ingest == nil {
		return
	}
	m := &ingestMetrics{
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "steward_ingest_batch_seconds", Help: "Time to store one tracking request.", Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{Name: "steward_ingest_inflight", Help: "Tracking requests being processed."}),
	}
	s.registry.MustRegister(statsCollector{s.Ingest.Stats()}, m.batches, m.waiting)
	s.ingestMetrics = m
	slots := s.TrackingSlots
	if slots <= 0 {
		slots = DefaultTrackingSlots
	}
	s.trackSlots = make(chan struct{}, slots)
}

// Labels are write key ids (which name a key, never a customer) and fixed words.
var (
	messagesDesc = prometheus.NewDesc("steward_ingest_messages_total", "Tracking messages by write key id and outcome (stored, duplicate).", []string{"key_id", "outcome"}, nil)
	droppedDesc  = prometheus.NewDesc("steward_ingest_dropped_total", "Traits, properties and identifiers dropped at the door, by write key id and reason.", []string{"key_id", "reason"}, nil)
	sharedDesc   = prometheus.NewDesc("steward_ingest_shared_transactions_total",
		"Transactions that stored concurrent deliveries of several sources, by how (together: as one batch; apart: one source after the other).", []string{"stored"}, nil)
)

// statsCollector reads the ingest service's counts at each scrape.
type statsCollector struct{ stats *ingest.Stats }

func (c statsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- messagesDesc
	ch <- droppedDesc
	ch <- sharedDesc
}

func (c statsCollector) Collect(ch chan<- prometheus.Metric) {
	c.stats.Each(func(k ingest.StatKey, n int64) {
		desc := messagesDesc
		if k.Kind == ingest.StatDropped {
			desc = droppedDesc
		}
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n), k.KeyID, k.Label)
	})
	together, apart := c.stats.Shared()
	ch <- prometheus.MustNewConstMetric(sharedDesc, prometheus.CounterValue, float64(together), "together")
	ch <- prometheus.MustNewConstMetric(sharedDesc, prometheus.CounterValue, float64(apart), "apart")
}

// undecryptableDesc has no labels: which customers were left out is in the log, by id.
var undecryptableDesc = prometheus.NewDesc("steward_undecryptable_records_total",
	"Times a listing, look-up, duplicate scan, consent match or retention run left out a customer profile that does not decrypt.", nil, nil)

// customerStatsCollector reads the customer vault's counts at each scrape.
type customerStatsCollector struct{ stats *customer.Stats }

func (c customerStatsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- undecryptableDesc }

func (c customerStatsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(undecryptableDesc, prometheus.CounterValue, float64(c.stats.Undecryptable()))
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

// track serves one tracking route; short says it is one of the browser library's short
// paths (/v1/t …), which only browsers use.
func (s *Server) track(kind string, short bool) handlerFunc {
	limit := int64(ingest.MaxEventBytes)
	if kind == ingest.KindBatch {
		limit = ingest.MaxBatchBytes
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		cors(w, r)
		start := time.Now()
		if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") && !strings.HasPrefix(ct, "text/plain") {
			return s.refuseUnread(w, r, problem.InvalidField("Content-Type", "must be application/json or text/plain"))
		}
		addr := s.limits.clientAddr(r)
		if err := s.limits.allowAuth(addr); err != nil {
			return s.refuseUnread(w, r, err)
		}
		// A key sent as the Basic user name is checked before anything is read, so a request
		// with a wrong key costs no body and no slot.
		var actor authz.Actor
		key, _, _ := r.BasicAuth()
		browser := short || r.Header.Get("Origin") != ""
		if key != "" {
			a, err := s.writeKey(r, addr, key, browser)
			if err != nil {
				return s.refuseUnread(w, r, err)
			}
			actor = a
		}
		if err := s.limits.enterTracking(addr, s.maxReaders()); err != nil {
			return s.refuseUnread(w, r, err)
		}
		defer s.limits.leaveTracking(addr)
		s.ingestMetrics.waiting.Inc()
		defer s.ingestMetrics.waiting.Dec()
		// The body is read before a slot is taken, under a deadline: a slow sender holds its
		// own connection and one of its address's few places, never a slot that stores others'
		// events. Memory stays bounded by addresses × TrackingPerAddress × the body limit.
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(TrackingReadTimeout))
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		_ = rc.SetReadDeadline(time.Time{})
		if err != nil {
			var mbe *http.MaxBytesError
			var ne net.Error
			switch {
			case errors.As(err, &mbe):
				return s.refuseUnread(w, r, problem.New(problem.TooLarge, "request body is too large"))
			case errors.As(err, &ne) && ne.Timeout():
				return s.refuseUnread(w, r, problem.InvalidField("body", "took longer than %s to arrive", TrackingReadTimeout))
			}
			return s.refuseUnread(w, r, problem.InvalidField("body", "could not be read"))
		}
		if int64(len(body)) > limit {
			return s.refuseUnread(w, r, problem.New(problem.TooLarge, "request body must be at most %d bytes", limit))
		}
		received := time.Now().UTC()
		// Parsed messages take several times the body's bytes: a request whose key is known
		// already waits for its slot as bytes and is parsed once it has one.
		var req *ingest.Request
		if key == "" {
			if req, err = ingest.Parse(kind, body, received); err != nil {
				return s.trackFail(w, r, err)
			}
			if key = req.WriteKey; key == "" {
				return s.trackFail(w, r, problem.New(problem.Unauthenticated, "missing write key: send it as the Basic user name or as writeKey in the body"))
			}
			if actor, err = s.writeKey(r, addr, key, true); err != nil {
				return s.trackFail(w, r, err)
			}
		}
		keyID := strings.TrimPrefix(actor.ID, "key:")
		// The key's share of the slots, then a slot: only requests ready to be stored wait,
		// and overload turns into 429 after TrackingWait.
		t := time.NewTimer(TrackingWait)
		defer t.Stop()
		share := s.limits.keySlots(keyID, s.keySlots())
		for _, sem := range []chan struct{}{share, s.trackSlots} {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-t.C:
				return s.trackFail(w, r, problem.New(problem.RateLimited, "server is saturated; retry later"))
			case <-r.Context().Done():
				return s.trackFail(w, r, problem.New(problem.Unavailable, "request cancelled"))
			}
		}
		if req == nil {
			if req, err = ingest.Parse(kind, body, received); err != nil {
				return s.trackFail(w, r, err)
			}
		}
		body = nil
		ctx := authz.WithActor(r.Context(), actor)
		res, err := s.Ingest.Ingest(ctx, ingest.Batch{KeyID: keyID, Messages: req.Messages, ReceivedAt: received, GPC: strings.TrimSpace(r.Header.Get("Sec-GPC")) == "1"})
		if err != nil {
			return s.trackFail(w, r, err)
		}
		s.ingestMetrics.batches.Observe(time.Since(start).Seconds())
		return writeJSON(w, http.StatusOK, trackingResult(res))
	}
}

// refuseUnread answers a tracking request whose body was not (wholly) read, closing the
// connection after the answer: otherwise the server would read up to 256 KiB of the unread
// body before answering, and a client trickling it would hold the answer back.
func (s *Server) refuseUnread(w http.ResponseWriter, r *http.Request, err error) error {
	w.Header().Set("Connection", "close")
	return s.trackFail(w, r, err)
}

// writeKey authenticates a tracking request's write key, counting a failure against the
// client's address; browser says the request came the way pages and apps send.
func (s *Server) writeKey(r *http.Request, addr, key string, browser bool) (authz.Actor, error) {
	actor, err := s.APIKeys.WriteKey(r.Context(), key, browser)
	if problem.Is(err, problem.Unauthenticated) {
		s.limits.failedAuth(addr)
		return authz.Actor{}, problem.New(problem.Unauthenticated, "invalid write key")
	}
	return actor, err
}

// keySlots is how many slots one write key may hold: all but a quarter, so that the other
// keys always find one.
func (s *Server) keySlots() int {
	return max(cap(s.trackSlots)-cap(s.trackSlots)/4, 1)
}

// maxReaders bounds the tracking bodies read or held at once, all clients together: four per
// slot, so bursts queue without a client waiting to send, and memory stays bounded by
// maxReaders × the batch limit.
func (s *Server) maxReaders() int { return max(4*cap(s.trackSlots), 64) }

// projectSettings answers analytics.js's settings request for a write key, pointing the
// library at this server so that only the host changes in a site's snippet.
func (s *Server) projectSettings(w http.ResponseWriter, r *http.Request) error {
	cors(w, r)
	key := r.PathValue("writeKey")
	addr := s.limits.clientAddr(r)
	if err := s.limits.allowAuth(addr); err != nil {
		return err
	}
	if _, err := s.APIKeys.SettingsKey(r.Context(), key); err != nil {
		if problem.Is(err, problem.NotFound) {
			s.limits.failedAuth(addr)
		}
		return err
	}
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	w.Header().Set("Cache-Control", "private, max-age=300")
	return writeJSON(w, http.StatusOK, settingsFor(key, r.Host+"/v1", proto))
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
	return writeJSON(w, http.StatusOK, EventList{Data: evs, NextCursor: next})
}

func (s *Server) listIdentities(w http.ResponseWriter, r *http.Request) error {
	ids, root, err := s.Ingest.Identities(r.Context(), r.PathValue("id"), r.Header.Get("Steward-Purpose"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, IdentityList{Data: ids, RootID: root})
}

func (s *Server) listMerges(w http.ResponseWriter, r *http.Request) error {
	ms, err := s.Ingest.Merges(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, MergeList{Data: ms})
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
	return writeJSON(w, http.StatusOK, OrderList{Data: os})
}

func actorKeyID(ctx context.Context) string {
	a, _ := authz.ActorFrom(ctx)
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
	return writeJSON(w, http.StatusOK, trackingResult(res))
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
	return writeJSON(w, http.StatusOK, trackingResult(res))
}

func (s *Server) cancelOrder(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Ingest.CancelOrder(r.Context(), actorKeyID(r.Context()), r.PathValue("order_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, trackingResult(res))
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
	return writeJSON(w, http.StatusOK, CartList{Data: carts})
}

func (s *Server) ingestDrops(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Ingest.Drops(r.Context(), r.URL.Query().Get("key_id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, DropCounts{KeyID: r.URL.Query().Get("key_id"), Dropped: d})
}
