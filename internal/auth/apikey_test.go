package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/auth"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/catalog"
	"github.com/stewardhq/steward/internal/problem"
)

var cat = catalog.Default()

func as(role string) context.Context {
	return authz.WithActor(context.Background(), authz.Actor{ID: "staff:" + role, Name: role, Role: role})
}

func forEngines(t *testing.T, fn func(t *testing.T, st stores)) {
	for _, engine := range engines {
		t.Run(engine, func(t *testing.T) { fn(t, openStore(t, engine)) })
	}
}

func newService(st stores, cacheFor time.Duration) *auth.Service {
	s, err := auth.New(st.Keys, st.Audit, cat, cacheFor)
	if err != nil {
		panic(err) // the test's stores and catalog are always accepted
	}
	return s
}

func mustCreate(t *testing.T, s *auth.Service, role string) (string, auth.Key) {
	t.Helper()
	plain, k, err := s.Create(as("owner"), role, role+" key")
	if err != nil {
		t.Fatal(err)
	}
	return plain, k
}

// TestCreateRules: who may issue which key, and which input is refused with which kind.
func TestCreateRules(t *testing.T) {
	st := openStore(t, "sqlite")
	s := newService(st, 0)
	tests := []struct {
		name      string
		ctx       context.Context
		role, key string
		want      problem.Kind // 0: created
		field     string
	}{
		{"owner issues owner", as("owner"), "owner", "ci", 0, ""},
		{"admin issues admin", as("admin"), "admin", "ci", 0, ""},
		{"admin issues auditor", as("admin"), "auditor", "ci", 0, ""},
		{"admin may not mint owner", as("admin"), "owner", "ci", problem.Forbidden, ""},
		{"admin may not grant reveal", as("admin"), "support", "ci", problem.Forbidden, ""},
		{"admin may not grant a purpose it lacks", as("admin"), "analyst", "ci", problem.Forbidden, ""},
		{"support may not manage keys", as("support"), "support", "ci", problem.Forbidden, ""},
		{"no actor", context.Background(), "owner", "ci", problem.Unauthenticated, ""},
		{"unknown role", as("owner"), "superuser", "ci", problem.Invalid, "role"},
		{"empty name", as("owner"), "owner", "", problem.Invalid, "name"},
		{"blank name", as("owner"), "owner", "   ", problem.Invalid, "name"},
		{"long name", as("owner"), "owner", strings.Repeat("n", 101), problem.Invalid, "name"},
		{"longest name", as("owner"), "owner", strings.Repeat("n", 100), 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := st.Keys.ListAPIKeys(context.Background())
			plain, k, err := s.Create(tc.ctx, tc.role, tc.key)
			after, _ := st.Keys.ListAPIKeys(context.Background())
			if tc.want != 0 {
				if !problem.Is(err, tc.want) || problem.FieldOf(err) != tc.field {
					t.Fatalf("got %v (field %q), want %v (field %q)", err, problem.FieldOf(err), tc.want, tc.field)
				}
				if plain != "" || len(after) != len(before) {
					t.Fatalf("refused create left a key: %q, %d keys before, %d after", plain, len(before), len(after))
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v, want a key", err)
			}
			if k.Role != tc.role || len(after) != len(before)+1 {
				t.Fatalf("got %+v and %d keys, want role %s and %d keys", k, len(after), tc.role, len(before)+1)
			}
		})
	}
}

// TestKeyShape: a key is recognisable by its prefix, the listed hint tells keys apart without
// giving away the secret, and every key is different.
func TestKeyShape(t *testing.T) {
	st := openStore(t, "sqlite")
	s := newService(st, 0)
	seen := map[string]bool{}
	for range 20 {
		plain, k := mustCreate(t, s, "support")
		if !strings.HasPrefix(plain, auth.Prefix) || !strings.HasPrefix(plain, k.Hint) {
			t.Fatalf("key %q with hint %q: want prefix %q and the hint as its start", plain, k.Hint, auth.Prefix)
		}
		if want := auth.Prefix + k.ID; k.Hint != want || len(k.ID) != 8 {
			t.Fatalf("got hint %q id %q, want hint %q and an 8-character id", k.Hint, k.ID, want)
		}
		if secret := strings.TrimPrefix(plain, k.Hint+"_"); len(secret) < 32 || strings.Contains(k.Hint, secret) {
			t.Fatalf("key %q: secret part %q too short or in the hint", plain, secret)
		}
		if seen[plain] || seen[k.ID] {
			t.Fatalf("key %q or id %q issued twice", plain, k.ID)
		}
		seen[plain], seen[k.ID] = true, true
	}
}

// TestSecretNeverStored: the plain key, and its secret part, appear nowhere at rest, in no
// listing and in no audit entry; only a hash is kept, which the key itself finds.
func TestSecretNeverStored(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		s := newService(st, 0)
		plain, k := mustCreate(t, s, "support")
		secret := plain[len(k.Hint)+1:]
		ctx := context.Background()
		if _, err := s.Authenticate(ctx, plain); err != nil {
			t.Fatal(err)
		}
		listed, err := s.List(as("owner"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Revoke(as("owner"), k.ID); err != nil {
			t.Fatal(err)
		}
		entries, err := st.Audit.ListAudit(ctx, audit.Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for what, v := range map[string]any{"listing": listed, "audit": entries} {
			b, _ := json.Marshal(v)
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the key's secret: %s", what, b)
			}
		}
		if st.Files == "" {
			return
		}
		err = filepath.WalkDir(st.Files, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds the key's secret", filepath.Base(path))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuthenticate: a good key names its actor; everything else, a revoked key included,
// gets one and the same Unauthenticated error.
func TestAuthenticate(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		s := newService(st, 0)
		ctx := context.Background()
		plain, k := mustCreate(t, s, "marketer")
		a, err := s.Authenticate(ctx, plain)
		if err != nil || a.ID != "key:"+k.ID || a.Role != "marketer" || a.Name != k.Name {
			t.Fatalf("got %+v %v, want the marketer key's actor", a, err)
		}
		revoked, rk := mustCreate(t, s, "support")
		if err := s.Revoke(as("owner"), rk.ID); err != nil {
			t.Fatal(err)
		}
		flip := []byte(plain)
		flip[len(flip)-1] ^= 1
		bad := map[string]string{
			"empty":           "",
			"no prefix":       strings.TrimPrefix(plain, auth.Prefix),
			"prefix only":     auth.Prefix,
			"changed":         string(flip),
			"extended":        plain + "a",
			"too long":        plain + strings.Repeat("a", 100),
			"unknown":         auth.Prefix + "aaaaaaaa_" + strings.Repeat("a", 32),
			"revoked":         revoked,
			"upper case":      strings.ToUpper(plain),
			"with whitespace": " " + plain,
		}
		var details []string
		for name, key := range bad {
			_, err := s.Authenticate(ctx, key)
			if !problem.Is(err, problem.Unauthenticated) {
				t.Errorf("%s: got %v, want Unauthenticated", name, err)
				continue
			}
			details = append(details, problem.Detail(err))
		}
		for _, d := range details {
			if d != details[0] {
				t.Errorf("failures tell apart: %q and %q", d, details[0])
			}
		}
	})
}

// TestRevokeStopsCachedKey: a key remembered for an hour stops authenticating the moment it
// is revoked through the service.
func TestRevokeStopsCachedKey(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		s := newService(st, time.Hour)
		ctx := context.Background()
		plain, k := mustCreate(t, s, "support")
		other, _ := mustCreate(t, s, "support")
		for _, key := range []string{plain, other} {
			if _, err := s.Authenticate(ctx, key); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Revoke(as("owner"), k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Authenticate(ctx, plain); !problem.Is(err, problem.Unauthenticated) {
			t.Fatalf("revoked key: got %v, want Unauthenticated", err)
		}
		if _, err := s.Authenticate(ctx, other); err != nil {
			t.Fatalf("other key after a revocation: %v", err)
		}
	})
}

// TestRevokeOnAnotherNode: a process that did not revoke the key itself remembers it for at
// most CacheFor; with the cache off it notices at once.
func TestRevokeOnAnotherNode(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		ctx := context.Background()
		revoker := newService(st, 0)
		for _, tc := range []struct {
			name     string
			cacheFor time.Duration
		}{{"cache off", -1}, {"short cache", time.Millisecond}} {
			t.Run(tc.name, func(t *testing.T) {
				node := newService(st, tc.cacheFor)
				plain, k := mustCreate(t, revoker, "support")
				if _, err := node.Authenticate(ctx, plain); err != nil {
					t.Fatal(err)
				}
				if err := revoker.Revoke(as("owner"), k.ID); err != nil {
					t.Fatal(err)
				}
				if tc.cacheFor > 0 {
					time.Sleep(2 * tc.cacheFor) // at least this long passes: the entry is stale
				}
				if _, err := node.Authenticate(ctx, plain); !problem.Is(err, problem.Unauthenticated) {
					t.Fatalf("revoked elsewhere: got %v, want Unauthenticated", err)
				}
			})
		}
		// Within CacheFor the other node may still accept it: that is the documented bound,
		// and the reason revoking through the serving node forgets at once.
		node := newService(st, time.Hour)
		plain, k := mustCreate(t, revoker, "support")
		if _, err := node.Authenticate(ctx, plain); err != nil {
			t.Fatal(err)
		}
		if err := revoker.Revoke(as("owner"), k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := node.Authenticate(ctx, plain); err != nil {
			t.Fatalf("within CacheFor on another node: got %v, want the cached actor", err)
		}
	})
}

// racingStore revokes the key between reading it and returning it, as a revocation landing
// while a look-up is under way would.
type racingStore struct {
	auth.Store
	once   sync.Once
	revoke func()
}

func (r *racingStore) APIKeyByHash(ctx context.Context, hash []byte) (auth.Key, error) {
	k, err := r.Store.APIKeyByHash(ctx, hash)
	r.once.Do(r.revoke)
	return k, err
}

// TestRevocationRacingALookUp: a look-up that read the key just before its revocation may
// let that one request through, but must not remember the key for later ones.
func TestRevocationRacingALookUp(t *testing.T) {
	st := openStore(t, "sqlite")
	plain, k := mustCreate(t, newService(st, 0), "support")
	race := &racingStore{Store: st.Keys}
	s := mustService(t, race, st.Audit, cat, time.Hour)
	race.revoke = func() {
		if err := s.Revoke(as("owner"), k.ID); err != nil {
			t.Error(err)
		}
	}
	ctx := context.Background()
	if _, err := s.Authenticate(ctx, plain); err != nil {
		t.Fatalf("look-up under way: %v", err)
	}
	if _, err := s.Authenticate(ctx, plain); !problem.Is(err, problem.Unauthenticated) {
		t.Fatalf("after the revocation: got %v, want Unauthenticated", err)
	}
}

// TestConcurrentAuthenticateAndRevoke: once Revoke returns, no request authenticates with the
// key, however many were in flight.
func TestConcurrentAuthenticateAndRevoke(t *testing.T) {
	st := openStore(t, "sqlite")
	s := newService(st, time.Hour)
	plain, k := mustCreate(t, s, "support")
	ctx := context.Background()
	var revoked sync.WaitGroup
	revoked.Add(1)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				_, _ = s.Authenticate(ctx, plain)
			}
			revoked.Wait()
			if _, err := s.Authenticate(ctx, plain); !problem.Is(err, problem.Unauthenticated) {
				t.Errorf("after Revoke returned: got %v, want Unauthenticated", err)
			}
		}()
	}
	if err := s.Revoke(as("owner"), k.ID); err != nil {
		t.Fatal(err)
	}
	revoked.Done()
	wg.Wait()
}

func TestRevokeRules(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		s := newService(st, 0)
		_, k := mustCreate(t, s, "support")
		tests := []struct {
			name  string
			ctx   context.Context
			id    string
			want  problem.Kind
			field string
		}{
			{"no actor", context.Background(), k.ID, problem.Unauthenticated, ""},
			{"support may not", as("support"), k.ID, problem.Forbidden, ""},
			{"short id", as("owner"), "abc", problem.Invalid, "id"},
			{"long id", as("owner"), k.ID + "x", problem.Invalid, "id"},
			{"unknown id", as("owner"), "aaaaaaaa", problem.NotFound, ""},
			{"revokes", as("owner"), k.ID, 0, ""},
			{"already revoked", as("owner"), k.ID, problem.NotFound, ""},
		}
		for _, tc := range tests {
			err := s.Revoke(tc.ctx, tc.id)
			if tc.want == 0 {
				if err != nil {
					t.Errorf("%s: got %v, want nil", tc.name, err)
				}
				continue
			}
			if !problem.Is(err, tc.want) || problem.FieldOf(err) != tc.field {
				t.Errorf("%s: got %v (field %q), want %v (field %q)", tc.name, err, problem.FieldOf(err), tc.want, tc.field)
			}
		}
	})
}

// TestRevokeNeedsTheRevokedRights: revoking follows the rule of issuing. An admin, who may
// manage keys but holds less than the owner and the DPO, cannot cut them off by revoking their
// keys; the owner can; a refused revocation leaves the key working; for every role, an admin
// may revoke its keys exactly when it may issue them.
func TestRevokeNeedsTheRevokedRights(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		s := newService(st, 0)
		for _, role := range []string{"owner", "dpo"} {
			plain, k := mustCreate(t, s, role)
			if err := s.Revoke(as("admin"), k.ID); !problem.Is(err, problem.Forbidden) {
				t.Fatalf("admin revokes a %s key: got %v, want Forbidden", role, err)
			}
			if _, err := s.Authenticate(context.Background(), plain); err != nil {
				t.Fatalf("the %s key stopped working after a refused revocation: %v", role, err)
			}
			if err := s.Revoke(as("owner"), k.ID); err != nil {
				t.Fatalf("owner revokes a %s key: %v", role, err)
			}
		}
		for _, role := range []string{"owner", "admin", "support", "marketer", "analyst", "dpo", "auditor", "ingest"} {
			_, _, issueErr := s.Create(as("admin"), role, "probe")
			_, k := mustCreate(t, s, role)
			revokeErr := s.Revoke(as("admin"), k.ID)
			if (issueErr == nil) != (revokeErr == nil) {
				t.Errorf("%s: admin may issue: %v, may revoke: %v; want the same answer", role, issueErr, revokeErr)
			}
		}
	})
}

// TestListAndAudit: the listing shows every key, oldest first, revoked ones marked; creating,
// listing and revoking are audited with the actor and the key's id.
func TestListAndAudit(t *testing.T) {
	forEngines(t, func(t *testing.T, st stores) {
		s := newService(st, 0)
		ctx := context.Background()
		if _, err := s.List(as("support")); !problem.Is(err, problem.Forbidden) {
			t.Errorf("support lists keys: got %v, want Forbidden", err)
		}
		_, first := mustCreate(t, s, "ingest")
		_, second := mustCreate(t, s, "dpo")
		if err := s.Revoke(as("admin"), first.ID); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(as("admin"))
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != first.ID || list[1].ID != second.ID {
			t.Fatalf("got %+v, want the two keys oldest first", list)
		}
		if list[0].RevokedAt == nil || list[1].RevokedAt != nil {
			t.Errorf("got revoked %v and %v, want only the first revoked", list[0].RevokedAt, list[1].RevokedAt)
		}
		entries, err := st.Audit.ListAudit(ctx, audit.Filter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for i := len(entries) - 1; i >= 0; i-- { // oldest first
			e := entries[i]
			got = append(got, e.Action+" "+e.ActorRole+" "+e.Target)
		}
		want := []string{
			audit.ActionAPIKeyCreate + " owner apikey:" + first.ID + " role:ingest",
			audit.ActionAPIKeyCreate + " owner apikey:" + second.ID + " role:dpo",
			audit.ActionAPIKeyRevoke + " admin apikey:" + first.ID,
			audit.ActionAPIKeyList + " admin ",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("audit:\ngot  %q\nwant %q", got, want)
		}
	})
}
