package app

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/retention"
	"github.com/stewardhq/steward/internal/rights"
)

// ledgerLabel keys the MACs of the erasure ledger file.
const ledgerLabel = "erasure ledger v1"

// wireRights builds the rights service and connects the customer service to the erasure
// ledger (Gone for erased ids), and the rights service to the consent ledger, where completed
// restriction, objection and opt-out requests are recorded for the permission decision.
func (a *App) wireRights(cfg config.Config) error {
	deadlines, err := rights.ParseDeadlines(cfg.RequestDeadlines)
	if err != nil {
		return err
	}
	if _, ok := deadlines[strings.ToLower(cfg.Jurisdiction)]; !ok {
		return fmt.Errorf("jurisdiction: %q has no deadline in request-deadlines", cfg.Jurisdiction)
	}
	if cfg.InactiveAfter != "" {
		if _, err := catalog.ParseRetention(cfg.InactiveAfter); err != nil {
			return fmt.Errorf("inactive-after: %w", err)
		}
	}
	mailer, err := newMailer(cfg)
	if err != nil {
		return err
	}
	km := a.Keys
	a.Rights = &rights.Service{Store: a.Store.Rights(), Customers: a.Customers, Catalog: a.Catalog, Hasher: km,
		Ledger: &rights.LedgerFile{Path: cfg.LedgerPath(), MAC: func(b []byte) []byte { return km.KeyedHash(ledgerLabel, b) }},
		Parts:  rights.NewRegistry(a.Store.Rights(), a.Store.Audit(), a.Store.Rights()), Mailer: mailer,
		Settings: rights.Settings{Deadlines: deadlines, DefaultJurisdiction: strings.ToLower(cfg.Jurisdiction),
			ExportTTL: cfg.ExportTTL, PublicURL: cfg.PublicURL}}
	a.Rights.Suppress = func(ctx context.Context, values map[string][]byte) ([]string, error) {
		contacts := map[string]string{}
		for field, v := range values {
			contacts[field] = string(v)
		}
		return a.Consents.SuppressErased(ctx, contacts)
	}
	a.Rights.Resuppress = a.Consents.Resuppress
	a.Rights.Choices = a.Consents
	a.Customers.Ledger = a.Store.Rights()
	return nil
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

// Retention builds the retention service from the configuration.
func (a *App) Retention() *retention.Service {
	inactive, _ := catalog.ParseRetention(a.Config.InactiveAfter) // validated in wireRights
	return &retention.Service{Customers: a.Customers, Rights: a.Rights, Catalog: a.Catalog, Audit: a.Store.Audit(), InactiveAfter: inactive}
}
