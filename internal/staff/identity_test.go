package staff_test

import (
	"context"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/clock"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/staff"
	"github.com/stewardhq/steward/internal/store/enginetest"
)

// TestIdentityStore runs the staff identity rules on both engines: an invitation used once
// and refused after it expires, an account's passkeys listed, updated and removed (and the
// last second factor of a role that may reveal kept), identity-provider answers used once,
// a session's proof of identity, next page and ceremony kept, and signing out everywhere.
func TestIdentityStore(t *testing.T) {
	for _, engine := range enginetest.Engines {
		t.Run(engine, func(t *testing.T) {
			db, _ := enginetest.Open(t, engine)
			clk := &clock.Offset{}
			svc, err := staff.New(staff.Deps{Store: db.Staff(), Catalog: catalog.Default(), Secret: make([]byte, 32), Clock: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			sys := authz.WithActor(ctx, authz.System)

			secret, _, err := svc.Invite(sys, "Ivy@Shop.example", "support")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := svc.Invite(sys, "ivy@shop.example", "collect"); !problem.Is(err, problem.Invalid) {
				t.Errorf("an invitation with a write key's role: %v", err)
			}
			if _, _, err := svc.AcceptInvite(ctx, secret, "short"); !problem.Is(err, problem.Invalid) {
				t.Errorf("a short password: %v", err)
			}
			cookie, sess, err := svc.AcceptInvite(ctx, secret, "a long enough password")
			if err != nil || sess.Stage != staff.StagePassword {
				t.Fatalf("accept: %v %+v", err, sess)
			}
			if _, _, err := svc.AcceptInvite(ctx, secret, "a long enough password"); !problem.Is(err, problem.Gone) {
				t.Errorf("a second use: %v", err)
			}
			if _, _, err := svc.Invite(sys, "ivy@shop.example", "support"); !problem.Is(err, problem.Conflict) {
				t.Errorf("an invitation for an address with an account: %v", err)
			}
			late, _, _ := svc.Invite(sys, "late@shop.example", "auditor")
			if _, err := svc.Invitation(ctx, "si_nonsense"); !problem.Is(err, problem.NotFound) {
				t.Errorf("an unknown invitation: %v", err)
			}

			_, a, err := svc.Who(ctx, cookie, true)
			if err != nil {
				t.Fatal(err)
			}
			st := db.Staff()
			for i, name := range []string{"Laptop", "Key"} {
				if err := st.AddPasskey(ctx, staff.Passkey{ID: []byte{byte(i), 1}, AccountID: a.ID, Name: name, Credential: []byte(`{}`), CreatedAt: clk.Now()}, nil); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.AddPasskey(ctx, staff.Passkey{ID: []byte{0, 1}, AccountID: a.ID, Name: "again", Credential: []byte(`{}`), CreatedAt: clk.Now()}, nil); !problem.Is(err, problem.Conflict) {
				t.Errorf("the same passkey twice: %v", err)
			}
			keys, err := svc.Passkeys(ctx, a)
			if err != nil || len(keys) != 2 || keys[0].Name != "Laptop" || !keys[0].UsedAt.IsZero() {
				t.Fatalf("passkeys: %v %+v", err, keys)
			}
			// The staff list says who has a second factor: Ivy's passkeys count, and the
			// invited person who has not signed in yet has none.
			people, err := svc.List(sys)
			if err != nil {
				t.Fatal(err)
			}
			factors := map[string]bool{}
			for _, p := range people {
				factors[p.Email] = p.SecondFactor
			}
			if len(people) != 1 || !factors["ivy@shop.example"] {
				t.Fatalf("staff list: %+v, want Ivy alone, with a second factor", people)
			}
			keys[0].UsedAt = clk.Now()
			if err := st.UpdatePasskey(ctx, keys[0]); err != nil {
				t.Fatal(err)
			}
			if keys, _ = svc.Passkeys(ctx, a); keys[0].UsedAt.IsZero() {
				t.Error("the passkey's last use was not kept")
			}
			if err := svc.RemovePasskey(ctx, a, []byte{0, 1}); err != nil {
				t.Fatal(err)
			}
			if err := svc.RemovePasskey(ctx, a, []byte{0, 1}); !problem.Is(err, problem.NotFound) {
				t.Errorf("a removed passkey again: %v", err)
			}
			if err := svc.RemovePasskey(ctx, a, []byte{1, 1}); !problem.Is(err, problem.Conflict) {
				t.Errorf("the only second factor of a support person: %v", err)
			}

			until := clk.Now().Add(time.Minute)
			if err := st.ConsumeOnce(ctx, "saml:a1", until); err != nil {
				t.Fatal(err)
			}
			if err := st.ConsumeOnce(ctx, "saml:a1", until); !problem.Is(err, problem.Conflict) {
				t.Errorf("an answer used twice: %v", err)
			}

			// The session carries its next page and ceremony; a finished sign-in carries when it
			// proved who the person is.
			s1, _, err := svc.Who(ctx, cookie, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.SetNext(ctx, s1, "/console/account"); err != nil {
				t.Fatal(err)
			}
			if s2, _, _ := svc.Who(ctx, cookie, true); s2.Next != "/console/account" || !s2.AuthAt.IsZero() || svc.Fresh(s2) {
				t.Errorf("a half-done session: %+v", s2)
			}
			done, _, err := svc.Finish(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			other, _, _ := svc.Finish(ctx, a)
			s3, _, err := svc.Who(ctx, done, false)
			if err != nil || !svc.Fresh(s3) {
				t.Fatalf("a finished sign-in: %v %+v", err, s3)
			}
			clk.Advance(staff.ReauthAfter + time.Second)
			if s3, _, _ = svc.Who(ctx, done, false); svc.Fresh(s3) {
				t.Error("a session eleven minutes old is fresh")
			}
			if err := svc.SignOutEverywhere(ctx, a); err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{done, other} {
				if _, _, err := svc.Who(ctx, c, false); !problem.Is(err, problem.Unauthenticated) {
					t.Errorf("a session after signing out everywhere: %v", err)
				}
			}
			clk.Advance(staff.InviteFor)
			if _, err := svc.Invitation(ctx, late); !problem.Is(err, problem.Gone) {
				t.Errorf("an expired invitation: %v", err)
			}
			es, err := db.Audit().ListAudit(ctx, audit.Filter{ActorID: "staff:" + a.ID, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			acts := map[string]bool{}
			for _, e := range es {
				acts[e.Action] = true
			}
			for _, want := range []string{staff.ActionAdd, staff.ActionPasskeyDel, staff.ActionSignOutAll} {
				if !acts[want] {
					t.Errorf("no %s entry naming the person: %v", want, acts)
				}
			}
		})
	}
}
