package source

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/problem"
)

// Meta's leadgen webhook names a lead and carries none of its answers: they are read from the
// Graph API (GET /{lead-id}) with a page access token holding leads_retrieval. Steward reads
// them while the delivery is being handled, before anything is stored, and answers 503 if it
// cannot: nothing is stored, the source's last error says why, and Meta delivers the webhook
// again (it retries failed deliveries for up to 36 hours). So a lead is acknowledged only once
// it is stored with its answers, and a lead never waits in Steward half-known; a page token
// that stays broken longer than Meta retries loses the webhook, which the lead export
// replayed through `steward sources replay` recovers.

// DefaultGraphURL is Meta's Graph API, at the version whose lead shape Steward reads.
const DefaultGraphURL = "https://graph.facebook.com/v21.0"

// maxLead bounds a lead read from the Graph API.
const maxLead = 1 << 20

// graphClient reads leads from the Graph API.
type graphClient struct {
	base   string
	client *http.Client
}

func newGraphClient(base string) graphClient {
	if base == "" {
		base = DefaultGraphURL
	}
	return graphClient{base: strings.TrimRight(base, "/"), client: &http.Client{Timeout: 10 * time.Second}}
}

// lead reads one lead: its id, created_time and field_data. The token travels in the
// Authorization header, never in the URL, so no error or log line can carry it.
func (g graphClient) lead(ctx context.Context, token, id string) (obj, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/"+url.PathEscape(id)+"?fields=id,created_time,field_data", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := g.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the Graph API did not answer")
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxLead))
	if err != nil {
		return nil, fmt.Errorf("the Graph API's answer could not be read")
	}
	if resp.StatusCode != http.StatusOK {
		// Meta's error object says why (an expired token, a missing permission); its
		// message names no lead data.
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		return nil, fmt.Errorf("the Graph API answered %d (code %d: %s)", resp.StatusCode, e.Error.Code, clip(e.Error.Message))
	}
	o, err := decodeObject(body)
	if err != nil || o.str("id") != id {
		return nil, fmt.Errorf("the Graph API's answer is not the lead asked for")
	}
	return o, nil
}

// fetchLeads reads from the Graph API the answers of the leads evs names without them, when
// the source holds a page access token, and puts them in the events. It fails as Unavailable
// (503: Meta retries the delivery) if a lead cannot be read; nothing of the delivery is stored.
func (s *Service) fetchLeads(ctx context.Context, src *opened, evs []event) error {
	if src.Kind != MetaLeads || src.PageToken == "" {
		return nil
	}
	for i := range evs {
		id := evs[i].lead
		if id == "" {
			continue
		}
		if strings.Trim(id, "0123456789") != "" {
			return problem.InvalidField("leadgen_id", "must be a Meta object id (digits)")
		}
		o, err := s.graph.lead(ctx, src.PageToken, id)
		if err != nil {
			return problem.Wrap(problem.Unavailable, err, "the lead's answers could not be read from Meta's Graph API (%s); Meta delivers the webhook again", err.Error())
		}
		evs[i] = metaLead(id, o)
	}
	return nil
}
