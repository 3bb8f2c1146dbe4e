package job

import "github.com/stewardhq/steward/internal/problem"

func isNotFound(err error) bool { return problem.Is(err, problem.NotFound) }
