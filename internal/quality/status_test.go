package quality

import (
	"testing"
	"time"
)

func TestDeriveStatus(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	ago := func(d int) time.Time { return now.Add(-time.Duration(d) * day) }
	created := ago(400)
	tests := []struct {
		name string
		f    StatusFacts
		want string
	}{
		{"valid and engaged", StatusFacts{Validation: ValidationValid, Created: created, Engagement: Engagement{Engaged: ago(3)}}, StatusValid},
		{"new customer", StatusFacts{Validation: ValidationValid, Created: ago(1)}, StatusValid},
		{"no engagement for long", StatusFacts{Validation: ValidationValid, Created: created, Engagement: Engagement{Engaged: ago(200)}}, StatusInactive},
		{"never engaged", StatusFacts{Validation: ValidationValid, Created: created}, StatusInactive},
		{"bounced", StatusFacts{Validation: ValidationValid, Created: created, Engagement: Engagement{Bounced: ago(2), Engaged: ago(5)}}, StatusBounced},
		{"opened after a soft bounce", StatusFacts{Validation: ValidationValid, Created: created, Engagement: Engagement{Bounced: ago(5), Engaged: ago(2), Opened: ago(2)}}, StatusValid},
		{"visited after a bounce", StatusFacts{Validation: ValidationValid, Created: created, Engagement: Engagement{Bounced: ago(5), Engaged: ago(2)}}, StatusBounced},
		{"bounce of an older address", StatusFacts{Validation: ValidationValid, Created: created, EmailSince: ago(3), Engagement: Engagement{Bounced: ago(5), Engaged: ago(10)}}, StatusValid},
		{"complained beats bounced", StatusFacts{Validation: ValidationValid, Created: created, Engagement: Engagement{Bounced: ago(2), Complained: ago(4)}}, StatusComplained},
		{"unsubscribed", StatusFacts{Validation: ValidationValid, Created: created, Engagement: Engagement{Unsubscribed: ago(9), Engaged: ago(1)}}, StatusUnsubscribed},
		{"invalid", StatusFacts{Validation: ValidationInvalid, Created: created, Engagement: Engagement{Engaged: ago(1)}}, StatusInvalid},
		{"risky", StatusFacts{Validation: ValidationRisky, ValidationReasons: []string{FlagDisposable}, Created: created, Engagement: Engagement{Engaged: ago(1)}}, StatusRisky},
		{"inactive beats risky", StatusFacts{Validation: ValidationRisky, Created: created}, StatusInactive},
		{"no contact", StatusFacts{Validation: ValidationNone, Created: created}, StatusNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DeriveStatus(tt.f, now, 180*day)
			if got.Status != tt.want {
				t.Fatalf("got %s (%v), want %s", got.Status, got.Reasons, tt.want)
			}
		})
	}
}

func TestAssessContact(t *testing.T) {
	tests := []struct {
		email, phone, want string
	}{
		{"jane@example.com", "+447400123456", ValidationValid},
		{"jane@mailinator.com", "", ValidationRisky},
		{"jane@gmial.com", "", ValidationRisky},
		{"info@example.com", "", ValidationValid}, // a role account is noted, not risky
		{"", "+449090901234", ValidationRisky},    // premium rate
		{"", "12", ValidationInvalid},
		{"jane@example.com", "12", ValidationValid}, // a bad phone with a good e-mail
		{"not an address", "", ValidationInvalid},
		{"", "", ValidationNone},
	}
	for _, tt := range tests {
		if got, reasons := AssessContact(tt.email, tt.phone); got != tt.want {
			t.Errorf("AssessContact(%q, %q): got %s %v, want %s", tt.email, tt.phone, got, reasons, tt.want)
		}
	}
}
