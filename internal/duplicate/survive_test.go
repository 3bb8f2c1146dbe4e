package duplicate

import (
	"reflect"
	"testing"
	"time"
)

func TestSurvivorship(t *testing.T) {
	old, recent := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	winner := side{updated: old, origin: "support", values: map[string]any{
		"first_name": "Elizabeth", "last_name": "Okafor", "email": "liz@old.example", "birth_date": "1980-01-02",
		"address_line1": "1 Old Road", "address_line2": "Flat 3", "city": "Bath", "postal_code": "BA1 1AA",
		"shipping_city": "Bath", "loyalty_tier": "gold"}}
	loser := side{updated: recent, origin: "ingest", values: map[string]any{
		"first_name": "Liz", "last_name": "Okafor-Ray", "email": "liz@new.example", "birth_date": "1980-02-01",
		"address_line1": "9 New Street", "city": "York", "phone": "+447400123456"}}
	got, changed := DefaultConfig().survive(winner, loser)
	want := map[string]any{
		"first_name": "Elizabeth", "last_name": "Okafor-Ray", // most complete
		"email": "liz@old.example", "phone": "+447400123456", // the winner's, which finds her; held by one side only
		"birth_date":    "1980-01-02",                   // source priority: support over ingest
		"address_line1": "9 New Street", "city": "York", // the newer address whole: no Flat 3 or old postcode mixed in
		"shipping_city": "Bath", "loyalty_tier": "gold",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	wantChanged := []string{"address_line1", "address_line2", "city", "last_name", "phone", "postal_code"}
	if !reflect.DeepEqual(changed, wantChanged) {
		t.Fatalf("changed: got %v, want %v", changed, wantChanged)
	}
	rules, err := ParseRules("birth_date=most_recent, address=most_complete, email=most_recent")
	if err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Rules = rules
	got, _ = c.survive(winner, loser)
	if got["birth_date"] != "1980-02-01" || got["address_line2"] != "Flat 3" || got["city"] != "Bath" || got["email"] != "liz@new.example" {
		t.Fatalf("configured rules: got %v", got)
	}
	for _, bad := range []string{"email", "email=newest", "=most_recent"} {
		if _, err := ParseRules(bad); err == nil {
			t.Errorf("ParseRules(%q): no error", bad)
		}
	}
}

func TestRestoreKeepsLaterCorrections(t *testing.T) {
	st := sealedState{
		Before: map[string]any{"email": "a@old.example", "city": "Bath", "first_name": "Ann"},
		After:  map[string]any{"email": "a@new.example", "city": "York", "phone": "+447400123456"},
	}
	changed := []string{"city", "email", "phone"}
	// Nobody touched the profile since the merge: the values before come back whole.
	if got := restore(nil, st, changed, true); !reflect.DeepEqual(got, st.Before) {
		t.Fatalf("untouched: got %v", got)
	}
	// Support corrected the city since: that stays; the rest goes back.
	current := map[string]any{"email": "a@new.example", "city": "Leeds", "phone": "+447400123456", "first_name": "Ann", "gender": "female"}
	got := restore(current, st, changed, false)
	want := map[string]any{"email": "a@old.example", "city": "Leeds", "first_name": "Ann", "gender": "female"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
