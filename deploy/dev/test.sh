#!/usr/bin/env bash
# Run phiwatch's tests against the real components: libchdb (fetched and
# cached) and a real Kafka broker on 127.0.0.1 (started here, and stopped
# again if this script started it). Extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

bash deploy/chdb/fetch-libchdb.sh

export KAFKA_PORT="${KAFKA_PORT:-19092}"
export KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
started_kafka=""
if ! bash deploy/kafka/kafka.sh status >/dev/null 2>&1; then
  bash deploy/kafka/kafka.sh start
  started_kafka=1
fi
stop_kafka() {
  if [[ -n "$started_kafka" ]]; then bash deploy/kafka/kafka.sh stop || true; fi
}
trap stop_kafka EXIT

export PHIWATCH_TEST_KAFKA="127.0.0.1:$KAFKA_PORT"
echo "== go vet"
go vet ./...
echo "== go test (Kafka $PHIWATCH_TEST_KAFKA, libchdb cached)"
# -p 1: test packages share the one Kafka broker and the machine's 2 cores.
go test -count=1 -p 1 -timeout 20m "$@" ./... 2>&1 | tee /tmp/phiwatch-test.log
rc=${PIPESTATUS[0]}
if grep -q -- '--- SKIP' /tmp/phiwatch-test.log; then
  echo "== skipped tests:"; grep -A1 -- '--- SKIP' /tmp/phiwatch-test.log || true
fi
[[ "$rc" -eq 0 ]] || exit "$rc"
echo "== Helm chart: lint, template, checks"
bash deploy/kubernetes/check.sh
echo "== fuzz every parser briefly (FUZZTIME=${FUZZTIME:=5s} per target)"
FUZZTIME="$FUZZTIME" bash deploy/dev/fuzz.sh
