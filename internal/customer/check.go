package customer

import (
	"context"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
)

// CheckFields runs each value of a change through the same validation Patch applies, one
// field at a time, and returns every field's error (a problem naming the field), in field
// order; nil when all pass. It writes nothing: a form that shows all its mistakes at once
// calls it before Patch, which still refuses the whole change on any bad value. Needs
// customers.write, like Patch.
func (s *Service) CheckFields(ctx context.Context, fields map[string]any) ([]error, error) {
	if _, err := authz.Require(ctx, s.catalog, catalog.PermCustomersWrite); err != nil {
		return nil, err
	}
	var errs []error
	for _, name := range sortedKeys(fields) {
		if _, err := s.vault.normalize(map[string]any{name: fields[name]}, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errs, nil
}
