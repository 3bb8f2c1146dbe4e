package httpapi

import (
	"net/http"
	"strconv"

	"github.com/stewardhq/steward/internal/customer"
	"github.com/stewardhq/steward/internal/problem"
)

// SearchList is the answer of a search: the best matches first.
type SearchList struct {
	Data []customer.SearchResult `json:"data"`
}

// searchParams are the query parameters a search understands; anything else is refused, so a
// misspelt filter never silently widens the answer.
var searchParams = map[string]bool{"q": true, "limit": true, "country": true, "contact_status": true,
	"loyalty_tier": true, "created_after": true, "created_before": true}

// searchCustomers ranks customers by how well they answer q (see customer.Service.Search).
func (s *Server) searchCustomers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	for name := range q {
		if !searchParams[name] {
			return problem.InvalidField(name, "is not a search parameter (q, limit, country, contact_status, loyalty_tier, created_after, created_before)")
		}
	}
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return problem.InvalidField("limit", "must be an integer from 1 to %d", customer.MaxSearchLimit)
		}
		limit = n
		if n == 0 {
			limit = -1
		}
	}
	f := customer.SearchFilter{Country: q.Get("country"), LoyaltyTier: q.Get("loyalty_tier"), ContactStatus: q.Get("contact_status")}
	var err error
	if f.CreatedFrom, err = timeParam(r, "created_after"); err != nil {
		return err
	}
	if f.CreatedTo, err = timeParam(r, "created_before"); err != nil {
		return err
	}
	found, err := s.Customers.Search(r.Context(), q.Get("q"), f, limit, r.Header.Get("Steward-Purpose"))
	if err != nil {
		return err
	}
	if found == nil {
		found = []customer.SearchResult{}
	}
	return writeJSON(w, http.StatusOK, SearchList{Data: found})
}
