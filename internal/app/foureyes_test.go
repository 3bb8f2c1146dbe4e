package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// Attack: admin may reveal nothing, yet opening a portability request by the customer's
// e-mail, verifying it, completing it and downloading the export handed it national_id, phone
// and every other field in clear. Each step of that sequence is now refused by a rule of its
// own: verification by the person who opened the request (four-eyes), completion and the
// staff download by a role without reveal rights for privacy_requests.

func TestAdminCannotExportThroughOwnRequest(t *testing.T) { adminExport(t, sqliteDB) }
func TestAdminCannotExportThroughOwnRequestPostgres(t *testing.T) {
	adminExport(t, pgtest.URL)
}

// sqliteDB is the database setting of a SQLite env, in the shape of pgtest.URL, for tests
// that start several envs, each on a database of its own.
func sqliteDB(testing.TB) string { return "" }

func adminExport(t *testing.T, db func(testing.TB) string) {
	e := newEnv(t, db(t))
	id := e.create(ada)
	code, body := e.do(call{method: "POST", path: "/v1/requests", role: "admin", body: `{"type":"portability","email":"ada.lovelace@example.com"}`})
	if code != 201 {
		t.Fatalf("admin opens: got %d %s", code, body)
	}
	rid := idOf(t, body)
	if !strings.Contains(body, `"opened_by":"`) {
		t.Errorf("request does not say who opened it: %s", body)
	}
	// Step 2 of the attack: the admin vouches for the requester itself.
	code, body = e.do(call{method: "POST", path: "/v1/requests/" + rid + "/verify", role: "admin"})
	if code != 403 || !strings.Contains(body, "four-eyes rule") {
		t.Fatalf("admin verifies its own request: got %d %s, want 403 naming the four-eyes rule", code, body)
	}
	// Someone else verifies; the admin still may not have the export made…
	if code, body := e.do(call{method: "POST", path: "/v1/requests/" + rid + "/verify", role: "dpo"}); code != 200 {
		t.Fatalf("dpo verifies: got %d %s", code, body)
	}
	code, body = e.do(call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "admin"})
	if code != 403 || !strings.Contains(body, "reveal rights for privacy_requests") || !strings.Contains(body, `role \"admin\" may not reveal`) {
		t.Fatalf("admin completes: got %d %s, want 403 naming reveal rights", code, body)
	}
	if _, body := e.do(call{method: "GET", path: "/v1/requests/" + rid, role: "dpo"}); !strings.Contains(body, `"state":"verified"`) {
		t.Fatalf("refused completion changed the request: %s", body)
	}
	// …nor download the one the DPO made.
	code, body = e.do(call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "dpo"})
	if code != 200 || !strings.Contains(body, `"state":"completed"`) {
		t.Fatalf("dpo completes: got %d %s", code, body)
	}
	code, body = e.do(call{method: "GET", path: "/v1/requests/" + rid + "/export", role: "admin"})
	if code != 403 || !strings.Contains(body, "reveal rights for privacy_requests") {
		t.Fatalf("admin downloads: got %d %s, want 403", code, body)
	}
	for _, canary := range []string{"QQ123456C", "7946 0958", "79460958"} {
		if strings.Contains(body, canary) {
			t.Errorf("refusal holds %s", canary)
		}
	}
	if code, _ := e.do(call{method: "GET", path: "/v1/requests/" + rid + "/export", role: "dpo"}); code != 200 {
		t.Fatalf("dpo downloads: got %d", code)
	}
	// Nothing the admin tried went through, so the audit shows no step of it done by admin.
	for _, a := range e.auditActions(id) {
		switch a {
		case "request.verify:admin:privacy_requests", "request.start:admin:privacy_requests", "export.create:admin:privacy_requests",
			"export.fetch:admin:privacy_requests":
			t.Errorf("audit shows the admin acting: %s", a)
		}
	}

	// With the rule off the admin may verify what it opened, and still gets no export.
	off := newEnv(t, db(t), func(c *config.Config) { c.RequestFourEyes = false })
	off.create(ada)
	_, body = off.do(call{method: "POST", path: "/v1/requests", role: "admin", body: `{"type":"access","email":"ada.lovelace@example.com"}`})
	rid = idOf(t, body)
	if code, body := off.do(call{method: "POST", path: "/v1/requests/" + rid + "/verify", role: "admin"}); code != 200 {
		t.Fatalf("rule off, admin verifies: got %d %s", code, body)
	}
	if code, body := off.do(call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "admin"}); code != 403 || !strings.Contains(body, "privacy_requests") {
		t.Fatalf("rule off, admin completes: got %d %s", code, body)
	}
}

// A DPO completes a request another DPO or the owner opened; the DPO who opened a request
// may not verify it while the rule is on, and may when it is off.
func TestFourEyesVerification(t *testing.T) { fourEyes(t, sqliteDB) }
func TestFourEyesVerificationPostgres(t *testing.T) {
	fourEyes(t, pgtest.URL)
}

func fourEyes(t *testing.T, db func(testing.TB) string) {
	for _, on := range []bool{true, false} {
		e := newEnv(t, db(t), func(c *config.Config) { c.RequestFourEyes = on })
		k, _, err := e.app.APIKeys.Create(authz.WithActor(context.Background(), authz.System), "dpo", "second dpo key")
		if err != nil {
			t.Fatal(err)
		}
		e.keys["dpo2"] = k
		e.create(ada)
		open := func(role string) string {
			code, body := e.do(call{method: "POST", path: "/v1/requests", role: role, body: `{"type":"access","email":"ada.lovelace@example.com"}`})
			if code != 201 {
				t.Fatalf("%s opens: got %d %s", role, code, body)
			}
			return idOf(t, body)
		}
		for _, opener := range []string{"dpo2", "owner"} {
			rid := open(opener)
			if code, body := e.verifyAndComplete(rid, ""); code != 200 || !strings.Contains(body, `"download_url"`) {
				t.Fatalf("rule %v, opened by %s, dpo completes: got %d %s", on, opener, code, body)
			}
		}
		rid := open("dpo")
		code, body := e.do(call{method: "POST", path: "/v1/requests/" + rid + "/verify", role: "dpo"})
		switch {
		case on && (code != 403 || !strings.Contains(body, "four-eyes rule") || !strings.Contains(body, "--request-four-eyes")):
			t.Fatalf("rule on, dpo verifies its own request: got %d %s", code, body)
		case !on && code != 200:
			t.Fatalf("rule off, dpo verifies its own request: got %d %s", code, body)
		}
		if on {
			if _, body := e.do(call{method: "GET", path: "/v1/requests/" + rid, role: "dpo"}); !strings.Contains(body, `"state":"received"`) {
				t.Fatalf("refused verification changed the request: %s", body)
			}
			if code, body := e.do(call{method: "POST", path: "/v1/requests/" + rid + "/verify", role: "dpo2"}); code != 200 {
				t.Fatalf("second dpo verifies: got %d %s", code, body)
			}
		}
		// The opener may complete once someone else verified: four eyes saw the identity.
		if code, body := e.do(call{method: "POST", path: "/v1/requests/" + rid + "/complete", role: "dpo"}); code != 200 {
			t.Fatalf("rule %v, dpo completes: got %d %s", on, code, body)
		}
	}
}

// A request the customer made on the portal has no staff opener: any DPO verifies it, and the
// download link mailed to the customer works without any key.
func TestFourEyesSelfService(t *testing.T) {
	p := newPortalEnv(t, "")
	p.create(ada)
	if code, body := p.do(call{method: "POST", path: "/v1/privacy/requests", body: `{"type":"portability","email":"ada.lovelace@example.com"}`}); code != 202 {
		t.Fatalf("portal request: got %d %s", code, body)
	}
	_, list := p.do(call{method: "GET", path: "/v1/requests", role: "dpo"})
	var rs struct {
		Data []struct {
			ID       string `json:"id"`
			OpenedBy string `json:"opened_by"`
		}
	}
	if err := json.Unmarshal([]byte(list), &rs); err != nil || len(rs.Data) != 1 || rs.Data[0].OpenedBy != "" {
		t.Fatalf("requests: %s", list)
	}
	if code, body := p.verifyAndComplete(rs.Data[0].ID, ""); code != 200 || !strings.Contains(body, `"link_sent_to":"email"`) {
		t.Fatalf("complete: got %d %s", code, body)
	}
	link := linkIn(t, p.lastMessage(".eml", 2))
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" || len(b) == 0 {
		t.Fatalf("customer's download link: got %d %s", resp.StatusCode, b)
	}
}

func idOf(t *testing.T, body string) string {
	t.Helper()
	var r struct{ ID string }
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.ID == "" {
		t.Fatalf("no id in %s", body)
	}
	return r.ID
}
