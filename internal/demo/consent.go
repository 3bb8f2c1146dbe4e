package demo

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/stewardhq/steward/internal/consent"
)

// DemoPolicy is the privacy-policy version a demo installation publishes.
const DemoPolicy = "demo-1"

// Consents publishes a demo privacy policy, unless a version is already in force, and gives
// the customers seeded consent histories as a shop would collect them: most opted in to email
// marketing at sign-up, fewer to text messages and personalisation, some withdrew later from
// the portal. Every choice goes through the ledger, receipts and audit included. It returns
// how many records it wrote, and writes none when a policy was already in force.
func Consents(ctx context.Context, svc *consent.Service, ids []string, seed uint64) (int, error) {
	list, err := svc.Policies(ctx)
	if err != nil {
		return 0, err
	}
	if list.InForce != "" {
		return 0, nil
	}
	if _, err := svc.PublishPolicy(ctx, consent.PolicyInput{
		Version:    DemoPolicy,
		Text:       "Demo Shop Ltd keeps your account, orders and contact details to serve you. With your consent we email and text you offers, tailor what you see, and share device identifiers with advertising partners. You can withdraw at any time.",
		Language:   "en",
		Controller: consent.Controller{Name: "Demo Shop Ltd", Contact: "privacy@demo-shop.example"},
		Purposes:   []string{"service", "support", "marketing_email", "marketing_sms", "personalization", "ads_sharing"},
	}); err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x636f6e73))
	yes, no := true, false
	n := 0
	record := func(id, purpose string, granted *bool, source, form string) error {
		in := consent.Input{Purpose: purpose, Granted: granted, Source: source, Channel: "web", Evidence: consent.EvidenceInput{FormID: form}}
		if *granted {
			in.PolicyVersion = DemoPolicy
		}
		if _, err := svc.Record(ctx, id, in); err != nil {
			return fmt.Errorf("demo consent: %w", err)
		}
		n++
		return nil
	}
	for _, id := range ids {
		for _, c := range []struct {
			purpose string
			share   float64
		}{{"marketing_email", 0.6}, {"marketing_sms", 0.3}, {"personalization", 0.4}, {"ads_sharing", 0.2}} {
			if rng.Float64() >= c.share {
				continue
			}
			if err := record(id, c.purpose, &yes, consent.SourceSignupForm, "signup"); err != nil {
				return n, err
			}
			if rng.IntN(10) == 0 {
				if err := record(id, c.purpose, &no, consent.SourcePortal, "preferences"); err != nil {
					return n, err
				}
			}
		}
	}
	return n, nil
}
