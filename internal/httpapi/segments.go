package httpapi

import (
	"encoding/csv"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/csvcell"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/segment"
)

// SegmentList is the body of GET /v1/segments.
type SegmentList struct {
	Data []segment.Segment `json:"data"`
}

// MemberPreview is the body of GET /v1/segments/{id}/preview: members, masked.
type MemberPreview struct {
	Data []map[string]any `json:"data"`
}

// SegmentHistory is the body of GET /v1/segments/{id}/history.
type SegmentHistory struct {
	Data []segment.Change `json:"data"`
}

// DestinationList is the body of GET /v1/destinations.
type DestinationList struct {
	Data []segment.Destination `json:"data"`
}

// DeliveryList is the body of GET /v1/destinations/{id}/deliveries.
type DeliveryList struct {
	Data []segment.Delivery `json:"data"`
}

var (
	limitParam     = param{Name: "limit", Description: "How many to show.", Type: "integer"}
	linkTokenParam = param{Name: "token", Description: "The token of the download link.", Type: "string", Required: true}
	stateParam     = param{Name: "state", Description: "pending, delivered or dead (the dead-letter list).", Type: "string"}
	trendParamSet  = []param{
		{Name: "metric", Description: "new_customers, active_customers, orders, revenue, average_order_value, repeat_purchase_rate, " +
			"best_selling_products, best_selling_categories, cart_abandonment, signup_conversion, consent_rate, opt_outs, requests_opened, requests_closed.",
			Type: "string", Required: true},
		{Name: "interval", Description: "day (default), week or month.", Type: "string"},
		{Name: "by", Description: "age_band, gender, region, country or segment.", Type: "string"},
		{Name: "segment", Description: "Only the members of this segment.", Type: "string"},
		{Name: "from", Description: "Start (RFC 3339 or YYYY-MM-DD); 90 days before to by default.", Type: "string"},
		{Name: "to", Description: "End, exclusive (RFC 3339 or YYYY-MM-DD); now by default.", Type: "string"},
		{Name: "epsilon", Description: "Ask for a differentially private answer with this epsilon, charged to today's budget.", Type: "number"},
		formatParam,
	}
)

func (s *Server) segmentRoutes() []route {
	if s.Segments == nil {
		return nil
	}
	return []route{
		post("/v1/segments", s.createSegment, in[segment.Input](), out[segment.Segment](201), errs(400, 403, 413, 422)),
		get("/v1/segments", s.listSegments, out[SegmentList](200), errs(403)),
		get("/v1/segments/{id}", s.getSegment, out[segment.Segment](200), errs(403, 404)),
		get("/v1/segments/{id}/count", s.countSegment, out[segment.Count](200), errs(403, 404)),
		get("/v1/segments/{id}/preview", s.previewSegment, query(limitParam), out[MemberPreview](200), errs(403, 404, 422)),
		get("/v1/segments/{id}/history", s.segmentHistory, query(limitParam), out[SegmentHistory](200), errs(403, 404, 422)),
		post("/v1/segments/{id}/exports", s.startSegmentExport, out[segment.Export](202), errs(403, 404)),
		get("/v1/segments/{id}/exports/{export}", s.getSegmentExport, out[segment.Export](200), errs(403, 404)),
		get("/v1/segment-exports/{id}/download", s.downloadSegmentExport, public, query(linkTokenParam), outMedia("text/csv", 200),
			errs(404, 409, 410)),
		get("/v1/trends", s.trend, query(trendParamSet...), out[segment.Trend](200), outMedia("text/csv", 200), errs(403, 422, 429)),
		post("/v1/destinations", s.createDestination, in[segment.DestinationInput](), out[segment.CreatedDestination](201),
			errs(400, 403, 413, 422)),
		get("/v1/destinations", s.listDestinations, out[DestinationList](200), errs(403)),
		get("/v1/destinations/{id}", s.getDestination, out[segment.Destination](200), errs(403, 404)),
		get("/v1/destinations/{id}/deliveries", s.listDeliveries, query(stateParam, limitParam), out[DeliveryList](200), errs(403, 404, 422)),
		post("/v1/destinations/{id}/deliveries/{delivery}/replay", s.replayDelivery, out[segment.Delivery](200), errs(403, 404, 422)),
	}
}

func (s *Server) createSegment(w http.ResponseWriter, r *http.Request) error {
	var in segment.Input
	if err := decode(r, &in); err != nil {
		return err
	}
	seg, err := s.Segments.Create(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/segments/"+seg.ID)
	return writeJSON(w, http.StatusCreated, seg)
}

func (s *Server) listSegments(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Segments.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, SegmentList{Data: list})
}

func (s *Server) getSegment(w http.ResponseWriter, r *http.Request) error {
	seg, err := s.Segments.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, seg)
}

func (s *Server) countSegment(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Segments.Count(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, c)
}

func (s *Server) previewSegment(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 0)
	if err != nil {
		return err
	}
	list, err := s.Segments.Preview(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, MemberPreview{Data: list})
}

func (s *Server) segmentHistory(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 0)
	if err != nil {
		return err
	}
	list, err := s.Segments.History(r.Context(), r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []segment.Change{}
	}
	return writeJSON(w, http.StatusOK, SegmentHistory{Data: list})
}

func (s *Server) startSegmentExport(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Segments.StartExport(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/segments/"+e.SegmentID+"/exports/"+e.ID)
	return writeJSON(w, http.StatusAccepted, e)
}

func (s *Server) getSegmentExport(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Segments.GetExport(r.Context(), r.PathValue("id"), r.PathValue("export"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, e)
}

// downloadSegmentExport streams the export's CSV. The first row is checked before any byte is
// sent, so a refused link still gets a problem document.
func (s *Server) downloadSegmentExport(w http.ResponseWriter, r *http.Request) error {
	cw := csv.NewWriter(w)
	started := false
	err := s.Segments.Download(r.Context(), r.PathValue("id"), r.URL.Query().Get("token"), func(row []string) error {
		if !started {
			started = true
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
			w.Header().Set("Content-Disposition", `attachment; filename="segment-export.csv"`)
			w.Header().Set("Cache-Control", "no-store")
		}
		for i := range row {
			row[i] = csvcell.Inert(row[i])
		}
		return cw.Write(row)
	})
	if err != nil && !started {
		return err
	}
	cw.Flush()
	return err
}

// dayOrTimeParam reads an optional time: RFC 3339 or a date.
func dayOrTimeParam(r *http.Request, name string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", r.URL.Query().Get(name)); err == nil {
		return t.UTC(), nil
	}
	t, err := timeParam(r, name)
	return t.UTC(), err
}

func (s *Server) trend(w http.ResponseWriter, r *http.Request) error {
	qv := r.URL.Query()
	q := segment.TrendQuery{Metric: qv.Get("metric"), Interval: qv.Get("interval"), By: qv.Get("by"), Segment: qv.Get("segment")}
	var err error
	if q.From, err = dayOrTimeParam(r, "from"); err != nil {
		return err
	}
	if q.To, err = dayOrTimeParam(r, "to"); err != nil {
		return err
	}
	if e := qv.Get("epsilon"); e != "" {
		if q.Epsilon, err = strconv.ParseFloat(e, 64); err != nil {
			return problem.InvalidField("epsilon", "must be a number")
		}
	}
	format := qv.Get("format")
	if format != "" && format != "json" && format != "csv" {
		return problem.InvalidField("format", "must be json or csv")
	}
	t, err := s.Segments.Trend(r.Context(), q)
	if err != nil {
		return err
	}
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="trend-`+t.Metric+`.csv"`)
		cw := csv.NewWriter(w)
		for _, row := range t.CSV() {
			for i := range row {
				row[i] = csvcell.Inert(row[i])
			}
			if err := cw.Write(row); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	}
	return writeJSON(w, http.StatusOK, t)
}

func (s *Server) createDestination(w http.ResponseWriter, r *http.Request) error {
	var in segment.DestinationInput
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := s.Segments.CreateDestination(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/destinations/"+d.ID)
	return writeJSON(w, http.StatusCreated, d)
}

func (s *Server) listDestinations(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Segments.ListDestinations(r.Context())
	if err != nil {
		return err
	}
	if list == nil {
		list = []segment.Destination{}
	}
	return writeJSON(w, http.StatusOK, DestinationList{Data: list})
}

func (s *Server) getDestination(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Segments.GetDestination(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 0)
	if err != nil {
		return err
	}
	list, err := s.Segments.Deliveries(r.Context(), r.PathValue("id"), r.URL.Query().Get("state"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, DeliveryList{Data: list})
}

func (s *Server) replayDelivery(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(r.PathValue("delivery"), 10, 64)
	if err != nil {
		return problem.InvalidField("delivery", "must be a delivery id")
	}
	d, err := s.Segments.Replay(r.Context(), r.PathValue("id"), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// A rule nests rules, which reflection would describe forever: its schema is written out, with
// the nesting as references to itself.
func init() {
	customSchemas[reflect.TypeFor[segment.Rule]()] = map[string]any{
		"type":        "object",
		"description": "A segment rule: exactly one of and, or, not, field, figure, event, consent; op and value compare.",
		"properties": map[string]any{
			"and":     map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
			"or":      map[string]any{"type": "array", "items": map[string]any{"type": "object"}},
			"not":     map[string]any{"type": "object"},
			"field":   map[string]any{"type": "string"},
			"form":    map[string]any{"type": "string", "enum": []string{segment.FormGeneralized}},
			"figure":  map[string]any{"type": "string"},
			"event":   map[string]any{"type": "object"},
			"consent": map[string]any{"type": "string"},
			"op":      map[string]any{"type": "string"},
			"value":   map[string]any{},
		},
	}
}
