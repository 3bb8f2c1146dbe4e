package rights

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"sort"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/problem"
)

// Completion is what carrying out a request needs beyond the request itself.
type Completion struct {
	// Fields are the corrections of a rectification request (null removes a value).
	Fields map[string]any `json:"fields,omitempty"`
	// Lift ends a restriction instead of placing one.
	Lift bool `json:"lift,omitempty"`
	// Purposes name what an objection or opt-out is about: every legitimate-interest purpose
	// (objection) or every sale/share purpose (opt-out) when empty.
	Purposes []string `json:"purposes,omitempty"`
}

// Complete carries out a verified request and closes it with its result:
//   - access, portability: an export package behind an expiring download link, which is sent
//     to the address the request came with (see sendExportLink);
//   - erasure: the erasure report;
//   - rectification: the corrected field names (never old or new values);
//   - restriction: processing restricted (or, with Lift, restored);
//   - objection: processing for the purposes stopped;
//   - opt_out: sale and sharing stopped.
//
// Restriction, objection and opt-out are recorded in the consent ledger (see
// consent.Service.Fulfil), so the one permission decision enforces them from the next check.
//
// An unverified request is Conflict; a closed one is Conflict. The request moves to
// in_progress before the work, so a failure leaves it there, and completing it again resumes
// (erasure resumes where it stopped). The download token, if any, is in the returned result
// and the message to the customer only, never stored.
func (s *Service) Complete(ctx context.Context, id string, c Completion) (*Request, error) {
	r, err := s.request(ctx, id)
	if err != nil {
		return nil, err
	}
	if r.Type == TypeAccess || r.Type == TypePortability {
		if err := s.mayHandOver(ctx); err != nil {
			return nil, err
		}
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

// mayHandOver checks that the actor may see what an export holds: every field of the
// customer in clear, for privacy_requests. requests.manage alone is not enough, or a role
// that may reveal nothing (admin) could read any customer in full by opening, verifying and
// completing an access request and downloading its package. The customer's own download,
// with the token sent to them, is not staff and is not checked here.
func (s *Service) mayHandOver(ctx context.Context) error {
	_, err := authz.MayReveal(ctx, s.catalog, "privacy_requests")
	if problem.Is(err, problem.Forbidden) {
		return problem.Forbiddenf("an access or portability export shows the customer's data in clear, so it needs reveal "+
			"rights for privacy_requests: %s", problem.Detail(err))
	}
	return err
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
	case TypeRestriction, TypeObjection, TypeOptOut:
		if err := s.consents.CheckFulfilment(fulfilment(r, c, nil)); err != nil {
			return err
		}
	}
	if c.Purposes != nil && r.Type != TypeObjection && r.Type != TypeOptOut {
		return problem.InvalidField("purposes", "only an objection or an opt-out names purposes")
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
		if sentTo, why := s.sendExportLink(ctx, r, x, token); sentTo != "" {
			res["link_sent_to"] = sentTo
		} else {
			res["link_not_sent"] = why
		}
		show := map[string]any{}
		for k, v := range res {
			show[k] = v
		}
		show["download_url"] = exportPath(r.ID, token)
		return res, show, nil
	case TypeErasure:
		rep, err := s.erase(ctx, r.CustomerID, r.ID, "erasure request")
		if err != nil {
			return nil, nil, err
		}
		return rep, nil, nil
	case TypeRectification:
		v, err := s.customers.Patch(ctx, r.CustomerID, c.Fields)
		if err != nil {
			return nil, nil, err
		}
		names := make([]string, 0, len(c.Fields))
		for k := range c.Fields {
			names = append(names, k)
		}
		sort.Strings(names)
		return map[string]any{"fields_corrected": names, "version": v.Version}, nil, nil
	case TypeRestriction, TypeObjection, TypeOptOut:
		action := map[string]string{TypeRestriction: ActionRestrict, TypeObjection: ActionObject, TypeOptOut: ActionOptOut}[r.Type]
		if c.Lift {
			action = ActionUnrestrict
		}
		e := audit.New(ctx, action, r.CustomerID, nil, "privacy_requests")
		e.Target = requestTarget(r.ID)
		done, err := s.consents.Fulfil(ctx, r.CustomerID, fulfilment(r, c, []audit.Entry{e}))
		if err != nil {
			return nil, nil, err
		}
		res := map[string]any{"records": done.Records, "recorded_at": s.now().Format(time.RFC3339)}
		switch {
		case done.Restricted != nil:
			res["restricted"] = *done.Restricted
			res["allowed_purposes"] = s.legalPurposes()
		case r.Type == TypeObjection:
			res["objected"], res["withdrawn"] = nonNil(done.Objected), nonNil(done.Withdrawn)
		default:
			res["opted_out"] = nonNil(done.OptedOut)
		}
		return res, nil, nil
	}
	return nil, nil, problem.InvalidField("type", "unknown request type")
}

// exportPath is the download link of a request's export package, relative to the public URL.
func exportPath(requestID, token string) string {
	return "/v1/requests/" + requestID + "/export?token=" + token
}

// sendExportLink sends the download link of a finished export to the e-mail address or phone
// number the request came with, and to no other: a link to a person's data goes only where
// the request was made from (and, for a self-service request, confirmed from). Steward keeps
// only a keyed hash of that contact, so it sends to whichever of the customer's current e-mail
// address and phone number matches the hash; if the customer has changed it since, nothing is
// sent. It returns the field sent to ("email" or "phone"), or why nothing was sent, for the
// request's result: staff then send the link, which the completion answer shows them once.
func (s *Service) sendExportLink(ctx context.Context, r *Request, x Export, token string) (sentTo, why string) {
	const yourself = ": send the download link to the customer yourself"
	if len(r.ContactHash) == 0 {
		return "", "the request names no e-mail address or phone number" + yourself
	}
	if s.mailer == nil && s.texter == nil {
		return "", "no mailer is configured" + yourself
	}
	values, err := s.vault.IndexedValues(ctx, r.CustomerID)
	if err != nil {
		return "", "the customer's contact details could not be read" + yourself
	}
	for _, field := range []string{"email", "phone"} {
		v, ok := values[field]
		if !ok || !hmac.Equal(s.hasher.KeyedHash(contactLabel, v), r.ContactHash) {
			continue
		}
		if (field == "email" && s.mailer == nil) || (field == "phone" && s.texter == nil) {
			return "", "no sender is configured for the " + field + " the request came with" + yourself
		}
		link, name := s.link(exportPath(r.ID, token)), TypeName(r.Type)
		left, until := inWords(x.ExpiresAt.Sub(s.now())), dateInWords(x.ExpiresAt)
		contents := "a readable report (report.html) and the same data in machine-readable form (export.json)"
		if r.Type == TypePortability {
			contents = "a readable report (report.html) and the same data in machine-readable form (export.json and CSV files)"
		}
		mail := "Your " + name + " is complete. You can download a copy of the data we hold about you here:\n\n" + link +
			"\n\nThe link works for " + left + ", until " + until + "; after that the copy is deleted, and you would " +
			"need to make a new request.\n\nThe download is a zip archive with " + contents + ".\n\n" +
			"If you did not make this request, please tell us.\n"
		text := "Your " + name + " is complete. Download your data within " + left + " (until " + until + "): " + link
		if err := s.send(ctx, field, string(v), "Your data is ready to download", mail, text); err != nil {
			return "", "the message could not be sent" + yourself
		}
		return field, ""
	}
	return "", "the e-mail address or phone number the request came with is no longer the customer's" + yourself
}

func exportFormats(t string) []string {
	if t == TypePortability {
		return []string{"json", "csv", "html"}
	}
	return []string{"json", "html"}
}

// fulfilment is what completing r records in the consent ledger.
func fulfilment(r *Request, c Completion, entries []audit.Entry) consent.Fulfilment {
	return consent.Fulfilment{RequestID: r.ID, Type: r.Type, Lift: c.Lift, Purposes: c.Purposes, Entries: entries}
}

// legalPurposes are the purposes a restricted customer's data may still be used for: those
// resting on a legal obligation (by default legal_obligation and privacy_requests).
func (s *Service) legalPurposes() []string {
	var out []string
	for _, p := range s.catalog.Purposes {
		if p.LegalBasis == catalog.LegalObligation {
			out = append(out, p.Name)
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
