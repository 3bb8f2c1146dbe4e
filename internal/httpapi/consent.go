package httpapi

import (
	"context"
	"net"
	"net/http"
	"strings"

	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/problem"
)

// checkMaxBody bounds a bulk permission check: 100,000 ids of 36 characters, quoted and
// separated, with room for white space.
const checkMaxBody = 8 << 20

func (s *Server) listPolicies(w http.ResponseWriter, r *http.Request) error {
	list, err := s.Consents.Policies(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (s *Server) publishPolicy(w http.ResponseWriter, r *http.Request) error {
	var in consent.PolicyInput
	if err := decode(r, &in); err != nil {
		return err
	}
	p, err := s.Consents.PublishPolicy(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/policies/"+p.Version)
	return writeJSON(w, http.StatusCreated, p)
}

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Consents.Policy(r.Context(), r.PathValue("version"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) recordConsent(w http.ResponseWriter, r *http.Request) error {
	var in consent.Input
	if err := decode(r, &in); err != nil {
		return err
	}
	rec, err := s.Consents.Record(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, rec)
}

func (s *Server) consentHistory(w http.ResponseWriter, r *http.Request) error {
	h, err := s.Consents.History(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h)
}

func (s *Server) permission(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Consents.Permission(r.Context(), r.PathValue("id"), r.PathValue("purpose"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

func (s *Server) checkPermissions(w http.ResponseWriter, r *http.Request) error {
	var in CheckInput
	if err := decode(r, &in); err != nil {
		return err
	}
	out, err := s.Consents.Check(r.Context(), in.Purpose, in.CustomerIDs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) suppress(w http.ResponseWriter, r *http.Request) error {
	var in consent.SuppressionInput
	if err := decode(r, &in); err != nil {
		return err
	}
	out, err := s.Consents.Suppress(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, out)
}

// verifyReceipt answers 200 either way, as audit verification does: a receipt that does not
// verify is a finding, not a malformed request.
func (s *Server) verifyReceipt(w http.ResponseWriter, r *http.Request) error {
	var in ReceiptInput
	if err := decode(r, &in); err != nil {
		return err
	}
	rc, err := s.Consents.VerifyReceipt(in.Receipt)
	if err != nil {
		if problem.Is(err, problem.Invalid) {
			reason := strings.TrimPrefix(problem.Detail(err), "receipt: ")
			return writeJSON(w, http.StatusOK, ReceiptVerification{Valid: false, Reason: &reason})
		}
		return err
	}
	return writeJSON(w, http.StatusOK, ReceiptVerification{Valid: true, Receipt: &rc})
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "public, max-age=300")
	return writeJSON(w, http.StatusOK, s.Consents.KeySet())
}

// gpcSupport serves the well-known resource of the Global Privacy Control specification.
func (s *Server) gpcSupport(w http.ResponseWriter, r *http.Request) error {
	honours, updated, err := s.Consents.GPCSupport(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	return writeJSON(w, http.StatusOK, GPCSupport{GPC: honours, LastUpdate: updated})
}

// sendsGPC reports whether a request relays a Global Privacy Control signal.
func (s *Server) sendsGPC(r *http.Request) bool {
	return s.Consents != nil && strings.TrimSpace(r.Header.Get("Sec-GPC")) == "1"
}

// gpcContext marks an authenticated request that carries Sec-GPC: 1, with the request's user
// agent and address as evidence: every decision made while serving it treats the GPC-sensitive
// purposes as opted out, and the services that create, change or read the customer it names
// record the opt-out in the ledger, in their own transaction (consent.WithGPC).
func (s *Server) gpcContext(ctx context.Context, r *http.Request) context.Context {
	if !s.sendsGPC(r) {
		return ctx
	}
	ev := consent.EvidenceInput{UserAgent: r.UserAgent()}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ev.IP = host
	}
	if len(ev.UserAgent) > 512 {
		ev.UserAgent = ev.UserAgent[:512]
	}
	return s.Consents.RelayGPC(ctx, ev)
}
