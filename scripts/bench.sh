#!/usr/bin/env bash
# Runs Steward's benchmarks and prints one summary line per benchmark:
#   BENCH <name> <value> <unit> ratio=<r>
# where the ratio compares against a plain baseline measured in the same run on the same engine.
# STEWARD_BENCH_CUSTOMERS sets the look-up population (default 1,000,000; populated once
# through the customer service and kept in $TMPDIR/steward-bench-N between runs).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local PATH="/usr/local/go/bin:$PATH"
export STEWARD_BENCH_CUSTOMERS="${STEWARD_BENCH_CUSTOMERS:-1000000}"
out=$(mktemp)
go test -run '^$' -bench 'CreateCustomer|LookupEmail' -benchtime 20000x -timeout 60m ./internal/app/ | tee "$out"
go test -run '^$' -bench 'Erasure|AccessExport' -benchtime 300x -timeout 20m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Backup' -benchtime 3x -timeout 20m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Seal64|Open64|BlindIndex' -benchtime 1s ./internal/vault/ | tee -a "$out"
go test -run '^$' -bench 'ValidateEmail|ValidatePhone' -benchtime 1s ./internal/quality/ | tee -a "$out"
echo
awk '
function metric(unit,   i) { for (i = 3; i < NF; i++) if ($(i+1) == unit) return $i; return "" }
/^BenchmarkCreateCustomer/ { printf "BENCH create_customer_sqlite %s creates/s ratio=%s (plain inserts/s %s, %d concurrent callers)\n", metric("creates/s"), metric("ratio"), metric("plain_inserts/s"), 16 }
/^BenchmarkLookupEmail/    { printf "BENCH lookup_email_sqlite %s us/lookup ratio=%s (plain select %s us, %s customers)\n", metric("us/lookup"), metric("ratio"), metric("us/plain_select"), metric("customers") }
/^BenchmarkErasure/        { printf "BENCH erasure_sqlite %s ms/erasure ratio=%s (plain delete of the same rows %s ms; target < 100 ms)\n", metric("ms/erasure"), metric("ratio"), metric("ms/plain_delete") }
/^BenchmarkAccessExport/   { printf "BENCH access_export_sqlite %s ms/export ratio=%s (plain row read %s ms; target < 250 ms)\n", metric("ms/export"), metric("ratio"), metric("ms/plain_read") }
/^BenchmarkBackup/         { printf "BENCH backup_sqlite %s ms/backup ratio=%s (plain SQLite online backup %s ms, %s customers, %s MB; target ratio <= 1.5)\n", metric("ms/backup"), metric("ratio"), metric("ms/plain_backup"), metric("customers"), metric("MB") }
' "$out"
rm -f "$out"
