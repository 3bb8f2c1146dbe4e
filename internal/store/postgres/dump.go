package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Tool finds pg_dump or pg_restore: in dir when given, else on PATH, else in the newest
// /usr/lib/postgresql/*/bin.
func Tool(dir, name string) (string, error) {
	if dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s not found in %s", name, dir)
		}
		return p, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	ms, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(ms) == 0 {
		return "", fmt.Errorf("%s not found: install the PostgreSQL client tools or give --pg-bin", name)
	}
	return ms[len(ms)-1], nil
}

// Dump writes a logical dump (pg_dump custom format) of the database at url to dst. pg_dump
// takes its snapshot in one repeatable-read transaction, so the dump is consistent while
// Steward keeps writing.
func Dump(ctx context.Context, binDir, url, dst string) error {
	tool, err := Tool(binDir, "pg_dump")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, tool, "--format=custom", "--no-owner", "--no-privileges", "--file="+dst, "--dbname="+url)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_dump failed: %s", firstLine(out))
	}
	return nil
}

// Restore replaces the schema objects of the database at url with the dump at src.
func Restore(ctx context.Context, binDir, url, src string) error {
	tool, err := Tool(binDir, "pg_restore")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, tool, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "--dbname="+url, src)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_restore failed: %s", firstLine(out))
	}
	return nil
}

// firstLine keeps tool output short; it never contains data values, only messages.
func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}
