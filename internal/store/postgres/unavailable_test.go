package postgres

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/authz"
	"github.com/stewardhq/steward/internal/problem"
	"github.com/stewardhq/steward/internal/store/pgtest"
)

// TestLostDatabaseIsUnavailable: when the connections to PostgreSQL are cut and no new one
// can be made, reads and writes fail as Unavailable (503 with Retry-After), not as internal
// errors; once the database is reachable again, the same engine works without a restart.
func TestLostDatabaseIsUnavailable(t *testing.T) {
	ctx := authz.WithActor(context.Background(), authz.System)
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	var mu sync.Mutex
	var conns []net.Conn
	serve := func(ln net.Listener) {
		relay(ln, target, func(dst, src net.Conn) { _, _ = io.Copy(dst, src); dst.Close() }, func(c, s net.Conn) {
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
		})
	}
	go serve(ln)
	u.Host = addr
	q := u.Query()
	q.Set("connect_timeout", "2")
	u.RawQuery = q.Encode()
	db, err := Open(ctx, u.String(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Customers().CountCustomers(ctx); err != nil {
		t.Fatal(err)
	}
	// Audited reads with a sealing key: the second extends the head the first wrote, in one
	// statement (see the store's groupAccess), the path the read after the cut takes.
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	db.SetAuditSealer(&audit.Sealer{Key: key, Every: 256})
	for i := 0; i < 2; i++ {
		if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, "c0", nil, "")); err != nil {
			t.Fatal(err)
		}
	}

	ln.Close()
	mu.Lock()
	for _, c := range conns {
		c.Close()
	}
	mu.Unlock()
	if _, err := db.Customers().CountCustomers(ctx); !problem.Is(err, problem.Unavailable) {
		t.Errorf("read with the database gone: got %v (kind %v), want unavailable", err, problem.KindOf(err))
	}
	if err := db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, "c1", nil, "")); !problem.Is(err, problem.Unavailable) {
		t.Errorf("write with the database gone: got %v (kind %v), want unavailable", err, problem.KindOf(err))
	}
	if err := db.Ping(ctx); !problem.Is(err, problem.Unavailable) {
		t.Errorf("ping with the database gone: got %v, want unavailable", err)
	}

	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		if time.Now().After(end) {
			t.Fatal(err)
		}
	}
	defer ln.Close()
	go serve(ln)
	if _, err := db.Customers().CountCustomers(ctx); err != nil {
		t.Errorf("read once the database is back: %v", err)
	}
}

// relay connects each connection ln accepts to target, passing what each side sends to the
// other with pass(dst, src), and tells opened of both ends first; it returns once ln closes.
func relay(ln net.Listener, target string, pass func(dst, src net.Conn), opened func(c, s net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		if opened != nil {
			opened(c, s)
		}
		go pass(s, c)
		go pass(c, s)
	}
}

// TestWritesSurviveTerminatedConnections: when the server ends the backends of a node's
// pooled connections (a restart, pg_terminate_backend), the next writes take new
// connections rather than fail: a write transaction's begin on a connection whose server
// side is gone is tried again on another, as the pool's own begin does.
func TestWritesSurviveTerminatedConnections(t *testing.T) {
	ctx := authz.WithActor(context.Background(), authz.System)
	db, raw := openWithRaw(t)
	raw.SetMaxOpenConns(1)
	write := func(i int) error {
		return db.Audit().AppendAudit(ctx, audit.New(ctx, audit.ActionCustomerRead, fmt.Sprintf("c%d", i), nil, ""))
	}
	for round := 0; round < 3; round++ {
		// Several pooled write connections, idle.
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := write(i); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if _, err := raw.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the server has closed the sockets
		for i := 0; i < 4; i++ {
			if err := write(100 + i); err != nil {
				t.Fatalf("round %d: write %d after the backends were ended: %v", round, i, err)
			}
		}
	}
}
