# The two commands a new machine needs are `make demo` and `make test`; see README.md.
GO ?= go
export GOTOOLCHAIN := local
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: demo build test check bench fuzz

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

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/catalog/
	$(GO) test -run '^$$' -fuzz FuzzValidateEmail -fuzztime 30s ./internal/quality/
	$(GO) test -run '^$$' -fuzz FuzzValidatePhone -fuzztime 30s ./internal/quality/
	$(GO) test -run '^$$' -fuzz FuzzNormalizeName -fuzztime 30s ./internal/quality/
	$(GO) test -run '^$$' -fuzz FuzzLookupCountry -fuzztime 30s ./internal/quality/
	$(GO) test -run '^$$' -fuzz FuzzNormalizePostalCode -fuzztime 30s ./internal/quality/
	$(GO) test -run '^$$' -fuzz FuzzDecodeValue -fuzztime 30s ./internal/customer/
	$(GO) test -run '^$$' -fuzz FuzzEvidence -fuzztime 30s ./internal/consent/
	$(GO) test -run '^$$' -fuzz FuzzNormalize -fuzztime 30s ./internal/match/
	$(GO) test -run '^$$' -fuzz FuzzReadMatchCSV -fuzztime 30s ./internal/cli/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./internal/ingest/
	$(GO) test -run '^$$' -fuzz FuzzCSVRow -fuzztime 30s ./internal/importer/
