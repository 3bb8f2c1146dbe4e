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
go test -run '^$' -bench 'IngestBatchHTTP' -benchtime 100000x -timeout 10m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'IngestOverload' -benchtime 100000x -timeout 10m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'ImportCSV' -benchtime 100000x -timeout 10m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Seal64|Open64|BlindIndex' -benchtime 1s ./internal/vault/ | tee -a "$out"
go test -run '^$' -bench 'ValidateEmail|ValidatePhone' -benchtime 1s ./internal/quality/ | tee -a "$out"
echo
awk '
function metric(unit,   i) { for (i = 3; i < NF; i++) if ($(i+1) == unit) return $i; return "" }
/^BenchmarkCreateCustomer/ { printf "BENCH create_customer_sqlite %s creates/s ratio=%s (plain inserts/s %s, %d concurrent callers)\n", metric("creates/s"), metric("ratio"), metric("plain_inserts/s"), 16 }
/^BenchmarkIngestBatchHTTP/ { printf "BENCH ingest_batch_http_sqlite %s events/s ratio=%s (plain event inserts/s %s, p99 batch %s ms, 500 events per batch, 8 clients)\n", metric("events/s"), metric("ratio"), metric("plain_events/s"), metric("p99_ms") }
/^BenchmarkIngestOverload/ { printf "BENCH ingest_overload_2x %s MiB ratio=%s (peak heap; ratio is the share of requests answered 429)\n", metric("peak_heap_MiB"), metric("share_429") }
/^BenchmarkImportCSV/      { printf "BENCH import_csv_sqlite %s rows/s ratio=%s (plain customer inserts/s %s)\n", metric("rows/s"), metric("ratio"), metric("plain_rows/s") }
/^BenchmarkLookupEmail/    { printf "BENCH lookup_email_sqlite %s us/lookup ratio=%s (plain select %s us, %s customers)\n", metric("us/lookup"), metric("ratio"), metric("us/plain_select"), metric("customers") }
' "$out"
rm -f "$out"
