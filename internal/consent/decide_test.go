package consent

import (
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/catalog"
)

var (
	t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	t2 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // "now" in most scenarios
	t3 = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
)

// testPolicies: v1 covers the consent purposes; v2 changes marketing_sms materially; v3,
// not yet in force at t2, will change marketing_email materially.
var testPolicies = Policies{
	{Version: "v1", Seq: 1, EffectiveAt: t0, Purposes: []string{"marketing_email", "marketing_sms", "personalization", "ads_sharing", "newsletter_li"}},
	{Version: "v2", Seq: 2, EffectiveAt: t1, Purposes: []string{"marketing_email", "marketing_sms", "personalization", "ads_sharing"}, MaterialChange: []string{"marketing_sms"}},
	{Version: "v3", Seq: 3, EffectiveAt: t3, Purposes: []string{"marketing_email", "marketing_sms", "personalization", "ads_sharing"}, MaterialChange: []string{"marketing_email"}},
}

// rec builds a ledger record: kind, purpose, granted, version, source, time.
func rec(kind, purpose string, granted bool, version, source string, at time.Time) Record {
	return Record{ID: kind + "-" + purpose + "-" + at.Format("0102"), Kind: kind, Purpose: purpose, Granted: granted, PolicyVersion: version, Source: source, At: at}
}

func grant(purpose, version string, at time.Time) Record {
	return rec(KindConsent, purpose, true, version, SourceSignupForm, at)
}

func withdraw(purpose, source string, at time.Time) Record {
	return rec(KindConsent, purpose, false, "v2", source, at)
}

// eventWithdrawal is a withdrawal recorded by an event (or carried from one), with its evidence.
func eventWithdrawal(purpose, source, form string, at time.Time) Record {
	r := withdraw(purpose, source, at)
	r.Evidence.FormID = form
	return r
}

// TestDecide is the permission rule as a table: purposes of every legal basis, against consent
// histories, policy versions (in force, materially changed, not yet in force), GPC signals,
// objections, restrictions and the suppression list.
func TestDecide(t *testing.T) {
	cat := catalog.Default()
	purpose := func(name string) catalog.Purpose {
		if name == "newsletter_li" { // direct marketing on legitimate interest (a "soft opt-in")
			return catalog.Purpose{Name: name, LegalBasis: catalog.LegitimateInterest, Marketing: true}
		}
		p, ok := cat.Purpose(name)
		if !ok {
			t.Fatalf("no purpose %q", name)
		}
		return p
	}
	day := 24 * time.Hour
	tests := []struct {
		name       string
		purpose    string
		history    []Record
		now        time.Time
		unknown    bool      // the customer does not exist
		gpc        bool      // the request carries Sec-GPC: 1
		suppressed time.Time // when the customer's contact was put on the list
		policies   Policies  // testPolicies when nil
		allowed    bool
		reason     string
		version    string
	}{
		// Contract and legal obligation need no consent; only a restriction stops the former.
		{name: "contract, nothing recorded", purpose: "service", allowed: true, reason: ReasonContract},
		{name: "contract, consents irrelevant", purpose: "support", history: []Record{withdraw("marketing_email", SourcePortal, t1)}, allowed: true, reason: ReasonContract},
		{name: "contract, restricted", purpose: "service", history: []Record{rec(KindRestriction, "", false, "", SourcePortal, t1)}, reason: ReasonRestricted},
		{name: "contract, restriction lifted", purpose: "service", history: []Record{rec(KindRestriction, "", false, "", SourcePortal, t1), rec(KindRestriction, "", true, "", SourcePortal, t1.Add(day))}, allowed: true, reason: ReasonContract},
		{name: "legal obligation survives a restriction", purpose: "legal_obligation", history: []Record{rec(KindRestriction, "", false, "", SourcePortal, t1)}, allowed: true, reason: ReasonLegalObligation},
		{name: "legal obligation, unknown customer", purpose: "legal_obligation", unknown: true, reason: ReasonUnknownCustomer},
		{name: "contract, GPC is irrelevant", purpose: "service", gpc: true, allowed: true, reason: ReasonContract},

		// Legitimate interest: allowed until the customer objects.
		{name: "legitimate interest, nothing recorded", purpose: "analytics", allowed: true, reason: ReasonLegitimateInterest},
		{name: "legitimate interest, objected", purpose: "fraud_prevention", history: []Record{rec(KindObjection, "fraud_prevention", false, "", SourcePortal, t1)}, reason: ReasonObjected},
		{name: "legitimate interest, objection to another purpose", purpose: "analytics", history: []Record{rec(KindObjection, "fraud_prevention", false, "", SourcePortal, t1)}, allowed: true, reason: ReasonLegitimateInterest},
		{name: "legitimate interest, objection lifted", purpose: "analytics", history: []Record{rec(KindObjection, "analytics", false, "", SourcePortal, t1), rec(KindObjection, "analytics", true, "", SourcePortal, t1.Add(day))}, allowed: true, reason: ReasonLegitimateInterest},
		{name: "legitimate interest, restricted", purpose: "analytics", history: []Record{rec(KindRestriction, "", false, "", SourceAPI, t1)}, reason: ReasonRestricted},
		{name: "legitimate-interest marketing, suppressed", purpose: "newsletter_li", suppressed: t1, reason: ReasonSuppressed},
		{name: "legitimate-interest marketing, not suppressed", purpose: "newsletter_li", allowed: true, reason: ReasonLegitimateInterest},

		// Consent: only a live grant under the policy in force counts.
		{name: "consent, never asked", purpose: "marketing_email", reason: ReasonNoConsent},
		{name: "consent, unknown customer", purpose: "marketing_email", unknown: true, history: []Record{grant("marketing_email", "v1", t0)}, reason: ReasonUnknownCustomer},
		{name: "consent given", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0)}, allowed: true, reason: ReasonConsent, version: "v1"},
		{name: "consent for another purpose only", purpose: "marketing_sms", history: []Record{grant("marketing_email", "v2", t1)}, reason: ReasonNoConsent},
		{name: "consent withdrawn", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), withdraw("marketing_email", SourcePortal, t1)}, reason: ReasonWithdrawn},
		{name: "consent given again after withdrawal", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), withdraw("marketing_email", SourcePortal, t1), grant("marketing_email", "v2", t1.Add(day))}, allowed: true, reason: ReasonConsent, version: "v2"},
		{name: "consent under a version materially changed since", purpose: "marketing_sms", history: []Record{grant("marketing_sms", "v1", t0)}, reason: ReasonNeedsReconsent, version: "v2"},
		{name: "consent under the changing version", purpose: "marketing_sms", history: []Record{grant("marketing_sms", "v2", t1)}, allowed: true, reason: ReasonConsent, version: "v2"},
		{name: "material change not yet in force", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0)}, now: t2, allowed: true, reason: ReasonConsent, version: "v1"},
		{name: "material change in force", purpose: "marketing_email", history: []Record{grant("marketing_email", "v2", t1)}, now: t3, reason: ReasonNeedsReconsent, version: "v3"},
		{name: "material change to another purpose", purpose: "personalization", history: []Record{grant("personalization", "v1", t0)}, now: t3, allowed: true, reason: ReasonConsent, version: "v1"},
		{name: "consent purpose not in the policy in force", purpose: "ads_sharing", history: []Record{grant("ads_sharing", "v1", t0)},
			policies: Policies{testPolicies[0], {Version: "v2", Seq: 2, EffectiveAt: t1, Purposes: []string{"marketing_email"}}}, reason: ReasonNotInPolicy, version: "v2"},
		{name: "consent under a version no longer published", purpose: "marketing_email", history: []Record{grant("marketing_email", "v0", t0)}, reason: ReasonNeedsReconsent},
		{name: "consent, restricted", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), rec(KindRestriction, "", false, "", SourcePortal, t1)}, reason: ReasonRestricted},
		{name: "direct marketing objection is absolute", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), rec(KindObjection, "marketing_email", false, "", SourcePortal, t1)}, reason: ReasonObjected},

		// Global Privacy Control overrides consent for the purposes the catalog marks.
		{name: "GPC in the request overrides consent", purpose: "personalization", history: []Record{grant("personalization", "v1", t0)}, gpc: true, reason: ReasonGPCOptOut},
		{name: "GPC opt-out recorded", purpose: "ads_sharing", history: []Record{grant("ads_sharing", "v1", t0), withdraw("ads_sharing", SourceGPC, t1)}, reason: ReasonGPCOptOut},
		{name: "consent given after a GPC opt-out", purpose: "ads_sharing", history: []Record{withdraw("ads_sharing", SourceGPC, t1), grant("ads_sharing", "v2", t1.Add(day))}, allowed: true, reason: ReasonConsent, version: "v2"},
		{name: "GPC does not touch other consent purposes", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0)}, gpc: true, allowed: true, reason: ReasonConsent, version: "v1"},
		{name: "GPC and no consent", purpose: "ads_sharing", gpc: true, reason: ReasonGPCOptOut},

		// The suppression list blocks marketing until a fresh opt-in made after it.
		{name: "suppressed after the grant", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0)}, suppressed: t1, reason: ReasonSuppressed},
		{name: "grant after suppression (fresh opt-in)", purpose: "marketing_email", history: []Record{grant("marketing_email", "v2", t1.Add(day))}, suppressed: t1, allowed: true, reason: ReasonConsent, version: "v2"},
		{name: "imported grant after suppression", purpose: "marketing_email", history: []Record{rec(KindConsent, "marketing_email", true, "v2", SourceImport, t1.Add(day))}, suppressed: t1, reason: ReasonSuppressed},
		{name: "suppression does not block non-marketing consent", purpose: "personalization", history: []Record{grant("personalization", "v1", t0)}, suppressed: t1, allowed: true, reason: ReasonConsent, version: "v1"},
		// Opt-outs reported by events say what the customer did, also once a merge carried them.
		{name: "unsubscribed", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), eventWithdrawal("marketing_email", SourceEvent, "event:Unsubscribed:ab12", t1)}, reason: ReasonUnsubscribed},
		{name: "spam complaint", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), eventWithdrawal("marketing_email", SourceEvent, "event:Email Marked as Spam:ab12", t1)}, reason: ReasonComplained},
		{name: "complaint carried by a merge", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), eventWithdrawal("marketing_email", SourceMerge, "event:Email Marked as Spam", t1)}, reason: ReasonComplained},
		{name: "other withdrawal carried by a merge", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), eventWithdrawal("marketing_email", SourceMerge, "", t1)}, reason: ReasonWithdrawn},
		{name: "GPC opt-out carried by a merge", purpose: "ads_sharing", history: []Record{grant("ads_sharing", "v1", t0), eventWithdrawal("ads_sharing", SourceMerge, "carried:gpc", t1)}, reason: ReasonGPCOptOut},
		{name: "request opt-out carried by a merge", purpose: "ads_sharing", history: []Record{grant("ads_sharing", "v1", t0), eventWithdrawal("ads_sharing", SourceMerge, "carried:request", t1)}, reason: ReasonOptedOut},
		{name: "another carried source reads withdrawn", purpose: "ads_sharing", history: []Record{grant("ads_sharing", "v1", t0), eventWithdrawal("ads_sharing", SourceMerge, "carried:portal", t1)}, reason: ReasonWithdrawn},
		{name: "unsubscribe from legitimate-interest marketing", purpose: "newsletter_li", history: []Record{func() Record {
			r := eventWithdrawal("newsletter_li", SourceEvent, "event:Unsubscribed", t1)
			r.Kind = KindObjection
			return r
		}()}, reason: ReasonUnsubscribed},
		{name: "consent given again after an unsubscribe", purpose: "marketing_email", history: []Record{eventWithdrawal("marketing_email", SourceEvent, "event:Unsubscribed", t1), grant("marketing_email", "v2", t1.Add(day))}, allowed: true, reason: ReasonConsent, version: "v2"},
		{name: "withdrawal named before suppression", purpose: "marketing_email", history: []Record{grant("marketing_email", "v1", t0), withdraw("marketing_email", SourcePortal, t1)}, suppressed: t1, reason: ReasonWithdrawn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = t2
			}
			ps := tt.policies
			if ps == nil {
				ps = testPolicies
			}
			f := facts{exists: !tt.unknown, gpc: tt.gpc, suppressedAt: tt.suppressed}
			for i := range tt.history {
				f.fold(&tt.history[i], tt.purpose)
			}
			d := decide(purpose(tt.purpose), ps, f, "c1", now)
			if d.Allowed != tt.allowed || d.Reason != tt.reason {
				t.Fatalf("got allowed=%v reason=%s, want allowed=%v reason=%s", d.Allowed, d.Reason, tt.allowed, tt.reason)
			}
			if tt.version != "" && d.PolicyVersion != tt.version {
				t.Errorf("got policy version %q, want %q", d.PolicyVersion, tt.version)
			}
			if d.CustomerID != "c1" || d.Purpose != tt.purpose {
				t.Errorf("decision names %s/%s", d.CustomerID, d.Purpose)
			}
			if d.Allowed && d.Reason == ReasonConsent && (d.Since == nil || !d.Since.Equal(f.consent.At)) {
				t.Errorf("an allowed consent decision must say since when: %+v", d)
			}
		})
	}
}

func TestPoliciesInForce(t *testing.T) {
	if _, ok := testPolicies.InForce(t0.Add(-time.Second)); ok {
		t.Fatal("a policy is in force before the first takes effect")
	}
	for _, tc := range []struct {
		at   time.Time
		want string
	}{{t0, "v1"}, {t1.Add(-time.Second), "v1"}, {t1, "v2"}, {t2, "v2"}, {t3, "v3"}} {
		if p, _ := testPolicies.InForce(tc.at); p.Version != tc.want {
			t.Errorf("in force at %s: got %s, want %s", tc.at, p.Version, tc.want)
		}
	}
}
