package sqlite

import (
	"strconv"
	"strings"
	"sync"
)

// statements is SQLite's store.Rewriter.
type statements struct {
	bare sync.Map // statement text -> its native form (see Native)
}

// Native returns q as SQLite runs it best: a statement whose numbered parameters appear once
// each and in order is rewritten with bare "?" parameters. SQLite's driver looks a numbered
// parameter's name up in a list as long as the statement's parameters for every value it
// binds, so binding a 100-row insert of 1,000 values was quadratic and a seventh of the
// ingest's time. Statements that reuse a parameter are left as they are. Rewrites are
// remembered per statement text.
func (s *statements) Native(q string) string {
	if !strings.Contains(q, "$") {
		return q
	}
	if v, ok := s.bare.Load(q); ok {
		return v.(string)
	}
	out := bareParams(q)
	s.bare.Store(q, out)
	return out
}

// MultiRowInsert makes multi-row inserts keep the rows before a failing one instead of
// undoing the statement (INSERT OR FAIL). Undoing needs a statement journal: a copy of every
// page the statement touches, a sixth of the single writer's time on creates. Steward never
// carries on after a failed statement (its transaction, or the writer's savepoint, is rolled
// back), so the rows kept never commit.
func (s *statements) MultiRowInsert(head string) string {
	return strings.Replace(head, "INSERT INTO ", "INSERT OR FAIL INTO ", 1)
}

// CustomerPK pins the customers table's primary key where whole rows are read or written by
// id: the narrow id index that existence checks use would otherwise be chosen, and every row
// would then cost a second B-tree descent into the table.
func (s *statements) CustomerPK() string { return " INDEXED BY sqlite_autoindex_customers_1" }

// bareParams rewrites $1 … $n, appearing once each in that order outside quoted text, as "?";
// any other use of numbered parameters returns q unchanged.
func bareParams(q string) string {
	var b strings.Builder
	b.Grow(len(q))
	next := 1
	quote := byte(0)
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '$' && i+1 < len(q) && q[i+1] >= '0' && q[i+1] <= '9':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if n, err := strconv.Atoi(q[i+1 : j]); err != nil || n != next {
				return q
			}
			next++
			b.WriteByte('?')
			i = j - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
