package httpapi

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/rights"
)

// registerRightsMetrics exposes open, overdue and due-soon request counts: numbers only, no
// ids, so dashboards can alert on deadlines without learning who asked.
func (s *Server) registerRightsMetrics() {
	if s.Rights == nil {
		return
	}
	stats := func() rights.RequestStats {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, _ := s.Rights.Stats(ctx)
		return st
	}
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "steward_requests_overdue", Help: "Open data-subject requests past their due date."},
		func() float64 { return float64(stats().Overdue) }))
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "steward_requests_due_soon", Help: "Open data-subject requests due within the due-soon window."},
		func() float64 { return float64(stats().DueSoon) }))
	s.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "steward_requests_open", Help: "Open data-subject requests."},
		func() float64 {
			var n int64
			for _, v := range stats().Open {
				n += v
			}
			return float64(n)
		}))
}

func (s *Server) createRequest(w http.ResponseWriter, r *http.Request) error {
	var in rights.NewRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	req, err := s.Rights.Create(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/requests/"+req.ID)
	return writeJSON(w, http.StatusCreated, req)
}

func (s *Server) listRequests(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		return err
	}
	list, err := s.Rights.List(r.Context(), rights.RequestFilter{State: q.Get("state"), Type: q.Get("type"), CustomerID: q.Get("customer_id"), Limit: limit}, q.Get("due"))
	if err != nil {
		return err
	}
	if list == nil {
		list = []*rights.Request{}
	}
	return writeJSON(w, http.StatusOK, RequestList{Data: list})
}

func (s *Server) getRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := s.Rights.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, req)
}

func (s *Server) verifyRequest(w http.ResponseWriter, r *http.Request) error {
	req, err := s.Rights.Verify(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, req)
}

func (s *Server) completeRequest(w http.ResponseWriter, r *http.Request) error {
	var c rights.Completion
	if r.ContentLength != 0 {
		if err := decode(r, &c); err != nil {
			return err
		}
	}
	req, err := s.Rights.Complete(r.Context(), r.PathValue("id"), c)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, req)
}

func (s *Server) rejectRequest(w http.ResponseWriter, r *http.Request) error {
	var in Rejection
	if err := decode(r, &in); err != nil {
		return err
	}
	req, err := s.Rights.Reject(r.Context(), r.PathValue("id"), in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, req)
}

// downloadExport accepts either a staff key (Authorization) or the download token.
func (s *Server) downloadExport(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	staff := r.Header.Get("Authorization") != ""
	if staff {
		actor, err := s.authenticate(ctx, r)
		if err != nil {
			return err
		}
		ctx = authz.WithActor(ctx, actor)
	}
	b, err := s.Rights.Download(ctx, r.PathValue("id"), r.URL.Query().Get("token"), staff)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="steward-export.zip"`)
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(b)
	return err
}

// selfRequest takes a customer's own request from the privacy portal: JSON from a script
// (a shop's page calling from a configured origin, see privacyPreflight) or the fields of a
// plain HTML form. A browser that asked for HTML is sent on to a page saying what happens
// next (303, so reloading it does not send the form again); anyone else gets JSON.
func (s *Server) selfRequest(w http.ResponseWriter, r *http.Request) error {
	s.allowOrigin(w, r)
	var in rights.SelfRequest
	if isForm(r) {
		f, err := formFields(r, "type", "email", "phone", "jurisdiction")
		if err != nil {
			return err
		}
		in = rights.SelfRequest{Type: f["type"], Email: f["email"], Phone: f["phone"], Jurisdiction: f["jurisdiction"]}
	} else if err := decodeJSONOrForm(r, &in); err != nil {
		return err
	}
	// Counted only for well-formed requests, so a person correcting a typo is not held back.
	if err := s.limits.allowPortal(s.limits.clientAddr(r)); err != nil {
		return err
	}
	// A request over the limit for its address gets the same answer: see rights.CreateSelf.
	if _, err := s.Rights.CreateSelf(r.Context(), in); err != nil {
		return err
	}
	if wantsPage(r) {
		return seeOther(w, receivedPath)
	}
	return writeJSON(w, http.StatusAccepted, Accepted{Status: "received",
		Detail: "If this address or number belongs to a customer, a confirmation link is on its way to it."})
}

// receivedPath is the page a browser lands on after posting a request form.
const receivedPath = "/v1/privacy/received"

func (s *Server) receivedPage(w http.ResponseWriter, r *http.Request) error {
	return writePage(w, http.StatusOK, page{Title: "Check your messages", Lines: []string{
		"If the e-mail address or phone number you gave belongs to a customer of ours, we have sent it a link to confirm your request.",
		"Open the link to confirm that you made the request: nothing happens until you do. The link works only once and for a limited time.",
		"If nothing arrives within a few minutes, check your spam folder, or make the request again.",
	}})
}

var confirmPage = template.Must(template.New("confirm").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Confirm your privacy request</title></head>
<body><main><h1>Confirm your privacy request</h1>
<p>Press the button to confirm that you made this request.</p>
<form method="post" action="` + rights.ConfirmPath + `"><input type="hidden" name="token" value="{{.}}"><button type="submit">Confirm</button></form>
</main></body></html>
`))

func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 100 {
		return problem.InvalidField("token", "is required")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	return confirmPage.Execute(w, token)
}

// oldConfirmLink keeps the confirmation links mailed before they pointed at the portal's
// page working: it sends the browser on to that page with the same token. It checks the
// token's shape first, so a bad link is refused here rather than one hop later.
func (s *Server) oldConfirmLink(w http.ResponseWriter, r *http.Request) error {
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > 100 {
		return problem.InvalidField("token", "is required")
	}
	w.Header().Set("Location", rights.ConfirmPath+"?"+url.Values{"token": {token}}.Encode())
	w.WriteHeader(http.StatusMovedPermanently)
	return nil
}

// confirmRequest confirms a request with its one-time token: from the confirmation page's
// form (answered with a page when the browser asks for HTML) or as JSON.
func (s *Server) confirmRequest(w http.ResponseWriter, r *http.Request) error {
	var token string
	if isForm(r) {
		f, err := formFields(r, "token")
		if err != nil {
			return err
		}
		token = f["token"]
	} else {
		var in Confirmation
		if err := decodeJSONOrForm(r, &in); err != nil {
			return err
		}
		token = in.Token
	}
	req, err := s.Rights.Confirm(r.Context(), token)
	if err != nil {
		return err
	}
	if wantsPage(r) {
		return writePage(w, http.StatusOK, page{Title: "Your request is confirmed", Lines: []string{
			"Thank you. We have your " + rights.TypeName(req.Type) + " and will answer it by " + req.DueAt.UTC().Format("2 January 2006") + ".",
			"You do not need to do anything else. We will contact you if we need more information.",
		}})
	}
	return writeJSON(w, http.StatusOK, ConfirmedRequest{ID: req.ID, Type: req.Type, State: req.State, DueAt: req.DueAt})
}

func (s *Server) getErasure(w http.ResponseWriter, r *http.Request) error {
	e, err := s.Rights.ErasureReport(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, erasureReport(e))
}

func (s *Server) checkSuppression(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	field, val := "email", q.Get("email")
	if val == "" {
		field, val = "phone", q.Get("phone")
	}
	if val == "" {
		return problem.InvalidField("email", "give email or phone")
	}
	sup, err := s.Rights.IsSuppressed(r.Context(), field, val)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Suppression{Suppressed: sup})
}

func (s *Server) setHold(w http.ResponseWriter, r *http.Request) error {
	var in HoldInput
	if err := decode(r, &in); err != nil {
		return err
	}
	h, err := s.Rights.SetHold(r.Context(), r.PathValue("id"), in.Reason)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h)
}

func (s *Server) releaseHold(w http.ResponseWriter, r *http.Request) error {
	if err := s.Rights.ReleaseHold(r.Context(), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
