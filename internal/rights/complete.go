package rights

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/problem"
)

// Completion is what carrying out a request needs beyond the request itself.
type Completion struct {
	// Fields are the corrections of a rectification request (null removes a value).
	Fields map[string]any `json:"fields,omitempty"`
	// Lift ends a restriction instead of placing one.
	Lift bool `json:"lift,omitempty"`
	// Purposes name what an objection or opt-out is about.
	Purposes []string `json:"purposes,omitempty"`
}

// Complete carries out a verified request and closes it with its result:
//   - access, portability: an export package behind an expiring download link;
//   - erasure: the erasure report;
//   - rectification: the corrected field names (never old or new values);
//   - restriction: processing restricted (or, with Lift, restored);
//   - objection, opt_out: the purposes recorded.
//
// An unverified request is Conflict; a closed one is Conflict. The request moves to
// in_progress before the work, so a failure leaves it there, and completing it again resumes
// (erasure resumes where it stopped). The download token, if any, is in the returned result
// only, never stored.
func (s *Service) Complete(ctx context.Context, id string, c Completion) (*Request, error) {
	r, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	switch r.State {
	case StateReceived:
		return nil, problem.Conflictf("request is not verified: verify the requester's identity first")
	case StateCompleted, StateRejected:
		return nil, problem.Conflictf("request is already %s", r.State)
	}
	if err := s.checkCompletion(r, c); err != nil {
		return nil, err
	}
	if r.State == StateVerified {
		if r, err = s.transition(ctx, id, func(r *Request) (string, error) {
			if r.State != StateVerified {
				return "", problem.Conflictf("request is %s", r.State)
			}
			r.State = StateInProgress
			return ActionRequestStart, nil
		}); err != nil {
			return nil, err
		}
	}
	result, shown, err := s.carryOut(ctx, r, c)
	if err != nil {
		return nil, err
	}
	stored, _ := json.Marshal(result)
	done, err := s.transition(ctx, id, func(r *Request) (string, error) {
		if r.State != StateInProgress {
			return "", problem.Conflictf("request is already %s", r.State)
		}
		r.State, r.ClosedAt, r.Result = StateCompleted, s.now(), stored
		return ActionRequestDone, nil
	})
	if err != nil {
		return nil, err
	}
	if shown != nil {
		done.Result, _ = json.Marshal(shown)
	}
	return done, nil
}

func (s *Service) checkCompletion(r *Request, c Completion) error {
	if r.CustomerID == "" {
		return problem.Conflictf("request names no customer: reject it with a reason")
	}
	switch r.Type {
	case TypeRectification:
		if len(c.Fields) == 0 {
			return problem.InvalidField("fields", "a rectification needs the corrected fields")
		}
	case TypeObjection, TypeOptOut:
		if r.Type == TypeObjection && len(c.Purposes) == 0 {
			return problem.InvalidField("purposes", "an objection names the purposes objected to")
		}
		for _, p := range c.Purposes {
			if _, ok := s.Catalog.Purpose(p); !ok {
				return problem.InvalidField("purposes", "unknown purpose %q", p)
			}
		}
	}
	if c.Fields != nil && r.Type != TypeRectification {
		return problem.InvalidField("fields", "only a rectification takes fields")
	}
	if c.Lift && r.Type != TypeRestriction {
		return problem.InvalidField("lift", "only a restriction can be lifted")
	}
	return nil
}

// carryOut does the work and returns the result to store and, when it differs (a token to
// show once), the result to show.
func (s *Service) carryOut(ctx context.Context, r *Request, c Completion) (stored, shown any, err error) {
	switch r.Type {
	case TypeAccess, TypePortability:
		x, token, err := s.makeExport(ctx, r)
		if err != nil {
			return nil, nil, err
		}
		res := map[string]any{"export_id": x.ID, "expires_at": x.ExpiresAt, "formats": exportFormats(r.Type)}
		show := map[string]any{}
		for k, v := range res {
			show[k] = v
		}
		show["download_url"] = "/v1/requests/" + r.ID + "/export?token=" + token
		return res, show, nil
	case TypeErasure:
		rep, err := s.erase(ctx, r.CustomerID, r.ID, "erasure request")
		if err != nil {
			return nil, nil, err
		}
		return rep, nil, nil
	case TypeRectification:
		v, err := s.Customers.Patch(ctx, r.CustomerID, c.Fields)
		if err != nil {
			return nil, nil, err
		}
		names := make([]string, 0, len(c.Fields))
		for k := range c.Fields {
			names = append(names, k)
		}
		sort.Strings(names)
		return map[string]any{"fields_corrected": names, "version": v.Version}, nil, nil
	case TypeRestriction:
		action := ActionRestrict
		if c.Lift {
			action = ActionUnrestrict
		}
		e := audit.New(ctx, action, r.CustomerID, nil, "privacy_requests")
		e.Target = requestTarget(r.ID)
		if err := s.Store.SetRestriction(ctx, r.CustomerID, r.ID, !c.Lift, []audit.Entry{e}); err != nil {
			return nil, nil, err
		}
		return map[string]any{"restricted": !c.Lift, "allowed_purposes": []string{"legal_obligation", "privacy_requests"}}, nil, nil
	case TypeObjection, TypeOptOut:
		purposes := c.Purposes
		if len(purposes) == 0 {
			purposes = s.Catalog.GPCPurposes() // sale and sharing
		}
		purposes = slices.Clone(purposes)
		sort.Strings(purposes)
		return map[string]any{"purposes": purposes, "recorded_at": s.now().Format(time.RFC3339)}, nil, nil
	}
	return nil, nil, problem.InvalidField("type", "unknown request type")
}

func exportFormats(t string) []string {
	if t == TypePortability {
		return []string{"json", "csv", "html"}
	}
	return []string{"json", "html"}
}
