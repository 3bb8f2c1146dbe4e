package rights

import (
	"context"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
)

// Rows is what the registry reads and erases a customer's rows through. The engine knows the
// tables, their columns and how a row names its customer; the registry knows what each table
// means to the person and what erasure does to it, and says so in words. Every method returns
// an error for a table the engine does not hold.
type Rows interface {
	// DeleteRows deletes the customer's rows of table and says how many went.
	DeleteRows(ctx context.Context, table, customerID string) (int64, error)
	// CountRows counts the customer's rows of table, wherever the engine keeps them.
	CountRows(ctx context.Context, table, customerID string) (int64, error)
	// AnonymiseRequests keeps the customer's request records but drops the keyed hash of the
	// requester's contact and any pending link, and says how many it changed.
	AnonymiseRequests(ctx context.Context, customerID string) (int64, error)
	// ExportRows returns the customer's rows of table as a person is shown them: the columns
	// that mean something to them, times as times, JSON decoded, in the table's natural order.
	ExportRows(ctx context.Context, table, customerID string) ([]map[string]any, error)
}

// NewRegistry returns the Parts for every table that holds customer data: the registry that
// erasure and access exports walk. A table added with a customer_id column must add its Part
// here; TestRegistryCoversSchema fails until it does.
func NewRegistry(rows Rows, trail audit.Store, requests Store) Registry {
	r := registry{rows: rows, trail: trail, requests: requests}
	cascade := "Removed with the profile."
	return Registry{
		r.part("customers", r.delete(""), none),
		r.part("blind_index", r.delete(""), note("Search index", "Keyed hashes of your e-mail address and phone number let staff find your record; they cannot be turned back into the values, so they are not listed.")),
		r.part("audit_log", r.keep("The audit trail records who processed your data, when and why, never the values; it is kept as the legal record of processing and now names only a random id."),
			r.exportAudit),
		r.part("erasure_ledger", r.keep("A random id and keyed hashes only: it keeps you erased when a backup is restored."), none),
		r.part("requests", r.anonymiseRequests, r.exportRequests),
		r.part("exports", r.delete(""), none),
		r.part("legal_holds", r.delete(""), r.exportHolds),
		// Collection (tracking, orders, stitching) and consent fill the tables below. Their rows
		// reference the customer row and go with it when erasure deletes the profile; each Part
		// still deletes explicitly, so a resumed erasure finishes the job.
		r.part("events", r.delete(cascade), r.rowsOf("Events", "What you did on the sites, apps and tills that report to us: type, name and time. Values that identify you (addresses, free text) are kept encrypted with your key and are shown in the profile section where they became profile fields.")),
		r.part("identities", r.delete(cascade), r.rowsOf("Identifiers", "The kinds of identifier (device, user, anonymous ids) that lead to your record; the identifiers themselves are stored encrypted and as keyed hashes.")),
		r.part("customer_links", r.delete(cascade), r.rowsOf("Merged records", "Records of yours that were found to be the same person and merged.")),
		r.part("orders", r.delete(cascade), r.rowsOf("Orders", "")),
		r.part("reviews", r.delete(cascade), r.rowsOf("Reviews", "")),
		r.part("checkouts", r.delete(cascade), r.rowsOf("Checkouts started", "")),
		r.part("match_keys", r.delete(cascade), note("Duplicate-detection keys", "Keyed hashes of parts of your name, birth date and address let us notice when you are registered twice; they cannot be turned back into the values, so they are not listed.")),
		r.part("match_terms", r.delete(cascade), note("Duplicate-detection counts", "Keyed hashes of your name, address and town let us count how common they are among our customers, so that sharing a common name counts for less; they cannot be turned back into the values, so they are not listed.")),
		r.part("search_tokens", r.delete(cascade), note("Search tokens", "Keyed, shortened hashes of the words of your name, your town, postal code, parts of your e-mail address, the last digits of your phone number and your customer and member numbers let staff find your record; they cannot be turned back into the values, so they are not listed.")),
		r.part("search_lists", r.delete(cascade), note("Search token list", "The list of your search tokens, kept so that a change to your record replaces exactly those; it holds the same hashes as the search tokens above.")),
		r.part("customer_quality", r.delete(cascade), r.rowsOf("Contact checks", "Whether your contact details looked deliverable when we last checked them.")),
		r.part("portal_tokens", r.delete(cascade), note("Privacy portal sign-ins", "Links and sessions you opened the privacy portal with, kept only as hashes until they end.")),
		r.part("form_confirmations", r.delete(cascade), r.rowsOf("Choices waiting for your confirmation", "Consents you gave in one of our forms that take effect only when you follow the link we e-mailed you.")),
		r.part("duplicates", r.delete(cascade), r.rowsOf("Duplicate checks", "Times another record was found to be possibly you, how sure the check was, and what was decided.")),
		// The loyalty programme and offers name the customer without a foreign key: erasure
		// deletes their rows here.
		r.part("loyalty_accounts", r.delete(""), r.rowsOf("Loyalty membership", "Your points balance and tier.")),
		r.part("loyalty_entries", r.delete(""), r.rowsOf("Loyalty points statement", "Every point you earned, redeemed, lost to expiry or had adjusted, and why.")),
		r.part("loyalty_tier_changes", r.delete(""), r.rowsOf("Loyalty tier changes", "When your tier changed and the qualifying points at the time.")),
		r.part("loyalty_pending", r.delete(""), none),
		r.part("offer_exposures", r.delete(""), r.rowsOf("Offers considered for you", "Offers you were eligible for, and whether you were shown them or were in the group that measures an offer's effect.")),
		r.part("offer_redemptions", r.delete(""), r.rowsOf("Offers you used", "The offers you redeemed and the orders you used them on.")),
		r.part("consent_records", r.keep("Kept as the proof of what you agreed to and withdrew, which the law requires us to be able to show; it holds a random id, purposes, policy versions and keyed hashes, and no contact details; the evidence of how each choice reached us (browser, form) is removed."),
			r.rowsOf("Consents", "Every consent, withdrawal, objection and restriction you gave, with the privacy-policy version and how it reached us.")),
		r.part("segment_members", r.delete("You leave every segment; destinations you were sent to are sent your removal."),
			r.rowsOf("Segments", "The customer groups you belong to, for the purposes you allowed, and since when.")),
		r.part("segment_history", r.delete(""), r.rowsOf("Segment changes", "When you entered and left customer groups, and why.")),
		r.part("segment_export_members", r.delete(""), r.rowsOf("Audience exports", "Exports of customer groups you were in; the files are made when downloaded and expire within a day.")),
		r.part("destination_deliveries", r.delete("Removals not yet sent are kept, with a random id only, until the destination has been told to forget you."),
			r.rowsOf("Sent to other services", "Each time your data, or its removal, was sent to a service we use, and whether it arrived.")),
	}
}

// registry builds the Parts of NewRegistry.
type registry struct {
	rows     Rows
	trail    audit.Store
	requests Store
}

type eraseFunc func(ctx context.Context, table, id string) (Outcome, error)
type exportFunc func(ctx context.Context, table, id string) (Section, error)

// part is a Part over one table.
type part struct {
	table  string
	erase  eraseFunc
	export exportFunc
}

func (p part) Table() string { return p.table }
func (p part) Erase(ctx context.Context, id string) (Outcome, error) {
	return p.erase(ctx, p.table, id)
}
func (p part) Export(ctx context.Context, id string) (Section, error) {
	return p.export(ctx, p.table, id)
}

func (r registry) part(table string, erase eraseFunc, export exportFunc) Part {
	return part{table: table, erase: erase, export: export}
}

func none(context.Context, string, string) (Section, error) { return Section{}, nil }

// note is a section that explains a table without listing its rows.
func note(title, text string) exportFunc {
	return func(context.Context, string, string) (Section, error) {
		return Section{Title: title, Note: text}, nil
	}
}

// delete erases by deleting the customer's rows.
func (r registry) delete(why string) eraseFunc {
	return func(ctx context.Context, table, id string) (Outcome, error) {
		n, err := r.rows.DeleteRows(ctx, table, id)
		return Outcome{Table: table, Deleted: n, Why: why}, err
	}
}

// keep erases nothing and reports how many rows stay and why.
func (r registry) keep(why string) eraseFunc {
	return func(ctx context.Context, table, id string) (Outcome, error) {
		n, err := r.rows.CountRows(ctx, table, id)
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{Table: table, Kept: n, Why: why}, nil
	}
}

// anonymiseRequests keeps the record that each request was answered, which accountability
// requires, but drops the keyed hash of the requester's contact and any pending link.
func (r registry) anonymiseRequests(ctx context.Context, table, id string) (Outcome, error) {
	n, err := r.rows.AnonymiseRequests(ctx, id)
	return Outcome{Table: table, Anonymised: n, Kept: n,
		Why: "Kept as the record that each request was answered (accountability); contact hashes removed, no personal values held."}, err
}

// rowsOf lists the customer's rows of the table as the engine exports them.
func (r registry) rowsOf(title, text string) exportFunc {
	return func(ctx context.Context, table, id string) (Section, error) {
		items, err := r.rows.ExportRows(ctx, table, id)
		return Section{Title: title, Note: text, Items: items}, err
	}
}

func (r registry) exportAudit(ctx context.Context, _, id string) (Section, error) {
	entries, err := r.trail.ListAudit(ctx, audit.Filter{CustomerID: id, Limit: 10000})
	sec := Section{Title: "Who processed your data", Note: "Every read and change of your record, with who did it, for which purpose and when (newest first, up to 10,000)."}
	for _, e := range entries {
		sec.Items = append(sec.Items, map[string]any{"time": e.Time, "action": e.Action, "by": e.ActorRole, "purpose": e.Purpose,
			"fields": strings.Join(e.Fields, ", "), "outcome": e.Outcome})
	}
	return sec, err
}

func (r registry) exportRequests(ctx context.Context, _, id string) (Section, error) {
	rs, err := r.requests.ListRequests(ctx, RequestFilter{CustomerID: id, Limit: 1000})
	sec := Section{Title: "Your requests"}
	for _, q := range rs {
		it := map[string]any{"type": q.Type, "state": q.State, "received": q.CreatedAt, "due": q.DueAt, "jurisdiction": q.Jurisdiction}
		if !q.ClosedAt.IsZero() {
			it["closed"] = q.ClosedAt
		}
		sec.Items = append(sec.Items, it)
	}
	return sec, err
}

func (r registry) exportHolds(ctx context.Context, _, id string) (Section, error) {
	h, err := r.requests.LegalHold(ctx, id)
	sec := Section{Title: "Legal hold"}
	if err == nil {
		sec.Items = []map[string]any{{"since": h.CreatedAt, "reason": h.Reason}}
	}
	return sec, nil
}
