package sqlite

import "testing"

func TestBareParams(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)`, `INSERT INTO t (a, b) VALUES (?, ?), (?, ?)`},
		{`SELECT a FROM t WHERE b = $1 AND c = '$2' AND d = $2`, `SELECT a FROM t WHERE b = ? AND c = '$2' AND d = ?`},
		{`SELECT json_extract(x, '$.a') FROM t WHERE id = $1`, `SELECT json_extract(x, '$.a') FROM t WHERE id = ?`},
		{`INSERT INTO t VALUES ($1, $10, $2)`, `INSERT INTO t VALUES ($1, $10, $2)`},             // out of order
		{`UPDATE t SET a = $1, b = $1 WHERE c = $2`, `UPDATE t SET a = $1, b = $1 WHERE c = $2`}, // reused
		{`SELECT 1 FROM t WHERE "a$1" = $1`, `SELECT 1 FROM t WHERE "a$1" = ?`},
		{`SELECT 1`, `SELECT 1`},
	} {
		if got := bareParams(c.in); got != c.want {
			t.Errorf("bareParams(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
