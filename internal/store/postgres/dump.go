package postgres

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// Restore replaces the schema objects of the database at url with the dump at src, in one
// transaction: pg_restore writes the script (drops first) and psql runs it, stopping at the
// first error, which rolls everything back. Between the two, the drops of the monthly event
// partitions' primary keys are left out: PostgreSQL refuses them (the partition inherits its
// key from events), and dropping the partitions' tables a few statements later drops them.
func Restore(ctx context.Context, binDir, url, src string) error {
	tool, err := Tool(binDir, "pg_restore")
	if err != nil {
		return err
	}
	psqlTool, err := Tool(binDir, "psql")
	if err != nil {
		return err
	}
	script := exec.CommandContext(ctx, tool, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--file=-", src)
	out, err := script.StdoutPipe()
	if err != nil {
		return err
	}
	var scriptErr bytes.Buffer
	script.Stderr = &scriptErr
	run := exec.CommandContext(ctx, psqlTool, "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1", "--dbname="+url)
	in, err := run.StdinPipe()
	if err != nil {
		return err
	}
	var runOut bytes.Buffer
	run.Stdout, run.Stderr = io.Discard, &runOut
	if err := script.Start(); err != nil {
		return fmt.Errorf("pg_restore failed: %w", err)
	}
	if err := run.Start(); err != nil {
		_ = script.Process.Kill()
		_ = script.Wait()
		return fmt.Errorf("psql failed: %w", err)
	}
	copyErr := filterScript(in, out)
	in.Close()
	scriptWait, runWait := script.Wait(), run.Wait()
	switch {
	case runWait != nil: // what stopped the script; pg_restore then fails writing to it
		return fmt.Errorf("pg_restore failed: %s", firstLine(runOut.Bytes()))
	case scriptWait != nil:
		return fmt.Errorf("pg_restore failed: %s", firstLine(scriptErr.Bytes()))
	case copyErr != nil:
		return fmt.Errorf("pg_restore failed: %w", copyErr)
	}
	return nil
}

// partitionKeyDrop is the statement pg_restore --clean writes for a monthly event partition's
// primary key, which cannot run (see Restore).
var partitionKeyDrop = regexp.MustCompile(`^ALTER TABLE IF EXISTS ONLY [A-Za-z0-9_."]+\.events_y[0-9]{4}m[0-9]{2} DROP CONSTRAINT IF EXISTS events_y[0-9]{4}m[0-9]{2}_pkey;$`)

// filterScript copies the restore script from r to w without the partition key drops. The
// drops all come before the first COPY, so the data is passed on as it is once one is seen.
func filterScript(w io.Writer, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for {
		line, err := br.ReadString('\n')
		if strings.HasPrefix(line, "COPY ") {
			if _, err := io.WriteString(w, line); err != nil {
				return err
			}
			_, err := io.Copy(w, br)
			return err
		}
		if !partitionKeyDrop.MatchString(strings.TrimSuffix(line, "\n")) {
			if _, werr := io.WriteString(w, line); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// firstLine keeps tool output short; it never contains data values, only messages.
func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}
