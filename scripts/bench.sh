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
go test -run '^$' -bench 'LookupHTTP' -benchtime 1x -timeout 60m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'IngestBatchHTTP' -benchtime 100000x -timeout 10m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'SourceWebhooks' -benchtime 20000x -timeout 10m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'IngestOverload' -benchtime 100000x -timeout 10m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'ImportCSV' -benchtime 100000x -timeout 10m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Erasure$|AccessExport$' -benchtime 300x -timeout 20m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Eventful' -benchtime 3x -timeout 20m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Backup' -benchtime 3x -timeout 20m ./internal/app/ | tee -a "$out"
STEWARD_BENCH_SEGMENT_CUSTOMERS="${STEWARD_BENCH_SEGMENT_CUSTOMERS:-1000000}" go test -run '^$' -bench 'SegmentCount|Trend$' -benchtime 20x -timeout 120m ./internal/app/ | tee -a "$out"
STEWARD_BENCH_SEGMENT_CUSTOMERS="${STEWARD_BENCH_SEGMENT_CUSTOMERS:-1000000}" go test -run '^$' -bench 'SegmentIncremental' -benchtime 300x -timeout 60m ./internal/app/ | tee -a "$out"
STEWARD_BENCH_SEGMENT_CUSTOMERS="${STEWARD_BENCH_SEGMENT_CUSTOMERS:-1000000}" go test -run '^$' -bench 'SegmentRefresh' -benchtime 1x -timeout 60m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Seal64|Open64|BlindIndex' -benchtime 1s ./internal/vault/ | tee -a "$out"
go test -run '^$' -bench 'ValidateEmail|ValidatePhone' -benchtime 1s ./internal/quality/ | tee -a "$out"
go test -run '^$' -bench 'ValidationThroughput' -benchtime 5x ./internal/quality/ | tee -a "$out"
go test -run '^$' -bench 'DuplicateScan' -benchtime 1x -timeout 30m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'BulkCheck' -benchtime 5x -timeout 30m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Permission$' -benchtime 2000x -timeout 30m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'PermissionWarm$' -benchtime 200000x -timeout 30m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'PermissionWarmPostgres' -benchtime 20000x -timeout 30m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'BenchmarkPostgres$' -benchtime 5000x -timeout 30m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'ServerRSS' -benchtime 1x -timeout 60m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'Decide' -benchtime 1s ./internal/consent/ | tee -a "$out"
go test -run '^$' -bench 'BenchmarkSearch$|SearchIndex' -benchtime 1x -timeout 90m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'ConsolePages' -benchtime 1x -timeout 90m ./internal/app/ | tee -a "$out"
go test -run '^$' -bench 'SearchQuality' -benchtime 1x -timeout 10m ./internal/search/ | tee -a "$out"
go test -run '^$' -bench 'ComparePair' -benchtime 1s ./internal/match/ | tee -a "$out"
STEWARD_BENCH_MATCH_RECORDS="${STEWARD_BENCH_MATCH_RECORDS:-1000000}" go test -run '^$' -bench 'Match$' -benchtime 1x -timeout 30m ./internal/match/ | tee -a "$out"
STEWARD_BENCH_MATCH_RECORDS="${STEWARD_BENCH_MATCH_RECORDS:-1000000}" go test -run '^$' -bench 'Blocking$' -benchtime 1x -timeout 30m ./internal/match/ | tee -a "$out"
echo
awk '
function metric(unit,   i) { for (i = 3; i < NF; i++) if ($(i+1) == unit) return $i; return "" }
/^BenchmarkCreateCustomer/ { printf "BENCH create_customer_sqlite %s creates/s ratio=%s (plain inserts/s %s; %d creates in flight, each p50 %s us, p99 %s us; a closed loop of 16 callers: %s creates/s)\n", metric("creates/s"), metric("ratio"), metric("plain_inserts/s"), 64, metric("us_p50"), metric("us_p99"), metric("creates/s_16_callers") }
/^BenchmarkLookupHTTP/     { printf "BENCH lookup_email_http_p99 %s us ratio=%s (p50 %s us; GET /healthz p50 %s us, p99 %s us; open loop at %s requests/s over loopback)\n", metric("us_p99"), metric("ratio"), metric("us_p50"), metric("us_p50_healthz"), metric("us_p99_healthz"), ENVIRON["STEWARD_BENCH_RATE"] ? ENVIRON["STEWARD_BENCH_RATE"] : 1000 }
/^BenchmarkLookupEmail/    { printf "BENCH lookup_email_sqlite %s us/lookup ratio=%s (plain select %s us; %s customers, %d concurrent callers)\n", metric("us/lookup"), metric("ratio"), metric("us/plain_select"), metric("customers"), 16
                             printf "BENCH lookup_email_sqlite_single %s us/lookup-p50 ratio=%.3f (p99 %s us; plain select p50 %s us; one caller)\n", metric("us_p50_single"), metric("us_p50_single_plain")/metric("us_p50_single"), metric("us_p99_single"), metric("us_p50_single_plain") }
/^BenchmarkBulkCheck/      { printf "BENCH bulk_permission_check_sqlite %s ms/check ratio=%s (%s ms of processor time; plain select of the ids %s ms; %s customers, %s allowed)\n", metric("ms/check"), metric("ratio"), metric("cpu_ms/check"), metric("ms/plain_select"), metric("customers"), metric("allowed") }
/^BenchmarkPermissionWarm-/ { printf "BENCH permission_check_warm_sqlite %s us/check ratio=%s (%s us of processor time; the same check uncached %s us; %s customers cached; one caller; target < 5 us)\n", metric("us/check"), metric("ratio"), metric("cpu_us/check"), metric("us/uncached_check"), metric("cached") }
/^BenchmarkServerRSS/      { printf "BENCH server_rss_sqlite %s MiB ratio=%s (of the 500 MiB target; steward serve over %s customers after 20,000 look-ups over HTTP; %s MiB at 100k, %s MiB empty; %s KiB more per customer from 100k up)\n", metric("MiB"), metric("ratio"), metric("customers"), metric("MiB_100k"), metric("MiB_empty"), metric("KiB_per_customer") }
/^BenchmarkPostgres\/nodes=/ { split($1, p, /[=-]/); n = p[2]
                             printf "BENCH create_customer_postgres_%snode %s creates/s ratio=%s (plain inserts/s %s; 16 callers spread over %s nodes on one database; %s retries a create after a serialization failure)\n", n, metric("creates/s"), metric("create_ratio"), metric("plain_inserts/s"), n, metric("create_retries/create")
                             printf "BENCH lookup_email_postgres_%snode %s us/lookup ratio=%s (plain primary-key select %s us; 16 callers over %s nodes)\n", n, metric("us/lookup"), metric("lookup_ratio"), metric("us/plain_select"), n
                             printf "BENCH ingest_batch_http_postgres_%snode %s events/s ratio=%s (plain event inserts/s %s, one transaction per batch; p99 batch %s ms; 100,000 events in batches of 500 from 20,000 visitors after an untimed warm-up, 8 clients over %s nodes)\n", n, metric("events/s"), metric("ingest_ratio"), metric("plain_events/s"), metric("p99_batch_ms"), n }
/^BenchmarkPermissionWarmPostgres/ { printf "BENCH permission_check_warm_postgres %s us/check ratio=%s (the same check uncached %s us; a primary-key select %s us; one caller)\n", metric("us/check"), metric("ratio"), metric("us/uncached_check"), metric("us/plain_select") }
/^BenchmarkPermission-/    { printf "BENCH permission_check_sqlite %s us/check (%s us of processor time each, %d concurrent callers)\n", metric("us/check"), metric("cpu_us/check"), 16 }
/^BenchmarkDecide/         { printf "BENCH permission_decision %s ns/op (facts in memory)\n", metric("ns/op") }
/^BenchmarkValidationThroughput/ { printf "BENCH validation_email_phone %s validations/s ratio=%s (plain syntax parses/s %s; one e-mail and one phone per op on every core; target >= 200k/s)\n", metric("validations/s"), metric("ratio"), metric("plain_parses/s") }
/^BenchmarkDuplicateScan/  { printf "BENCH duplicate_scan_sqlite %s s/scan ratio=%s (%s customers with %s seeded duplicates: refresh keys, score candidates, queue; precision %s at the merge threshold, %s of the review queue, recall %s; the offline matcher on the same records %s s; a second scan with nothing changed %s s)\n", metric("s/scan"), metric("ratio"), metric("customers"), metric("seeded"), metric("precision"), metric("review_precision"), metric("recall"), metric("s/offline"), metric("s/rescan") }
/^BenchmarkMatch/           { printf "BENCH match_duplicates %s min/1M_records ratio=%.2f (of the 1 min target; %s min of processor time over the cores; %s records with census-like name frequencies, households and Febrl-like errors, %s candidates a record; review threshold: precision %s recall %s, between the thresholds precision %s; merge threshold: precision %s recall %s; peak RSS %s MiB)\n", metric("min/1M_records"), metric("min/1M_records")/1, metric("cpu_min/1M_records"), metric("records"), metric("candidates/record"), metric("precision"), metric("recall"), metric("band_precision"), metric("merge_precision"), metric("merge_recall"), metric("MiB_peak_rss") }
/^BenchmarkBlocking/        { printf "BENCH match_blocking %s candidates/record ratio=%.3f (against the same index without the street-name key, %s; %s records)\n", metric("pairs/record"), metric("pairs/record")/metric("pairs/record_without_street_name"), metric("pairs/record_without_street_name"), metric("records") }
/^BenchmarkIngestBatchHTTP/ { printf "BENCH ingest_batch_http_sqlite %s events/s ratio=%s (plain event inserts/s %s, p99 batch %s ms, 500 events per batch, 8 clients; processor time %s us/event, plain inserts %s us/event)\n", metric("events/s"), metric("ratio"), metric("plain_events/s"), metric("p99_ms"), metric("cpu_us/event"), metric("plain_cpu_us/event") }
/^BenchmarkSourceWebhooksEmailHTTP/ { printf "BENCH source_webhooks_everyday_http_sqlite %s deliveries/s ratio=%s (%s events/s against the same events through /v1/batch at %s events/s in the same run; 75%% SendGrid, 10%% Twilio, 10%% Shopify, 5%% Stripe, each signed and one request, 32 vendors at once; p99 delivery %s ms; processor time %s us/delivery, /v1/batch %s us/event; target 5,000 deliveries/s)\n", metric("deliveries/s"), metric("ratio"), metric("events/s"), metric("batch_events/s"), metric("p99_ms"), metric("cpu_us/delivery"), metric("batch_cpu_us/event") }
/^BenchmarkSourceWebhooksHTTP/ { printf "BENCH source_webhooks_http_sqlite %s deliveries/s ratio=%s (%s events/s against the same events through /v1/batch at %s events/s in the same run; Shopify, Stripe, SendGrid and Twilio deliveries, each signed and one request, 32 vendors at once; p99 delivery %s ms; processor time %s us/delivery, /v1/batch %s us/event; target 5,000 deliveries/s)\n", metric("deliveries/s"), metric("ratio"), metric("events/s"), metric("batch_events/s"), metric("p99_ms"), metric("cpu_us/delivery"), metric("batch_cpu_us/event") }
/^BenchmarkIngestOverload/ { printf "BENCH ingest_overload_2x %s MiB ratio=%s (peak heap; ratio is the share of requests answered 429)\n", metric("peak_heap_MiB"), metric("share_429") }
/^BenchmarkImportCSV/      { printf "BENCH import_csv_sqlite %s rows/s ratio=%s (plain customer inserts/s %s)\n", metric("rows/s"), metric("ratio"), metric("plain_rows/s") }
/^BenchmarkLoyaltyTill/    { printf "BENCH loyalty_till_sqlite %s us_p99 ratio=%s (a till visit in process: order recorded, its points earned, a redemption; p50 %s us; earn + redeem alone p50 %s us, p99 %s us; plain ledger insert p99 %s us; target p99 < 5 ms)\n", metric("us_p99"), metric("ratio"), metric("us_p50"), metric("us_p50_earn_redeem"), metric("us_p99_earn_redeem"), metric("us_p99_plain_insert") }
/^BenchmarkLoyaltyStatement/ { printf "BENCH loyalty_statement_10k_sqlite %s ms/statement ratio=%s (balance checked against the ledger, expiring points from every lot, a statement page, tier history; plain select of the 10,000 rows %s ms; target < 50 ms)\n", metric("ms/statement"), metric("ratio"), metric("ms/plain_select") }
/^BenchmarkLoyaltyTierRecompute/ { printf "BENCH loyalty_tier_recompute_sqlite %s s ratio=%s (%s members, %s moved with history and audit; plain aggregate of their entries %s s; target 1M < 120 s)\n", metric("s/recompute"), metric("ratio"), metric("members"), metric("moved"), metric("s/plain_aggregate") }
/^BenchmarkErasure[-\t ]/ { printf "BENCH erasure_sqlite %s ms/erasure ratio=%s (plain delete of the same rows %s ms; target < 100 ms)\n", metric("ms/erasure"), metric("ratio"), metric("ms/plain_delete") }
/^BenchmarkAccessExport[-\t ]/ { printf "BENCH access_export_sqlite %s ms/export ratio=%s (plain row read %s ms; target < 250 ms)\n", metric("ms/export"), metric("ratio"), metric("ms/plain_read") }
/^BenchmarkErasureEventful/ { printf "BENCH erasure_10k_events_sqlite %s ms/erasure ratio=%s (plain delete of the same rows %s ms; %s events; target < 100 ms)\n", metric("ms/erasure"), metric("ratio"), metric("ms/plain_delete"), metric("events") }
/^BenchmarkAccessExportEventful/ { printf "BENCH access_export_10k_events_sqlite %s ms/export ratio=%s (plain read of the event rows %s ms; %s events; target < 250 ms)\n", metric("ms/export"), metric("ratio"), metric("ms/plain_read"), metric("events") }
/^BenchmarkSearch-/        {
                             split("name name_town partial_email phone_ending", kinds, " ")
                             for (i = 1; i <= 4; i++) printf "BENCH search_%s_p95 %s ms ratio=%.3f (over HTTP %s ms; exact e-mail look-up p95 %s ms, over HTTP %s ms; the customer searched for in the first ten: %s; %s customers, one caller; targets < 50 ms, < 150 ms over HTTP)\n", kinds[i], metric("ms_p95_" kinds[i]), metric("ms_p95_lookup")/metric("ms_p95_" kinds[i]), metric("ms_p95_http_" kinds[i]), metric("ms_p95_lookup"), metric("ms_p95_http_lookup"), metric("found_in_10_" kinds[i]), metric("customers") }
/^BenchmarkConsolePages/   { printf "BENCH console_customer_page_p95 %s ms ratio=%s (server time; six reads of the same sections through the API %s ms; largest page %s KB; %s customers; target < 50 ms, < 150 KB)\n", metric("ms_p95_customer_page"), metric("ratio_customer"), metric("ms_p95_customer_api"), metric("KB_max_customer_page"), metric("customers")
                             printf "BENCH console_search_p95 %s ms ratio=%s (server time of the search page; the live list %s ms; GET /v1/customers/search %s ms; largest page %s KB; %s customers; target < 50 ms)\n", metric("ms_p95_search_page"), metric("ratio_search"), metric("ms_p95_search_live"), metric("ms_p95_search_api"), metric("KB_max_search_page"), metric("customers")
                             printf "BENCH console_dashboard %s ms ratio=%.4f (server time of a view within the minute its counts are kept; the first view, which sweeps the last 30 days of customers, events, consents and requests, %s ms; %s customers all created in the window)\n", metric("ms_p50_dashboard_warm"), metric("ms_p50_dashboard_warm")/metric("ms_dashboard_cold"), metric("ms_dashboard_cold"), metric("customers") }
/^BenchmarkSearchIndex/    { printf "BENCH search_index_build %s min/1M_customers ratio=%s (%s s for %s customers from nothing; a plain walk of the rows %s s; %s tokens in %s blocks, %s bytes per customer; target <= 3 min)\n", metric("min/1M_customers"), metric("ratio"), metric("s/reindex"), metric("customers"), metric("s/plain_walk"), metric("tokens/customer"), metric("blocks/customer"), metric("bytes/customer") }
/^BenchmarkSearchQuality/  { printf "BENCH search_quality_febrl recall@1 %s ratio=%s (recall@10 %s, MRR %s over %s queries; FTS5 trigram over clear text: recall@1 %s, recall@10 %s, MRR %s; ratio is MRR over the baseline MRR; targets recall@1 >= 0.85, recall@10 >= 0.95)\n", metric("recall@1"), metric("ratio"), metric("recall@10"), metric("mrr"), metric("queries"), metric("fts_recall@1"), metric("fts_recall@10"), metric("fts_mrr") }
/^BenchmarkSegmentCount/   { printf "BENCH segment_count_sqlite %s ms/count ratio=%s (the same rule counted over a plain table of clear attributes %s ms; %s members of %s customers; target < 1 s)\n", metric("ms/count"), metric("ratio"), metric("ms/plain_count"), metric("members"), metric("customers") }
/^BenchmarkSegmentRefresh/ { printf "BENCH segment_refresh_sqlite %s s/refresh ratio=%s (%s s of processor time; the rule selected from a plain table %s s; %s customers opened, decided and evaluated; target < 60 s)\n", metric("s/refresh"), metric("ratio"), metric("cpu_s/refresh"), metric("s/plain_select"), metric("customers") }
/^BenchmarkTrend/          { printf "BENCH trend_segment_orders_sqlite %s ms/trend ratio=%s (the same GROUP BY over orders joined with the plain table %s ms; orders per week over 90 days of a segment; %s customers; target < 500 ms)\n", metric("ms/trend"), metric("ratio"), metric("ms/plain_group_by"), metric("customers") }
/^BenchmarkSegmentIncremental/ { printf "BENCH segment_incremental_sqlite %s ms/update ratio=%s (reading the plain row and order count of the customer %s ms; one event, the change feed read, the customer decided again; %s customers; target < 10 ms)\n", metric("ms/update"), metric("ratio"), metric("ms/plain_read"), metric("customers") }
/^BenchmarkBackup/         { printf "BENCH backup_sqlite %s ms/backup ratio=%s (plain SQLite online backup %s ms, %s customers, %s MB; target ratio <= 1.5)\n", metric("ms/backup"), metric("ratio"), metric("ms/plain_backup"), metric("customers"), metric("MB") }
' "$out"
rm -f "$out"
