# phiwatch — see README.md. The two commands a newcomer needs:
#   make demo   run the demo on the embedded ClickHouse engine
#   make test   run every test against real Kafka and the ClickHouse engine

GO       ?= go
BIN      ?= bin/phiwatch
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/phiwatch/phiwatch/internal/cli.Version=$(VERSION)

.PHONY: build test demo bench libchdb kafka-start kafka-stop fuzz vet fmt clean helm-check vulncheck

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) .

## libchdb: fetch the embedded ClickHouse engine into ~/.cache/phiwatch (once)
libchdb:
	bash deploy/chdb/fetch-libchdb.sh

## test: unit and integration tests (starts and stops a local Kafka)
test:
	bash deploy/dev/test.sh -v

## demo: the whole pipeline in one process on the embedded engine
demo: libchdb build
	$(BIN) demo

## bench: parse and end-to-end (file → Kafka → loader → ClickHouse engine) rates
bench: libchdb build
	bash deploy/dev/bench.sh

## fuzz: run every parser's fuzz target briefly (FUZZTIME, default 10s each)
fuzz:
	bash deploy/dev/fuzz.sh

## helm-check: lint and render the Helm chart (deploy/kubernetes/check.sh; part of make test)
helm-check:
	bash deploy/kubernetes/check.sh

kafka-start:
	bash deploy/kafka/kafka.sh start

kafka-stop:
	bash deploy/kafka/kafka.sh stop

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo "gofmt needed"; exit 1)

fmt:
	gofmt -w .

clean:
	rm -rf bin phiwatch-data

## vulncheck: govulncheck against a database built offline from golang.org/x/vulndb (deploy/dev/vulncheck.sh)
vulncheck:
	bash deploy/dev/vulncheck.sh
