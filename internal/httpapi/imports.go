package httpapi

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/stewardhq/steward/internal/importer"
	"github.com/stewardhq/steward/internal/problem"
)

// importUploadTime is how long an upload may take to arrive: far beyond the server's
// ordinary read timeout, which is sized for JSON bodies.
const importUploadTime = time.Hour

func (s *Server) importRoutes() []route {
	if s.Imports == nil {
		return nil
	}
	return []route{
		post("/v1/imports", s.startImport, query(importQuery...), inMedia("text/csv"), out[importer.Status](202),
			errs(400, 403, 413, 422), maxBody(s.Imports.MaxBytes())),
		get("/v1/imports", s.listImports, query(importListQuery...), out[ImportList](200), errs(403, 422)),
		get("/v1/imports/{id}", s.getImport, out[importer.Status](200), errs(403, 404)),
		get("/v1/imports/{id}/rejects", s.importRejects, query(rejectQuery...), out[RejectList](200),
			outMedia("text/csv", 200), errs(403, 404, 422)),
	}
}

func (s *Server) startImport(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "text/csv" && mt != "text/plain" && mt != "application/octet-stream" && mt != "application/x-www-form-urlencoded") {
			return badRequest{problem.InvalidField("Content-Type", "must be text/csv: send the file as the raw body (curl --data-binary @file.csv)")}
		}
	}
	// The body may take long to arrive; nothing else on this connection waits for it.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(importUploadTime))
	_ = rc.SetWriteDeadline(time.Now().Add(importUploadTime + time.Minute))
	q := r.URL.Query()
	spec := importer.Spec{Map: q["map"], Consent: q["consent"], PolicyVersion: q.Get("policy_version")}
	st, err := s.Imports.Start(r.Context(), spec, r.Body)
	if err != nil {
		var fe *importer.FileError
		if errors.As(err, &fe) {
			return badRequest{fe.Err}
		}
		return err
	}
	w.Header().Set("Location", "/v1/imports/"+st.ID)
	return writeJSON(w, http.StatusAccepted, st)
}

func (s *Server) getImport(w http.ResponseWriter, r *http.Request) error {
	st, err := s.Imports.Status(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

func (s *Server) listImports(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 20)
	if err != nil {
		return err
	}
	sts, err := s.Imports.List(r.Context(), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ImportList{Data: sts})
}

func (s *Server) importRejects(w http.ResponseWriter, r *http.Request) error {
	limit, err := intParam(r, "limit", 1000)
	if err != nil {
		return err
	}
	after := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		if after, err = strconv.Atoi(c); err != nil || after < 1 {
			return problem.InvalidField("cursor", "is not a valid cursor")
		}
	}
	rs, err := s.Imports.Rejects(r.Context(), r.PathValue("id"), after, limit)
	if err != nil {
		return err
	}
	next := ""
	if len(rs) == limit {
		next = strconv.Itoa(rs[len(rs)-1].Row)
	}
	switch r.URL.Query().Get("format") {
	case "", "json":
	case "csv":
		// The command line's rejects file, for those who fix the spreadsheet row by row.
		if next != "" {
			w.Header().Set("Steward-Next-Cursor", next)
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="rejects.csv"`)
		rej := importer.CSVRejects(w)
		for _, x := range rs {
			rej.Reject(x.Row, x.Reason)
		}
		return rej.Flush()
	default:
		return problem.InvalidField("format", "must be json or csv")
	}
	return writeJSON(w, http.StatusOK, RejectList{Data: rs, NextCursor: next})
}
