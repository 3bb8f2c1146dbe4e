package app

import (
	"fmt"
	"os"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/forms"
	"github.com/stewardhq/steward/internal/portal"
)

// formsLabel keys the stamps hosted forms sign the time they were shown with.
const formsLabel = "hosted form stamp v1"

// openForms builds the hosted forms from the --forms file, or the built-in ones.
func (a *App) openForms(cfg config.Config) (*forms.Service, error) {
	fc, err := forms.Default(a.Catalog)
	if cfg.Forms != "" {
		b, rerr := os.ReadFile(cfg.Forms)
		if rerr != nil {
			return nil, fmt.Errorf("forms: %w", rerr)
		}
		fc, err = forms.Parse(b, a.Catalog)
	}
	if err != nil {
		return nil, err
	}
	mailer, err := newMailer(cfg)
	if err != nil {
		return nil, err
	}
	d := forms.Deps{Config: fc, Catalog: a.Catalog, Customers: a.Customers, Consents: a.Consents, Validator: a.Quality,
		Store: a.Store.Forms(), Secret: a.Keys.KeyedHash(formsLabel, nil), PublicURL: cfg.PublicURL, Clock: a.Clock}
	if mailer != nil {
		d.Mailer = mailer
	}
	return forms.New(d)
}

// openPortal builds the customer's privacy portal; it sends its sign-in links like the
// self-service requests send theirs.
func (a *App) openPortal(cfg config.Config) (*portal.Service, error) {
	mailer, err := newMailer(cfg)
	if err != nil {
		return nil, err
	}
	d := portal.Deps{Catalog: a.Catalog, Customers: a.Customers, Consents: a.Consents, Rights: a.Rights, Store: a.Store.Portal(),
		PublicURL: cfg.PublicURL, Clock: a.Clock}
	if mailer != nil {
		d.Mailer = mailer
	}
	return portal.New(d)
}
