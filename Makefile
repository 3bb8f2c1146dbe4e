# The two commands a new machine needs are `make demo` and `make test`; see README.md.
GO ?= go
export GOTOOLCHAIN := local
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: demo build test check bench fuzz fuzz-short race cluster cluster-stop

demo:
	$(GO) run ./cmd/steward demo --data ./steward-data

build:
	$(GO) build -o bin/steward ./cmd/steward

# Unit, contract (SQLite and a throwaway PostgreSQL), scenario and canary tests. Under CI=true
# the PostgreSQL tests fail instead of skipping when PostgreSQL cannot be started.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...

# gofmt, vet and staticcheck.
check:
	@test -z "$$(gofmt -l cmd internal)" || { gofmt -l cmd internal; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Benchmarks with a baseline measured in the same run; ends with one BENCH line each.
bench:
	bash scripts/bench.sh

# Every fuzz test, 30 s each (scripts/fuzz.sh finds them by name).
fuzz:
	FUZZTIME=30s bash scripts/fuzz.sh

# The race detector over the packages where goroutines meet (storage, the consent cache,
# ingest, the merging of concurrent webhook deliveries, jobs, keys and sessions) and the application's concurrency tests (the whole
# application under the detector takes over ten minutes on two cores): what CI runs after
# make test.
race:
	$(GO) test -race -count=1 -timeout 20m ./internal/store/... ./internal/consent/ ./internal/ingest/ ./internal/source/ ./internal/job/ ./internal/auth/ ./internal/staff/ ./internal/forms/
	$(GO) test -race -count=1 -timeout 20m -run 'Concurrent|DecisionCache|AcrossNodes|Kill|Limits|Overload' ./internal/app/

# Every fuzzer for 10 s.
fuzz-short:
	FUZZTIME=10s bash scripts/fuzz.sh

# A PostgreSQL primary with a synchronous standby, three Steward nodes and HAProxy on loopback
# (scripts/cluster.sh; docs/cluster.md). make cluster-stop stops all of it.
cluster:
	bash scripts/cluster.sh start

cluster-stop:
	bash scripts/cluster.sh stop
