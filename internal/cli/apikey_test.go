package cli

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/config"
)

// openTestApp initialises an installation in a temporary directory and opens it as the local
// operator, as a command would.
func openTestApp(t *testing.T) (*app.App, context.Context) {
	t.Helper()
	cfg := config.Default()
	cfg.Data = filepath.Join(t.TempDir(), "data")
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	if _, err := app.Init(ctx, cfg, log); err != nil {
		t.Fatal(err)
	}
	a, err := app.Open(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a, authz.WithActor(ctx, authz.System)
}

// TestKeyCommandsWithTheKeyServiceAlone runs create, list and revoke against the key service
// and nothing else of the installation: create prints only the key, list never prints it,
// revoke shows in the list.
func TestKeyCommandsWithTheKeyServiceAlone(t *testing.T) {
	a, ctx := openTestApp(t)
	keys := a.APIKeys

	var out bytes.Buffer
	if err := createKey(ctx, keys, &out, "support", "desk"); err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSuffix(out.String(), "\n")
	if !strings.HasPrefix(secret, "stw_") || strings.Contains(secret, "\n") {
		t.Fatalf("create printed %q, want only the key", out.String())
	}
	out.Reset()
	if err := createKey(ctx, keys, &out, "wizard", "x"); err == nil || out.Len() != 0 {
		t.Fatalf("unknown role: got %v and %q, want an error and nothing printed", err, out.String())
	}

	listed, err := keys.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, k := range listed {
		if k.Name == "desk" {
			id = k.ID
		}
	}
	if id == "" {
		t.Fatalf("got keys %+v, want one named desk", listed)
	}
	out.Reset()
	if err := revokeKey(ctx, keys, &out, id); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "revoked "+id+"\n"; got != want {
		t.Fatalf("revoke printed %q, want %q", got, want)
	}

	out.Reset()
	if err := listKeys(ctx, keys, &out); err != nil {
		t.Fatal(err)
	}
	var row string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(l, id) {
			row = l
		}
	}
	if !strings.Contains(row, "support") || !strings.Contains(row, "revoked ") {
		t.Fatalf("list row %q, want the support key marked revoked", row)
	}
	if strings.Contains(out.String(), secret) {
		t.Fatalf("list printed the secret:\n%s", out.String())
	}
}
