package httpapi

import (
	"context"
	"net/http"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

// duplicateRoutes are the review queue of duplicate customers and the quality report.
func (s *Server) duplicateRoutes() []route {
	if s.Duplicates == nil {
		return nil
	}
	return []route{
		{Method: "POST", Path: "/v1/duplicates/scan", Summary: "Scan for duplicate customers: queues a scan job (202, follow it at /v1/jobs/{id}), or with wait=true runs it now and returns its counts. Pairs from the review threshold up are queued; from the merge threshold up they are merged.",
			Query:   []param{{Name: "wait", Type: "boolean", Description: "true runs the scan within the request and returns its result (small bases; a large one may outlast the request timeout)."}},
			Returns: "Job", Status: 202, Errors: []int{403, 422}, handle: s.scanDuplicates},
		{Method: "GET", Path: "/v1/duplicates", Summary: "Pairs of customers that are likely one person, highest match probability first, with per-comparison evidence (agreement levels and weights, never values).",
			Query: []param{
				{Name: "state", Type: "string", Description: "pending (default), merged, dismissed or undone."},
				{Name: "limit", Type: "integer", Description: "Page size, 1 to 500 (default 50)."},
				{Name: "cursor", Type: "string", Description: "The next_cursor of the previous page."},
			}, Returns: "DuplicateList", Status: 200, Errors: []int{403, 422}, handle: s.listDuplicates},
		{Method: "GET", Path: "/v1/duplicates/{id}", Summary: "One duplicate pair with its evidence and state.", Returns: "Duplicate", Status: 200, Errors: []int{403, 404, 422}, handle: s.getDuplicate},
		{Method: "POST", Path: "/v1/duplicates/{id}/merge", Summary: "Merge a pending pair: the older customer absorbs the other, fields survive by the survivorship rules, every opt-out survives; recorded with the evidence and reversible.",
			Returns: "DuplicateMerge", Status: 200, Errors: []int{403, 404, 409, 422}, handle: s.mergeDuplicate},
		{Method: "POST", Path: "/v1/duplicates/{id}/dismiss", Summary: "Record that a pending pair are different people; the pair is never proposed again.",
			Returns: "Duplicate", Status: 200, Errors: []int{403, 404, 409, 422}, handle: s.dismissDuplicate},
		{Method: "POST", Path: "/v1/duplicates/{id}/undo", Summary: "Undo the merge of a merged pair (the same as POST /v1/merges/{merge_id}/undo): both customers, the winner's values and the consents the merge withdrew come back; the pair is not proposed again.",
			Returns: "Merge", Status: 200, Errors: []int{403, 404, 409, 422}, handle: s.undoDuplicate},
		{Method: "GET", Path: "/v1/quality", Summary: "The quality report: completeness per catalog field, customers by contact status, duplicates pending, stale contacts. Counts only.",
			Returns: "QualityReport", Status: 200, Errors: []int{403}, handle: s.qualityReport},
	}
}

func init() {
	number, integer := map[string]any{"type": "number"}, map[string]any{"type": "integer"}
	states := map[string]any{"enum": []string{"pending", "merged", "dismissed", "undone"}}
	schemas["Duplicate"] = obj(map[string]any{"id": str(), "customer_a": str(), "customer_b": str(), "score": number, "weight": number,
		"decision": map[string]any{"enum": []string{"merge", "review"}},
		"evidence": arr(obj(map[string]any{"comparison": str(), "level": str(), "weight": number})),
		"state":    states, "merge_id": str(), "winner_id": str(), "auto": map[string]any{"type": "boolean"},
		"created_at": dateTime(), "updated_at": dateTime(), "decided_at": dateTime(), "decided_by": str()})
	schemas["DuplicateList"] = obj(map[string]any{"data": arr(ref("Duplicate")), "next_cursor": str()})
	schemas["DuplicateMerge"] = obj(map[string]any{"duplicate": ref("Duplicate"), "merge": ref("Merge")})
	schemas["ScanResult"] = obj(map[string]any{"refreshed": integer, "candidates": integer, "pairs": integer, "new": integer,
		"pending": integer, "auto_merged": integer, "skipped": integer})
	schemas["ContactStatus"] = obj(map[string]any{"status": map[string]any{"enum": []string{"valid", "invalid", "risky", "bounced", "complained", "unsubscribed", "inactive", "none"}},
		"reasons": arr(str()), "validation": str(), "last_engagement_at": dateTime(), "since": dateTime()})
	schemas["QualityReport"] = obj(map[string]any{"generated_at": dateTime(), "customers": integer,
		"completeness":   arr(obj(map[string]any{"field": str(), "filled": integer, "share": number})),
		"contact_status": map[string]any{"type": "object", "additionalProperties": integer}, "unchecked": integer,
		"duplicates_pending": integer, "stale_contacts": integer, "inactive_days": integer})
}

func (s *Server) scanDuplicates(w http.ResponseWriter, r *http.Request) error {
	switch r.URL.Query().Get("wait") {
	case "", "false":
		j, err := s.Duplicates.StartScan(r.Context(), s.Jobs)
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
	out := map[string]any{"data": ps}
	if next != "" {
		out["next_cursor"] = next
	}
	return writeJSON(w, http.StatusOK, out)
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
	return writeJSON(w, http.StatusOK, map[string]any{"duplicate": p, "merge": m})
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
	if _, err := audit.Require(r.Context(), s.Catalog, catalog.PermCustomersRead); err != nil {
		return err
	}
	rep, err := s.QualityReport(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// unmerge undoes a merge through the duplicate service when there is one, so a merge made
// for a duplicate pair also gives back the winner's values and consents.
func (s *Server) unmerge(ctx context.Context, id string) (any, error) {
	if s.Duplicates != nil {
		return s.Duplicates.Undo(ctx, id)
	}
	return s.Ingest.Unmerge(ctx, id)
}
