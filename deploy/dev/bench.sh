#!/usr/bin/env bash
# make bench: phiwatch's throughput figures on this machine.
#   (a) parse only: each parser, one core            (ingest/parsers)
#   (b) ingest pipeline, 1M events, one core          (read → parse → validate → encode)
#   (c) store insert into the embedded engine         (internal/store)
#   (d) end to end, PHIWATCH_BENCH_EVENTS (1M) events: file → `phiwatch ingest`
#       → Kafka → `phiwatch load` → ClickHouse engine, real processes, with
#       the loader's peak RSS
# Starts a local Kafka if none runs (and stops it again).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash deploy/chdb/fetch-libchdb.sh >/dev/null
export KAFKA_PORT="${KAFKA_PORT:-19092}"
started=""
if ! bash deploy/kafka/kafka.sh status >/dev/null 2>&1; then
  bash deploy/kafka/kafka.sh start >/dev/null
  started=1
fi
trap '[[ -n "$started" ]] && bash deploy/kafka/kafka.sh stop >/dev/null' EXIT
export PHIWATCH_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
out="$(mktemp)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
go test -run '^$' -bench 'Parse' -benchtime 200000x ./ingest/parsers/ | tee -a "$out"
go test -run '^$' -bench 'Pipeline1M' -benchtime 1x ./ingest/ | tee -a "$out"
go test -run '^$' -bench 'EmbeddedInsert|EncodeRows' -benchtime 5x ./internal/store/ | tee -a "$out"
go test -run '^$' -bench 'EndToEnd' -benchtime 1x -timeout 30m ./internal/cli/ | tee -a "$out"
echo
echo "== summary (events/s per core unless noted)"
grep -E '^Benchmark' "$out" | sed -E 's/-[0-9]+ +[0-9]+ +[0-9]+ ns\/op//'
rm -f "$out"
