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
		{Method: "POST", Path: "/v1/imports", Summary: "Upload a CSV file (the raw body, streamed; text/csv) to import customers as a background job, with the mapping of the command line's steward import. The file is checked through to its last row first: an empty, UTF-16 or badly quoted file, an unknown column, field or purpose, or a policy version that does not fit are refused with nothing stored. Answers 202 with the job's status and a Location. Needs customers.write (and consents.write with consent columns).",
			Query: []param{
				{Name: "map", Type: "string", Required: true, Description: "COLUMN=FIELD, repeatable: the column fills the catalog field; several columns for one field are joined with a space, in order."},
				{Name: "consent", Type: "string", Description: "COLUMN=PURPOSE, repeatable: the column holds yes/no (y/n, true/false, 1/0) for a consent purpose; empty cells record nothing."},
				{Name: "policy_version", Type: "string", Description: "The privacy-policy version the list's consents were collected under; required with consent."},
			}, Body: "csv", Returns: "ImportStatus", Status: 202, Errors: []int{400, 403, 413, 422}, MaxBody: s.Imports.MaxBytes, handle: s.startImport},
		{Method: "GET", Path: "/v1/imports", Summary: "Import jobs, newest first: uploads and steward import runs alike, each with its state and counts as GET /v1/imports/{id} shows them. Needs customers.write.",
			Query:   []param{{Name: "limit", Type: "integer", Description: "1 to 100 (default 20)."}},
			Returns: "ImportList", Status: 200, Errors: []int{403, 422}, handle: s.listImports},
		{Method: "GET", Path: "/v1/imports/{id}", Summary: "An import's state and progress: rows read, imported, rejected, consents recorded and the resume point.",
			Returns: "ImportStatus", Status: 200, Errors: []int{403, 404}, handle: s.getImport},
		{Method: "GET", Path: "/v1/imports/{id}/rejects", Summary: "An import's rejected rows: row number (the header is row 1) and reason, which names the column and rule, never the value.",
			Query: []param{{Name: "limit", Type: "integer", Description: "1 to 10000 (default 1000)."}, {Name: "cursor", Type: "string", Description: "The next_cursor of the previous page."},
				{Name: "format", Type: "string", Description: "csv for a row,reason file to open next to the spreadsheet (the same rows; the next page's cursor in the Steward-Next-Cursor header)."}},
			Returns: "RejectList", Status: 200, Errors: []int{403, 404, 422}, handle: s.importRejects},
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
	return writeJSON(w, http.StatusOK, map[string]any{"data": sts})
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
	out := map[string]any{"data": rs}
	if next != "" {
		out["next_cursor"] = next
	}
	return writeJSON(w, http.StatusOK, out)
}

func init() {
	integer := map[string]any{"type": "integer"}
	strs := arr(str())
	schemas["ImportStatus"] = obj(map[string]any{"id": str(), "state": map[string]any{"enum": []string{"queued", "running", "done", "failed"}}, "error": str(),
		"bytes": integer, "rows_total": integer, "rows_read": integer, "imported": integer, "created": integer, "updated": integer, "unchanged": integer,
		"rejected": integer, "consents_recorded": integer, "resume_after_row": integer, "map": strs, "consent": strs, "policy_version": str(),
		"created_at": dateTime(), "updated_at": dateTime()})
	schemas["ImportList"] = obj(map[string]any{"data": arr(ref("ImportStatus"))})
	schemas["RejectList"] = obj(map[string]any{"data": arr(obj(map[string]any{"row": integer, "reason": str()})), "next_cursor": str()})
}
