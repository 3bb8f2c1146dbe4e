package app

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/consent"
	"github.com/stewardhq/steward/internal/rights"
)

// ledgerLabel keys the MACs of the erasure ledger file.
const ledgerLabel = "erasure ledger v1"

// openRights builds the rights service over the erasure ledger file (kept beside the
// database, replayed by every restore) and the consent ledger, where completed restriction,
// objection and opt-out requests are recorded for the permission decision.
func (a *App) openRights(cfg config.Config) (*rights.Service, error) {
	mailer, err := newMailer(cfg)
	if err != nil {
		return nil, err
	}
	// The file drop also takes text messages, so requests by phone can be tried in
	// development; SMTP cannot text, so with it requests by phone are refused.
	texter, _ := mailer.(rights.Texter)
	km := a.Keys
	return rights.New(rights.Deps{Store: a.Store.Rights(), Customers: a.Customers, Vault: a.Vault, Audit: a.Store.Audit(),
		Catalog: a.Catalog, Hasher: km, Consents: a.Consents, Mailer: mailer, Texter: texter, Clock: a.Clock,
		Ledger: &rights.LedgerFile{Path: cfg.LedgerPath(), MAC: func(b []byte) []byte { return km.KeyedHash(ledgerLabel, b) }},
		Parts:  rights.NewRegistry(evidenceRows{Rows: a.Store.Rights(), consents: a.Consents}, a.Store.Audit(), a.Store.Rights())},
		rights.Settings{Deadlines: cfg.Deadlines(), DefaultJurisdiction: cfg.DefaultJurisdiction(), ExportTTL: cfg.ExportTTL,
			PublicURL: cfg.PublicURL, FourEyes: cfg.RequestFourEyes})
}

// newMailer reads the mail setting: empty turns self-service requests off, file:DIR drops
// messages as files, smtp://user:password@host:port sends them.
func newMailer(cfg config.Config) (rights.Mailer, error) {
	m := cfg.Mail.Reveal()
	switch {
	case m == "":
		return nil, nil
	case strings.HasPrefix(m, "file:"):
		dir := strings.TrimPrefix(m, "file:")
		if dir == "" {
			dir = filepath.Join(cfg.Data, "mail")
		}
		return &rights.FileMailer{Dir: dir, From: cfg.MailFrom}, nil
	}
	u, err := url.Parse(m)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("mail: not a valid smtp:// URL")
	}
	pw, _ := u.User.Password()
	return &rights.SMTPMailer{Addr: u.Host, User: u.User.Username(), Password: pw, From: cfg.MailFrom}, nil
}

// evidenceRows is the engine's rows with one addition: the access export's consent records
// carry their evidence, which the engine holds only sealed under the customer's key and so
// cannot show; the consent service opens it. Erasure goes to the engine unchanged.
type evidenceRows struct {
	rights.Rows
	consents *consent.Service
}

// ExportRows implements rights.Rows. Both reads list the ledger by seq, and records are only
// ever appended, so the i-th evidence belongs to the i-th row.
func (r evidenceRows) ExportRows(ctx context.Context, table, customerID string) ([]map[string]any, error) {
	items, err := r.Rows.ExportRows(ctx, table, customerID)
	if err != nil || table != "consent_records" || len(items) == 0 {
		return items, err
	}
	evs, err := r.consents.ExportEvidence(ctx, customerID)
	if err != nil {
		return nil, err
	}
	for i := range items {
		if i < len(evs) {
			for k, v := range evs[i] {
				items[i]["evidence_"+k] = v // flat, so the CSV has a column for each
			}
		}
	}
	return items, nil
}
