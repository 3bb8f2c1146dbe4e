#!/usr/bin/env bash
# Runs every fuzz test of the repository for FUZZTIME each (default 10s), found by name, so a
# fuzzer added anywhere is run without being listed here. `make fuzz` runs it for 30s each;
# CI runs it short, beside the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-10s}"
grep -rl --include='*_test.go' '^func Fuzz' cmd internal | sort | while read -r f; do
  dir="./$(dirname "$f")"
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz $dir $name ($t)"
    out=$(go test -run '^$' -fuzz "^${name}\$" -fuzztime "$t" "$dir" 2>&1) || { echo "$out"; exit 1; }
  done
done
