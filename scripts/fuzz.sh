#!/usr/bin/env bash
# Runs every fuzz test of the repository for FUZZTIME each (default 10s), found by name, so a
# fuzzer added anywhere is run without being listed here. `make fuzz` runs it for 30s each;
# CI runs it short, after the race detector.
#
# A real finding always writes its input under testdata/fuzz/ and fails. Go's fuzzing engine
# can also fail without any input when -fuzztime ends while a starved worker is mid-call
# ("context deadline exceeded", "fuzzing process hung or terminated unexpectedly"; Go issues
# 51484 and 56238): such a run is repeated, up to three runs in all, and fails the script only
# if every run fails. With another CPU-heavy process beside it, one repeat was not always enough.
set -euo pipefail
cd "$(dirname "$0")/.."
t="${FUZZTIME:-10s}"

run() { go test -run '^$' -fuzz "^$2\$" -fuzztime "$t" "$1" 2>&1; }

grep -rl --include='*_test.go' '^func Fuzz' cmd internal | sort | while read -r f; do
  dir="./$(dirname "$f")"
  for name in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
    echo "fuzz $dir $name ($t)"
    if out=$(run "$dir" "$name"); then
      continue
    fi
    if grep -q 'Failing input written to' <<<"$out"; then
      echo "$out"
      exit 1
    fi
    for attempt in 2 3; do
      echo "  failed without a failing input (the engine's deadline flake?); run $attempt of 3"
      echo "$out" | tail -n 5 | sed 's/^/  | /'
      if out=$(run "$dir" "$name"); then
        continue 2
      fi
      if grep -q 'Failing input written to' <<<"$out"; then
        break
      fi
    done
    echo "$out"
    exit 1
  done
done
