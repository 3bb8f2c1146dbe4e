package ingest_test

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/ingest"
)

// world is an installation in a temp dir, driven through the real services as the local
// operator.
type world struct {
	t   *testing.T
	a   *app.App
	ctx context.Context
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	if _, err := app.Init(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &world{t: t, a: a, ctx: authz.WithActor(ctx, authz.System)}
}

// create makes a customer as POST /v1/customers does and returns its id.
func (w *world) create(fields map[string]any) string {
	w.t.Helper()
	v, err := w.a.Customers.Create(w.ctx, fields)
	if err != nil {
		w.t.Fatalf("create: %v", err)
	}
	return v.ID
}

// legacy stores a customer through the bulk path, which does not match contact values: how a
// record stored before creates were matched (or loaded in bulk) looks.
func (w *world) legacy(fields map[string]any) string {
	w.t.Helper()
	ids, err := w.a.Customers.CreateBatch(w.ctx, []map[string]any{fields})
	if err != nil {
		w.t.Fatalf("create: %v", err)
	}
	return ids[0]
}

// customers returns each customer that stands on its own (not merged away) with the
// identifiers it answers for, its own and those of the customers merged into it, as
// "kind:value" sorted and joined by spaces; and how many customer rows exist in all.
func (w *world) customers() (map[string]string, int64) {
	w.t.Helper()
	page, _, err := w.a.Customers.List(w.ctx, "", 500, "")
	if err != nil {
		w.t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range page {
		root, _, err := w.a.Store.Ingest().CustomerTree(w.ctx, c.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, seen := out[root]; seen {
			continue
		}
		ids, _, err := w.a.Ingest.Identities(w.ctx, root, "service")
		if err != nil {
			w.t.Fatal(err)
		}
		var s []string
		for _, id := range ids {
			s = append(s, id.Kind+":"+id.Value)
		}
		sort.Strings(s)
		out[root] = strings.Join(s, " ")
	}
	n, err := w.a.Store.Customers().CountCustomers(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	return out, n
}

func track(id, anon, user string, traits map[string]any) ingest.Message {
	return ingest.Message{Type: ingest.TypeTrack, MessageID: id, Name: "Viewed", AnonymousID: anon, UserID: user, Context: ingest.Context{Traits: traits}}
}

func identify(id, anon, user string, traits map[string]any) ingest.Message {
	return ingest.Message{Type: ingest.TypeIdentify, MessageID: id, AnonymousID: anon, UserID: user, Traits: traits}
}

func email(v string) map[string]any { return map[string]any{"email": v} }

// TestStitchingRules: one row per rule of docs/ingest.md#identity-stitching. Each sends its
// messages one batch at a time, then compares the customers that result: the identifiers
// each answers for (a group prefixed "name=" must be the customer setup named so), how many
// customer rows exist (merged ones included) and how many messages were stored.
func TestStitchingRules(t *testing.T) {
	for _, tt := range []struct {
		name   string
		setup  func(w *world) map[string]string
		send   []ingest.Message
		want   []string
		rows   int64
		stored int
	}{
		{name: "a new anonymous id creates a customer",
			send: []ingest.Message{track("m1", "a1", "", nil)},
			want: []string{"anonymous_id:a1"}, rows: 1, stored: 1},
		{name: "a known userId takes the message and its new anonymous id",
			send: []ingest.Message{identify("m1", "a1", "u1", nil), track("m2", "a2", "u1", nil)},
			want: []string{"anonymous_id:a1 anonymous_id:a2 user_id:u1"}, rows: 1, stored: 2},
		{name: "an e-mail of an existing customer is found through the profile's blind index",
			setup: func(w *world) map[string]string {
				return map[string]string{"ada": w.create(map[string]any{"email": "ada@example.com"})}
			},
			send: []ingest.Message{track("m1", "a1", "", email("ADA@example.com "))},
			want: []string{"ada=anonymous_id:a1 email:ada@example.com"}, rows: 1, stored: 1},
		{name: "a phone of an existing customer is found through the profile's blind index",
			setup: func(w *world) map[string]string {
				return map[string]string{"lin": w.create(map[string]any{"phone": "+447911123456"})}
			},
			send: []ingest.Message{track("m1", "till-7", "", map[string]any{"phone": "+44 7911 123456"})},
			want: []string{"lin=anonymous_id:till-7 phone:+447911123456"}, rows: 1, stored: 1},
		{name: "alias joins two user ids",
			send: []ingest.Message{identify("m1", "a1", "u1", nil), identify("m2", "a2", "u2", nil),
				{Type: ingest.TypeAlias, MessageID: "m3", UserID: "u2", PreviousID: "u1"}},
			want: []string{"anonymous_id:a1 anonymous_id:a2 user_id:u1 user_id:u2"}, rows: 2, stored: 3},
		{name: "a userId joining two anonymous trees merges them",
			send: []ingest.Message{track("m1", "a1", "", nil), track("m2", "a2", "", nil),
				identify("m3", "a1", "u1", nil), identify("m4", "a2", "u1", nil)},
			want: []string{"anonymous_id:a1 anonymous_id:a2 user_id:u1"}, rows: 2, stored: 4},
		{name: "a second user id on one device starts a customer of its own",
			send: []ingest.Message{identify("m1", "tablet", "u1", nil), identify("m2", "tablet", "u2", nil)},
			want: []string{"anonymous_id:tablet user_id:u1", "user_id:u2"}, rows: 2, stored: 2},
		{name: "the oldest of two customers holding one address takes the traffic",
			setup: func(w *world) map[string]string {
				first := w.create(map[string]any{"email": "shared@example.com", "first_name": "One"})
				second := w.legacy(map[string]any{"email": "shared@example.com", "first_name": "Two"})
				return map[string]string{"first": first, "second": second}
			},
			send: []ingest.Message{track("m1", "web-9", "", email("shared@example.com"))},
			want: []string{"first=anonymous_id:web-9 email:shared@example.com", "second=email:shared@example.com"}, rows: 2, stored: 1},
		{name: "a replaced address still links",
			send: []ingest.Message{identify("m1", "a1", "u1", email("old@example.com")), identify("m2", "a1", "u1", email("new@example.com")),
				track("m3", "old-laptop", "", email("old@example.com"))},
			want: []string{"anonymous_id:a1 anonymous_id:old-laptop email:new@example.com email:old@example.com user_id:u1"}, rows: 1, stored: 3},
		{name: "a retry with the same messageId stores nothing twice",
			send: []ingest.Message{identify("m1", "a1", "u1", email("ada@example.com")), identify("m1", "a1", "u1", email("ada@example.com")),
				track("m2", "a1", "", nil), track("m2", "a1", "", nil)},
			want: []string{"anonymous_id:a1 email:ada@example.com user_id:u1"}, rows: 1, stored: 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			names := map[string]string{}
			if tt.setup != nil {
				names = tt.setup(w)
			}
			stored := 0
			for _, m := range tt.send {
				res, err := w.a.Ingest.Ingest(w.ctx, ingest.Batch{KeyID: "test", Messages: []ingest.Message{m}, ReceivedAt: time.Now().UTC()})
				if err != nil {
					t.Fatalf("ingest %s: %v", m.MessageID, err)
				}
				stored += res.Stored
			}
			got, rows := w.customers()
			var groups []string
			for root, ids := range got {
				for name, id := range names {
					if id == root {
						ids = name + "=" + ids
					}
				}
				groups = append(groups, ids)
			}
			sort.Strings(groups)
			want := slices.Clone(tt.want)
			sort.Strings(want)
			if !slices.Equal(groups, want) {
				t.Errorf("customers: got %q, want %q", groups, want)
			}
			if rows != tt.rows {
				t.Errorf("got %d customer rows, want %d", rows, tt.rows)
			}
			if stored != tt.stored {
				t.Errorf("got %d messages stored, want %d", stored, tt.stored)
			}
		})
	}
}
