// Command steward is the single Steward binary; all behaviour lives in internal/cli.
package main

import (
	"context"
	"os"

	"github.com/stewardhq/steward/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
