package httpapi

import (
	"context"
	"net/http"

	"github.com/stewardhq/steward/internal/duplicate"
	"github.com/stewardhq/steward/internal/ingest"
	"github.com/stewardhq/steward/internal/job"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/quality"
)

// duplicateRoutes are the review queue of duplicate customers and the quality report.
func (s *Server) duplicateRoutes() []route {
	if s.Duplicates == nil {
		return nil
	}
	return []route{
		post("/v1/duplicates/scan", s.scanDuplicates, query(scanQuery...), out[job.Job](202), out[duplicate.Result](200), errs(403, 409, 422)),
		get("/v1/duplicates", s.listDuplicates, query(duplicateQuery...), out[DuplicateList](200), errs(403, 422)),
		get("/v1/duplicates/{id}", s.getDuplicate, out[duplicate.Pair](200), errs(403, 404, 422)),
		post("/v1/duplicates/{id}/merge", s.mergeDuplicate, out[DuplicateMerge](200), errs(403, 404, 409, 422)),
		post("/v1/duplicates/{id}/dismiss", s.dismissDuplicate, out[duplicate.Pair](200), errs(403, 404, 409, 422)),
		post("/v1/duplicates/{id}/undo", s.undoDuplicate, out[ingest.Merge](200), errs(403, 404, 409, 422)),
		get("/v1/quality", s.qualityReport, out[quality.BaseReport](200), errs(403)),
	}
}

func (s *Server) scanDuplicates(w http.ResponseWriter, r *http.Request) error {
	switch r.URL.Query().Get("wait") {
	case "", "false":
		j, err := s.Duplicates.StartScan(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, j)
	case "true":
		res, err := s.Duplicates.Scan(r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, res)
	}
	return problem.InvalidField("wait", "must be true or false")
}

func (s *Server) listDuplicates(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 50)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	ps, next, err := s.Duplicates.List(r.Context(), q.Get("state"), q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, DuplicateList{Data: ps, NextCursor: next})
}

func (s *Server) getDuplicate(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Duplicates.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) mergeDuplicate(w http.ResponseWriter, r *http.Request) error {
	p, m, err := s.Duplicates.Merge(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, DuplicateMerge{Duplicate: p, Merge: m})
}

func (s *Server) dismissDuplicate(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Duplicates.Dismiss(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p)
}

func (s *Server) undoDuplicate(w http.ResponseWriter, r *http.Request) error {
	m, err := s.Duplicates.UndoPair(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (s *Server) qualityReport(w http.ResponseWriter, r *http.Request) error {
	rep, err := s.Duplicates.QualityReport(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// unmerge undoes a merge through the duplicate service when there is one, so a merge made
// for a duplicate pair also gives back the winner's values and consents.
func (s *Server) unmerge(ctx context.Context, id string) (ingest.Merge, error) {
	if s.Duplicates != nil {
		return s.Duplicates.Undo(ctx, id)
	}
	return s.Ingest.Unmerge(ctx, id)
}
