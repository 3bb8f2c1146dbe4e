package ingest

import (
	"strings"
	"testing"
	"time"
)

func TestClockSkewCorrection(t *testing.T) {
	recv := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		body string
		want time.Time
	}{
		// The client's clock runs an hour fast: it stamped and sent an hour ahead.
		{`{"event":"E","anonymousId":"a","originalTimestamp":"2024-05-01T12:59:50Z","sentAt":"2024-05-01T13:00:00Z"}`, recv.Add(-10 * time.Second)},
		{`{"event":"E","anonymousId":"a","timestamp":"2024-04-30T08:00:00Z"}`, time.Date(2024, 4, 30, 8, 0, 0, 0, time.UTC)},
		{`{"event":"E","anonymousId":"a"}`, recv},
		{`{"event":"E","anonymousId":"a","timestamp":"2030-01-01T00:00:00Z"}`, recv},
	} {
		req, err := Parse(TypeTrack, []byte(tt.body), recv)
		if err != nil {
			t.Fatalf("%s: %v", tt.body, err)
		}
		if got := req.Messages[0].Timestamp; !got.Equal(tt.want) {
			t.Errorf("%s: got %s, want %s", tt.body, got, tt.want)
		}
	}
}

func TestParseBatchMergesContextAndSentAt(t *testing.T) {
	recv := time.Now().UTC()
	req, err := Parse(KindBatch, []byte(`{"writeKey":"k","context":{"ip":"192.0.2.1","locale":"en-GB"},"batch":[{"type":"page","anonymousId":"a","context":{"locale":"fr-FR"}},{"type":"alias","userId":"u","previousId":"a"}]}`), recv)
	if err != nil {
		t.Fatal(err)
	}
	if req.WriteKey != "k" || len(req.Messages) != 2 {
		t.Fatalf("got %+v", req)
	}
	if c := req.Messages[0].Context; c.IP != "192.0.2.1" || c.Locale != "fr-FR" {
		t.Errorf("context: got %+v", c)
	}
}

func TestFindPII(t *testing.T) {
	for in, want := range map[string]string{
		"write to jo@example.com": "email", "call +44 7911 123456": "phone", "(415) 555-0132": "phone",
		"card 4111 1111 1111 1111": "card", "ORDER-123456789": "", "SKU 998877665544": "", "boots": "", "2024-05-01T10:00:00Z": "",
	} {
		if got := findPII(in); got != want {
			t.Errorf("findPII(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"batch":[{"type":"track","event":"E","anonymousId":"a","properties":{"x":1}}]}`,
		`{"type":"identify","userId":42,"traits":{"email":"a@b.co","address":{"city":"X"}}}`,
		`{"batch":[{"type":"page","anonymousId":"a","context":{"externalIds":[{"id":"1","type":"crm"}],"consent":{"categoryPreferences":{"ads":false}}}}]}`,
		`{"event":"E","anonymousId":"a","timestamp":"2024-01-01T00:00:00Z","sentAt":"bad"}`,
		`{`, `[]`, `null`,
	} {
		f.Add(s)
	}
	recv := time.Now()
	f.Fuzz(func(t *testing.T, body string) {
		for _, kind := range []string{KindBatch, TypeTrack, TypeIdentify} {
			req, err := Parse(kind, []byte(body), recv)
			if err != nil {
				if strings.Contains(err.Error(), "panic") {
					t.Fatal(err)
				}
				continue
			}
			for _, m := range req.Messages {
				if m.UserID == "" && m.AnonymousID == "" {
					t.Fatalf("accepted a message without identifiers: %q", body)
				}
				if m.Timestamp.IsZero() || m.Timestamp.After(recv.Add(maxFuture+time.Second)) {
					t.Fatalf("bad timestamp %s for %q", m.Timestamp, body)
				}
			}
		}
	})
}
