package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/httpapi"
	"github.com/stewardhq/steward/internal/rights"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// TestPortalMailLimits floods the privacy portal: many requests naming one victim's address
// make Steward send only a few messages, then the same 202 with none; a known customer's
// address and an address nobody holds get identical answers and the same limit; and one
// client naming many addresses is refused with 429.
func TestPortalMailLimits(t *testing.T) { portalMailLimits(t, "") }

func TestPortalMailLimitsPostgres(t *testing.T) { portalMailLimits(t, pgtest.URL(t)) }

func portalMailLimits(t *testing.T, db string) {
	p := newPortalEnv(t, db)
	p.create(`{"email":"victim.zq@example.com","first_name":"Victimzq"}`)
	ask := func(email string) (int, string) {
		t.Helper()
		return p.do(call{method: "POST", path: "/v1/privacy/requests", body: `{"type":"access","email":"` + email + `"}`})
	}
	const flood = 5
	var answers []string
	for _, addr := range []string{"victim.zq@example.com", "nobody.zq@example.com"} {
		for i := range flood {
			code, body := ask(addr)
			if code != 202 {
				t.Fatalf("request %d for %s: got %d %s", i, addr, code, body)
			}
			answers = append(answers, body)
		}
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("answers differ:\n%s\n%s", answers[0], a)
		}
	}
	if n := len(p.messages(".eml")); n != 2*rights.SelfRequestsPerContact {
		t.Fatalf("%d messages sent for %d requests naming 2 addresses, want %d", n, 2*flood, 2*rights.SelfRequestsPerContact)
	}
	// An hour later the victim may ask again.
	p.clock.Set(rights.SelfRequestWindow + time.Minute)
	if code, body := ask("victim.zq@example.com"); code != 202 {
		t.Fatalf("after the window: got %d %s", code, body)
	}
	if n := len(p.messages(".eml")); n != 2*rights.SelfRequestsPerContact+1 {
		t.Fatalf("after the window: %d messages, want %d", n, 2*rights.SelfRequestsPerContact+1)
	}

	// One client naming a new address each time is stopped by its own limit.
	made := 2*flood + 1
	limited := 0
	for i := 0; made < httpapi.PortalRequestsPerAddress+5; i++ {
		code, body := ask(fmt.Sprintf("target%d.zq@example.com", i))
		made++
		switch {
		case code == 429:
			limited++
			if strings.Contains(body, "zq") {
				t.Fatalf("429 repeats the address: %s", body)
			}
		case code != 202 || limited > 0:
			t.Fatalf("request %d from one client: got %d %s", made, code, body)
		}
	}
	if limited != 5 {
		t.Fatalf("%d of %d requests from one client limited, want 5", limited, made)
	}
	want := 2*rights.SelfRequestsPerContact + 1 + httpapi.PortalRequestsPerAddress - (2*flood + 1)
	if n := len(p.messages(".eml")); n != want {
		t.Fatalf("%d messages in all, want %d", n, want)
	}
	_, metrics := p.do(call{method: "GET", path: "/metrics"})
	if !strings.Contains(metrics, `steward_http_limited_total{limit="portal_address"} 5`) {
		t.Fatalf("the portal limit is not in the metrics")
	}
}
