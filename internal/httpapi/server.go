package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stewardhq/steward/internal/activity"
	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/forms"
	"github.com/stewardhq/steward/internal/ident"
	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/keys"
	"github.com/stewardhq/steward/internal/loyalty"
	"github.com/stewardhq/steward/internal/notice"
	"github.com/stewardhq/steward/internal/offer"
	"github.com/stewardhq/steward/internal/portal"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/segment"
	"github.com/stewardhq/steward/internal/source"
	"github.com/stewardhq/steward/internal/sso"
	"github.com/stewardhq/steward/internal/staff"
)

// Customers is what the handlers may do with customer profiles: the audited operations only.
// Decrypting without a role check or an audit entry (customer.Vault) is out of an adapter's
// reach by type.
type Customers interface {
	Create(ctx context.Context, fields map[string]any) (customer.View, error)
	CreateOrUpdate(ctx context.Context, fields map[string]any) (customer.View, bool, error)
	Get(ctx context.Context, id, purpose string) (customer.View, error)
	Patch(ctx context.Context, id string, fields map[string]any) (customer.View, error)
	Find(ctx context.Context, field string, raw any, purpose string, limit int) ([]customer.View, error)
	List(ctx context.Context, after string, limit int, purpose string) ([]customer.View, string, error)
	Search(ctx context.Context, q string, f customer.SearchFilter, limit int, purpose string) ([]customer.SearchResult, error)
	ValidateForm(ctx context.Context, f quality.Form) (quality.Report, error)
	CheckFields(ctx context.Context, fields map[string]any) ([]error, error)
}

// Jobs shows a job to the roles whose work it is (job.Viewer).
type Jobs interface {
	Get(ctx context.Context, id string) (job.Job, error)
}

// Server holds the services the handlers call.
type Server struct {
	Customers Customers
	Consents  *consent.Service
	Rights    *rights.Service
	Audit     *audit.Service
	APIKeys   *auth.Service
	Rotator   *keys.Rotator
	Jobs      Jobs
	Catalog   *catalog.Catalog
	Ready     func(context.Context) error
	Log       *slog.Logger
	Version   string
	// MaxBody bounds request bodies; larger ones get 413 before any work.
	MaxBody int64
	// Imports runs CSV files uploaded to /v1/imports.
	Imports *importer.Service
	// Ingest serves the tracking API; TrackingSlots bounds its concurrent requests.
	Ingest        *ingest.Service
	TrackingSlots int
	// TrustedProxies are the load balancers and proxies whose X-Forwarded-For names the
	// client; the per-client limits count by that address (see limits.go).
	TrustedProxies []netip.Prefix
	// PrivacyOrigins are the origins (scheme://host[:port]) whose pages may call the privacy
	// portal's request route from a script (CORS); empty sends no CORS headers.
	PrivacyOrigins []string
	// Notice serves the public privacy notice and the records of processing.
	Notice *notice.Service
	// Forms serves the hosted forms.
	Forms *forms.Service
	// Portal serves the customer's privacy portal.
	Portal *portal.Service
	// Staff signs people in to the console.
	Staff *staff.Service
	// OIDC, when set, returns the identity provider staff may sign in through, and
	// OIDCRoles maps its groups to roles.
	OIDC      func(ctx context.Context) (*sso.OIDC, error)
	OIDCRoles [][2]string
	// CAS, when set, is the CAS server staff may sign in through; CASRoles maps its groups.
	CAS      *sso.CAS
	CASRoles [][2]string
	// Identity holds the SAML and LDAP sign-ins (identity.go).
	Identity Identity
	// ConsentScript, when set, makes the consent banner's script (/consent.js).
	ConsentScript func(ctx context.Context) ([]byte, error)
	// Activity counts what happened per day, for the console's charts.
	Activity *activity.Service
	// Duplicates serves the duplicate review queue and the quality report.
	Duplicates *duplicate.Service
	// CustomerStats, when set, is exported as steward_undecryptable_records_total: how often
	// a batch read left out a profile that does not decrypt (see customer.Vault.Skip).
	CustomerStats *customer.Stats
	// Sources receives the webhooks of connected platforms; PublicURL is the address vendors
	// call, which Twilio's signature covers.
	Sources *source.Service
	// Segments serves segments, trends, audience exports and destinations.
	Segments  *segment.Service
	PublicURL string
	// Loyalty runs the loyalty programme; Offers the offer catalogue.
	Loyalty       *loyalty.Service
	Offers        *offer.Service
	readiness     readiness
	deliveries    *prometheus.CounterVec
	ingestMetrics *ingestMetrics
	trackSlots    chan struct{}
	limits        *limits

	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// handlerFunc is the one shape of every handler: errors are returned, never written.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handler builds the routed, instrumented handler.
func (s *Server) Handler() http.Handler {
	if s.MaxBody <= 0 {
		s.MaxBody = 1 << 20
	}
	if s.Log == nil {
		s.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.registry = prometheus.NewRegistry()
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Labels are the route pattern and status, never ids or values: metrics carry no personal data.
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_http_requests_total", Help: "HTTP requests by route pattern and status."}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "steward_http_request_seconds", Help: "HTTP request latency by route pattern.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"route"})
	s.registry.MustRegister(s.requests, s.latency)
	s.limits = newLimits(s.TrustedProxies)
	s.registry.MustRegister(s.limits.refused, s.limits.failed)
	s.registerIngestMetrics()
	if s.CustomerStats != nil {
		s.registry.MustRegister(customerStatsCollector{s.CustomerStats})
	}
	s.registerRightsMetrics()
	s.registerSourceMetrics()

	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.Method+" "+rt.Path, s.wrap(rt))
	}
	mux.Handle("/", s.wrap(route{Path: "/", Public: true, handle: func(w http.ResponseWriter, r *http.Request) error {
		if allow := allowed(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return problem.New(problem.MethodNotAllowed, "%s is not allowed here; allowed: %s", r.Method, strings.Join(allow, ", "))
		}
		return problem.NotFoundf("no such route: %s %s", r.Method, r.URL.Path)
	}}))
	return s.secure(mux)
}

// allowed lists the methods the path is served with, for 405 answers.
func allowed(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{"GET", "POST", "PATCH", "PUT", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{})
}

// secure sets the headers every response carries.
func (s *Server) secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (read deadlines, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// wrap adds the request id, authentication, panic recovery, metrics and error rendering.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := newRequestID()
		w.Header().Set("Request-Id", rid)
		ctx := audit.WithRequestID(r.Context(), rid)
		sw := &statusWriter{ResponseWriter: w}
		limit := max(s.MaxBody, rt.MaxBody)
		r.Body = http.MaxBytesReader(sw, r.Body, limit)
		defer func() {
			if p := recover(); p != nil {
				s.Log.Error("panic", "request_id", rid, "route", rt.Path, "panic", fmt.Sprint(p))
				s.writeProblem(sw, r, rid, problem.New(problem.Internal, "internal error"))
			}
			s.requests.WithLabelValues(rt.Method+" "+rt.Path, fmt.Sprint(sw.status)).Inc()
			s.latency.WithLabelValues(rt.Method + " " + rt.Path).Observe(time.Since(start).Seconds())
		}()
		if !rt.Public {
			actor, err := s.authenticateLimited(ctx, r)
			if err != nil {
				s.writeProblem(sw, r, rid, err)
				return
			}
			ctx = authz.WithActor(ctx, actor)
			ctx = s.gpcContext(ctx, r)
		}
		if err := rt.handle(sw, r.WithContext(ctx)); err != nil {
			if !rt.Public && r.Method == http.MethodGet {
				err = s.auditMissing(ctx, rt, r, err)
			}
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = problem.New(problem.TooLarge, "request body is larger than %d bytes", limit)
			}
			if rt.Pages && wantsPage(r) {
				s.writeErrorPage(sw, r, rid, err)
				return
			}
			s.writeProblem(sw, r, rid, err)
		}
	})
}

// auditMissing records an authenticated read answered 404 or 410 (see audit.Service.Missing);
// a failure to record it fails the request, as for any audited read.
func (s *Server) auditMissing(ctx context.Context, rt route, r *http.Request, err error) error {
	kind := problem.KindOf(err)
	if s.Audit == nil || kind != problem.NotFound && kind != problem.Gone {
		return err
	}
	customerID := ""
	if strings.HasPrefix(rt.Path, "/v1/customers/{id}") && ident.Valid(r.PathValue("id")) {
		customerID = r.PathValue("id")
	}
	if aerr := s.Audit.Missing(ctx, rt.Method+" "+rt.Path, customerID, kind == problem.Gone); aerr != nil {
		return aerr
	}
	return err
}

// authenticateLimited authenticates a request unless its client address has failed too often
// this minute, and counts a failure against the address.
func (s *Server) authenticateLimited(ctx context.Context, r *http.Request) (authz.Actor, error) {
	addr := s.limits.clientAddr(r)
	if err := s.limits.allowAuth(addr); err != nil {
		return authz.Actor{}, err
	}
	a, err := s.authenticate(ctx, r)
	if problem.Is(err, problem.Unauthenticated) {
		s.limits.failedAuth(addr)
	}
	return a, err
}

func (s *Server) authenticate(ctx context.Context, r *http.Request) (authz.Actor, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return authz.Actor{}, problem.New(problem.Unauthenticated, "missing bearer API key in the Authorization header")
	}
	return s.APIKeys.Bearer(ctx, strings.TrimSpace(token))
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var statusOf = map[problem.Kind]int{
	problem.Internal:         http.StatusInternalServerError,
	problem.Invalid:          http.StatusUnprocessableEntity,
	problem.NotFound:         http.StatusNotFound,
	problem.Conflict:         http.StatusConflict,
	problem.Forbidden:        http.StatusForbidden,
	problem.Unauthenticated:  http.StatusUnauthorized,
	problem.Gone:             http.StatusGone,
	problem.TooLarge:         http.StatusRequestEntityTooLarge,
	problem.RateLimited:      http.StatusTooManyRequests,
	problem.Unavailable:      http.StatusServiceUnavailable,
	problem.MethodNotAllowed: http.StatusMethodNotAllowed,
}

// badRequest marks input that could not even be read (malformed JSON, bad query syntax), as
// opposed to well-formed input that breaks a rule (422).
type badRequest struct{ err *problem.Error }

func (b badRequest) Error() string { return b.err.Error() }
func (b badRequest) Unwrap() error { return b.err }

// Problem is the RFC 9457 body.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"request_id"`
	Field     string `json:"field,omitempty"`
	// ExistingID is an extension member of a 409: the id of the customer that already holds
	// the e-mail address or phone number a create gave, to read or update instead.
	ExistingID string `json:"existing_id,omitempty" doc:"On a 409 from creating or changing a customer: the id of the customer that already has this e-mail address or phone number."`
}

func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, rid string, err error) {
	p := s.problemOf(r, rid, err)
	switch p.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="steward"`)
	case http.StatusServiceUnavailable:
		// The database is away (a failover, a cut network) or busy: the client may send the
		// request again in a second, to this node or another. A feature the configuration
		// leaves off stays off: no Retry-After, so that clients do not retry for ever.
		if !problem.IsLasting(err) {
			w.Header().Set("Retry-After", "1")
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// problemOf turns an error into the problem document that answers it, logging the causes of
// internal and unavailable errors with the request id.
func (s *Server) problemOf(r *http.Request, rid string, err error) Problem {
	kind := problem.KindOf(err)
	status := statusOf[kind]
	var br badRequest
	if errors.As(err, &br) {
		status = http.StatusBadRequest
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		kind, status = problem.TooLarge, http.StatusRequestEntityTooLarge
		err = problem.New(problem.TooLarge, "request body is larger than %d bytes", s.MaxBody)
	}
	var q quiet
	if (kind == problem.Internal || kind == problem.Unavailable) && !errors.As(err, &q) {
		// The cause goes to the log with the request id; it never holds personal data
		// because engines and services never put values into errors.
		s.Log.Error("request failed", "request_id", rid, "method", r.Method, "route", r.Pattern, "kind", kind.String(), "err", err)
	}
	return Problem{
		Type:      "urn:steward:problem:" + kind.String(),
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    problem.Detail(err),
		Instance:  r.URL.Path,
		RequestID: rid,
		Field:     problem.FieldOf(err),
		// Only a conflict names what already exists.
		ExistingID: problem.ExistingIDOf(err),
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body strictly: unknown fields, trailing data, wrong types and oversize
// bodies are all refused with a detail that says where.
func decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return badRequest{problem.InvalidField("Content-Type", "must be application/json")}
	}
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return err
		case errors.Is(err, io.EOF):
			return badRequest{problem.InvalidField("body", "is empty; a JSON object is required")}
		case errors.As(err, &se):
			return badRequest{problem.InvalidField("body", "malformed JSON at byte %d", se.Offset)}
		case errors.As(err, &te):
			return badRequest{problem.WrongJSONType(te.Field, te)}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return badRequest{problem.InvalidField(name, "is not a known property")}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest{problem.InvalidField("body", "malformed JSON: unexpected end")}
		}
		return badRequest{problem.InvalidField("body", "malformed JSON")}
	}
	if d.More() {
		return badRequest{problem.InvalidField("body", "must hold a single JSON object")}
	}
	if _, err := d.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest{problem.InvalidField("body", "must hold a single JSON object")}
	}
	return nil
}
