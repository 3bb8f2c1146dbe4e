package catalog

import (
	"strconv"
	"strings"
)

// MaxProblems is how many problems a ValidationError lists. A broken file usually has a few
// real mistakes and many echoes of them; twenty is enough to fix a file in one pass without
// burying the first mistake under hundreds of lines.
const MaxProblems = 20

// Problem is one thing wrong with a catalog file, located so that an editor can jump to it.
type Problem struct {
	Source  string `json:"source"`
	Line    int    `json:"line,omitempty"` // 1-based; 0 when the problem concerns the whole file
	Message string `json:"message"`
}

// String formats the problem the way compilers do (file:line: message), which editors and
// terminals already know how to link.
func (p Problem) String() string {
	if p.Line > 0 {
		return p.Source + ":" + strconv.Itoa(p.Line) + ": " + p.Message
	}
	return p.Source + ": " + p.Message
}

// ValidationError is returned by Parse and Load when a catalog file is malformed or
// inconsistent. It carries every problem found (up to MaxProblems, in line order) rather than
// the first one, so the owner can fix a file in one edit instead of one restart per mistake.
type ValidationError struct {
	Problems []Problem `json:"problems"`
}

// Error lists the problems on one line, separated by semicolons, so the error stays a single
// log record.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	if len(parts) == 0 {
		return "invalid catalog"
	}
	return strings.Join(parts, "; ")
}
