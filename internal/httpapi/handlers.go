package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, Health{Status: "ok", Version: s.Version})
}

// ready answers the load balancer's readiness checks. A node out of service is checked twice
// a second for as long as it is out: the change of state is logged once each way (see
// readiness), not every failed check.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	var err error
	if s.Ready != nil {
		err = s.Ready(r.Context())
	}
	s.readiness.note(s.Log, err)
	if err != nil {
		detail := "database unavailable"
		if problem.KindOf(err) == problem.Unavailable {
			detail = problem.Detail(err)
		}
		return quiet{problem.Wrap(problem.Unavailable, err, "not ready: %s", detail)}
	}
	return writeJSON(w, http.StatusOK, Readiness{Status: "ready"})
}

// readiness is the node's last answer to a readiness check: why it is not ready, or "".
type readiness struct {
	mu     sync.Mutex
	reason string
}

// note logs a change of readiness: why the node stopped being ready (or why that changed),
// and when it is ready again.
func (rd *readiness) note(log *slog.Logger, err error) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	switch {
	case err == nil && rd.reason != "":
		rd.reason = ""
		log.Info("ready again")
	case err != nil && rd.reason != problem.Detail(err):
		rd.reason = problem.Detail(err)
		log.Warn("not ready", "reason", rd.reason, "err", err)
	}
}

// quiet is an error answered as usual but not logged with the request: its cause is logged
// elsewhere, once.
type quiet struct{ error }

func (q quiet) Unwrap() error { return q.error }

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	s.metricsHandler().ServeHTTP(w, r)
	return nil
}

func (s *Server) getCatalog(w http.ResponseWriter, r *http.Request) error {
	cat, err := s.Consents.Catalog(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cat)
}

func (s *Server) listPurposes(w http.ResponseWriter, r *http.Request) error {
	cat, err := s.Consents.Catalog(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, PurposeList{Data: cat.Purposes})
}

// createCustomer answers 409 with existing_id when a customer already has the e-mail address
// or phone number given; with on_conflict=update it changes that customer instead and answers
// 200 with it.
func (s *Server) createCustomer(w http.ResponseWriter, r *http.Request) error {
	var in CustomerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	var v customer.View
	created := true
	var err error
	switch r.URL.Query().Get("on_conflict") {
	case "", "fail":
		v, err = s.Customers.Create(r.Context(), in.Fields)
	case "update":
		v, created, err = s.Customers.CreateOrUpdate(r.Context(), in.Fields)
	default:
		return problem.InvalidField("on_conflict", "must be fail or update")
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/customers/"+v.ID)
	if !created {
		return writeJSON(w, http.StatusOK, v)
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) getCustomer(w http.ResponseWriter, r *http.Request) error {
	v, err := s.Customers.Get(r.Context(), r.PathValue("id"), r.Header.Get("Steward-Purpose"))
	if err != nil {
		return mergedRedirect(w, err)
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) patchCustomer(w http.ResponseWriter, r *http.Request) error {
	var in CustomerInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := s.Customers.Patch(r.Context(), r.PathValue("id"), in.Fields)
	if err != nil {
		return mergedRedirect(w, err)
	}
	return writeJSON(w, http.StatusOK, v)
}

// mergedRedirect answers for a customer merged into another with 308 Permanent Redirect to
// that customer and a body naming it (merged_into): clients that follow redirects read or
// change the winner, with the same method and body, and those that do not learn where the
// customer went. Any other error is returned for the usual problem answer.
func mergedRedirect(w http.ResponseWriter, err error) error {
	var m *customer.Merged
	if !errors.As(err, &m) {
		return err
	}
	w.Header().Set("Location", "/v1/customers/"+m.MergedInto)
	return writeJSON(w, http.StatusPermanentRedirect, m)
}

// listCustomers serves both the plain listing and exact look-ups: any query parameter that
// names an indexed catalog field is a look-up.
func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	purpose := r.Header.Get("Steward-Purpose")
	for name, vals := range q {
		switch name {
		case "limit", "cursor":
			continue
		}
		f, ok := s.Catalog.Field(name)
		if !ok || !f.Indexed() {
			return problem.InvalidField(name, "is not a look-up parameter (use an indexed field such as email or phone, or limit and cursor)")
		}
		for other := range q {
			if other != name && other != "limit" && other != "cursor" {
				return problem.InvalidField(name, "look up by one field at a time")
			}
		}
		limit, err := intParam(r, "limit", customer.MaxLookup)
		if err != nil {
			return err
		}
		views, err := s.Customers.Find(r.Context(), name, vals[0], purpose, limit)
		if err != nil {
			return err
		}
		if views == nil {
			views = []customer.View{}
		}
		return writeJSON(w, http.StatusOK, CustomerList{Data: views})
	}
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		return err
	}
	page, next, err := s.Customers.List(r.Context(), q.Get("cursor"), limit, purpose)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, CustomerList{Data: page, NextCursor: next})
}

func intParam(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, problem.InvalidField(name, "must be a positive integer")
	}
	return n, nil
}

func timeParam(r *http.Request, name string) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, problem.InvalidField(name, "must be an RFC 3339 time")
	}
	return t, nil
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := audit.Filter{CustomerID: q.Get("customer_id"), ActorID: q.Get("actor_id"), Action: q.Get("action")}
	var err error
	if f.Limit, err = intParam(r, "limit", 100); err != nil {
		return err
	}
	if f.Limit > audit.MaxPage {
		return problem.InvalidField("limit", "must be at most %d", audit.MaxPage)
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
	entries, err := s.Audit.List(r.Context(), f)
	if err != nil {
		return err
	}
	out := AuditList{Data: entries}
	if entries == nil {
		out.Data = []audit.Entry{}
	}
	if len(entries) == f.Limit {
		out.NextCursor = strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) verifyAudit(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.Audit.Check(r.Context())
	if b, ok := err.(*audit.Break); ok {
		return writeJSON(w, http.StatusOK, AuditVerification{Intact: false, Chain: &b.Chain, Seq: &b.Seq, Reason: &b.Reason})
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, AuditVerification{Intact: true, Report: &rep})
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.APIKeys.List(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, APIKeyList{Data: keys})
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var in APIKeyInput
	if err := decode(r, &in); err != nil {
		return err
	}
	secret, k, err := s.APIKeys.CreateExpiring(r.Context(), in.Role, in.Name, in.ExpiresAt)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, NewAPIKey{Key: secret, APIKey: k})
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.APIKeys.Revoke(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) rotateKeys(w http.ResponseWriter, r *http.Request) error {
	j, err := s.Rotator.Start(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, j)
}

// getJob shows a job to whoever may start jobs of its kind: key rotation to keys.rotate,
// duplicate scans to customers.write.
func (s *Server) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.Jobs.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, j)
}
