package httpapi

import (
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/source"
)

// SourceList is the body of GET /v1/sources.
type SourceList struct {
	Data []source.Source `json:"data"`
}

// handshakeQuery documents Meta's subscription check.
var handshakeQuery = []param{
	{Name: "hub.mode", Description: "subscribe", Type: "string"},
	{Name: "hub.verify_token", Description: "The verify token shown when the source was created.", Type: "string"},
	{Name: "hub.challenge", Description: "Echoed back as text/plain when the token matches.", Type: "string"},
}

// registerSourceMetrics counts webhook deliveries by outcome. Labels are outcomes only: no
// source id, kind or anything a delivery carried.
func (s *Server) registerSourceMetrics() {
	if s.Sources == nil {
		return
	}
	s.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steward_source_deliveries_total",
		Help: "Webhook deliveries of connected platforms by outcome (stored, duplicate, ignored, refused, failed)."}, []string{"outcome"})
	s.registry.MustRegister(s.deliveries)
}

// deliveryOutcome names what became of a delivery, for the metrics.
func deliveryOutcome(res source.Result, err error) string {
	switch {
	case problem.Is(err, problem.Unauthenticated), problem.Is(err, problem.Invalid), problem.Is(err, problem.TooLarge), problem.Is(err, problem.Forbidden):
		return "refused"
	case err != nil:
		return "failed"
	case res.Stored > 0 || res.Requests > 0:
		return "stored"
	case res.Duplicates > 0:
		return "duplicate"
	}
	return "ignored"
}

// sourceRoutes serve connected platforms: staff configure them with an owner or admin key;
// vendors deliver without one, each delivery proven by the vendor's signature instead.
func (s *Server) sourceRoutes() []route {
	if s.Sources == nil {
		return nil
	}
	return []route{
		post("/v1/sources", s.createSource, in[source.Input](), out[source.Created](201), errs(400, 403, 413, 422)),
		get("/v1/sources", s.listSources, out[SourceList](200), errs(403)),
		get("/v1/sources/{id}", s.getSource, out[source.Source](200), errs(403, 404)),
		post("/v1/sources/{id}/webhook", s.deliver, public, inMedia("application/json"), out[source.Result](200),
			errs(400, 401, 404, 409, 413, 422, 429, 500, 503)),
		get("/v1/sources/{id}/webhook", s.deliver, public, query(handshakeQuery...), outMedia("text/plain", 200),
			errs(401, 403, 404, 422, 429, 500)),
	}
}

func (s *Server) createSource(w http.ResponseWriter, r *http.Request) error {
	var in source.Input
	if err := decode(r, &in); err != nil {
		return err
	}
	c, err := s.Sources.Create(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/sources/"+c.ID)
	return writeJSON(w, http.StatusCreated, c)
}

func (s *Server) listSources(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Sources.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, SourceList{Data: list})
}

func (s *Server) getSource(w http.ResponseWriter, r *http.Request) error {
	src, err := s.Sources.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, src)
}

// deliver passes a vendor's request to the source as it arrived: the raw body (signatures
// cover its exact bytes), the headers, and the URL under the public address, which Twilio
// signs.
func (s *Server) deliver(w http.ResponseWriter, r *http.Request) error {
	// A refused signature counts against the sender's address like a wrong API key, so the
	// endpoint cannot be used to guess a secret.
	addr := s.limits.clientAddr(r)
	if err := s.limits.allowAuth(addr); err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if err != nil && !errors.As(err, &mbe) {
		return err
	}
	d := source.Delivery{Method: r.Method, URL: strings.TrimRight(s.PublicURL, "/") + r.URL.RequestURI(),
		Header: textproto.MIMEHeader(r.Header), Query: r.URL.Query(), Body: body, TooLarge: mbe != nil}
	res, err := s.Sources.Deliver(r.Context(), r.PathValue("id"), d)
	if !problem.Is(err, problem.NotFound) {
		s.deliveries.WithLabelValues(deliveryOutcome(res, err)).Inc()
	}
	if problem.Is(err, problem.Unauthenticated) {
		s.limits.failedAuth(addr)
	}
	var pe *problem.Error
	if errors.As(err, &pe) && pe.Kind == problem.Invalid && pe.Field == "body" {
		// A body that is not even the vendor's JSON or form could not be read: 400, as for
		// any malformed request; a readable body that breaks a rule stays 422.
		return badRequest{pe}
	}
	if err != nil {
		return err
	}
	if r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := io.WriteString(w, res.Challenge)
		return err
	}
	return writeJSON(w, http.StatusOK, res)
}
