#!/usr/bin/env bash
# Lint and render the Helm chart with the default values and each example
# (external Kafka and ClickHouse clusters), and check what comes out: the
# kinds and counts of objects, the migrate hook, the cluster flag. Needs
# helm (v3): on PATH, in $HELM, or in the cache .ci/run installs it to.
# Without helm it skips with a message, except under CI=true, where it fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
chart=phiwatch

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
helm="${HELM:-}"
if [[ -z "$helm" ]]; then
  cached="${XDG_CACHE_HOME:-$HOME/.cache}/phiwatch/tools/helm-$HELM_VERSION/helm"
  if [[ -x "$cached" ]]; then helm="$cached"
  elif command -v helm >/dev/null 2>&1; then helm="$(command -v helm)"
  fi
fi
if [[ -z "$helm" ]]; then
  if [[ "${CI:-}" == "true" ]]; then
    echo "FAIL: helm is required under CI=true (.ci/run installs it)"; exit 1
  fi
  echo "SKIP: helm not found: Helm chart not checked (GOBIN=~/.cache/phiwatch/tools/helm-$HELM_VERSION go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION)"
  exit 0
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
fail=0
check() { # check FILE KIND WANT: count of objects of KIND in FILE
  local got
  got="$(grep -c "^kind: $2\$" "$1" || true)"
  if [[ "$got" != "$3" ]]; then echo "FAIL: $(basename "$1"): $got $2, want $3"; fail=1; fi
}
has() { # has FILE PATTERN WHY
  if ! grep -qE -- "$2" "$1"; then echo "FAIL: $(basename "$1"): $3"; fail=1; fi
}
hasnot() {
  if grep -qE -- "$2" "$1"; then echo "FAIL: $(basename "$1"): $3"; fail=1; fi
}

echo "== helm lint ($("$helm" version --short 2>/dev/null || echo "$helm"))"
"$helm" lint --strict "$chart"
for v in examples/*.yaml; do "$helm" lint --strict "$chart" -f "$v"; done

echo "== helm template: default values"
d="$out/default.yaml"
"$helm" template pw "$chart" --namespace phiwatch > "$d"
check "$d" Deployment 4          # ingest (one instance), load, analyze, api
check "$d" Service 5             # a Service per workload + the syslog one
check "$d" HorizontalPodAutoscaler 1
check "$d" PodDisruptionBudget 3
check "$d" Job 1
check "$d" ConfigMap 1
check "$d" Secret 2
check "$d" NetworkPolicy 3
check "$d" ServiceAccount 1
check "$d" Ingress 0
check "$d" ServiceMonitor 0
has "$d" 'helm.sh/hook: pre-install,pre-upgrade' "the migrate Job is not a pre-install/pre-upgrade hook"
has "$d" 'name: PHIWATCH_CLUSTER, value: ""' "migrate must run without --cluster by default"
has "$d" 'readOnlyRootFilesystem: true' "containers must have a read-only root file system"
has "$d" 'runAsNonRoot: true' "pods must run as non-root"
has "$d" 'path: /readyz' "readiness probes on /readyz"
has "$d" 'path: /healthz' "liveness probes on /healthz"
has "$d" 'prometheus.io/scrape: "true"' "pods carry the scrape annotations"
has "$d" 'migrate: "false"' "load must not migrate (the hook did)"

echo "== helm template: Strimzi + Altinity cluster"
c="$out/cluster.yaml"
"$helm" template pw "$chart" --namespace phiwatch -f examples/strimzi-altinity.yaml > "$c"
check "$c" Deployment 5          # two ingest instances, load, analyze, api
check "$c" Service 7
check "$c" HorizontalPodAutoscaler 4   # both ingest instances, load, api
check "$c" Ingress 1
check "$c" ServiceMonitor 1
check "$c" Secret 0              # both come from existing Secrets
check "$c" NetworkPolicy 4
has "$c" 'name: PHIWATCH_CLUSTER, value: "phiwatch"' "migrate must get the cluster name"
has "$c" 'events-kafka-bootstrap.kafka.svc:9092' "the Strimzi bootstrap is the broker list"
has "$c" 'type: External' "the consumer-lag metric must be in the load HPA"
has "$c" 'name: phiwatch-store' "the roles read the store DSN from the existing Secret"
has "$c" 'oidc-client-secret-file: /etc/phiwatch/secrets/oidc-client-secret' "api reads the OIDC secret from the mounted Secret"
hasnot "$c" 'prometheus.io/scrape' "annotations off when the ServiceMonitor is used"

echo "== helm template: ClickHouse Cloud"
k="$out/cloud.yaml"
"$helm" template pw "$chart" --namespace phiwatch -f examples/clickhouse-cloud.yaml > "$k"
check "$k" Deployment 4
has "$k" 'name: PHIWATCH_CLUSTER, value: ""' "ClickHouse Cloud takes the plain migrations"

# Every config-file key and PHIWATCH_* variable must be a flag of its role.
if command -v go >/dev/null 2>&1; then
  echo "== config keys are flags of their roles"
  bin="$out/phiwatch"
  (cd ../.. && go build -o "$bin" .)
  for f in "$d" "$c" "$k"; do
    awk '
      /^  [a-z-]+\.yaml: \|$/ { file=$1; sub(":", "", file); role=file; sub(/-.*|\.yaml/, "", role); next }
      /^[^ ]/ || /^  [^ ]/ { role="" }
      role != "" && /^    [a-z-]+: / { key=$1; sub(":", "", key); print role, key }
      /- ?\{?name: PHIWATCH_/ { match($0, /PHIWATCH_[A-Z_]+/); v=substr($0, RSTART+9, RLENGTH-9); gsub("_", "-", v); print "migrate", tolower(v) }
    ' "$f" | sort -u > "$out/keys"
    while read -r role key; do
      [[ -f "$out/help-$role" ]] || "$bin" "$role" --help > "$out/help-$role" 2>&1 || true
      if ! grep -qE -- "^  -$key( |\$)" "$out/help-$role"; then
        echo "FAIL: $(basename "$f"): $role has no flag --$key"; fail=1
      fi
    done < "$out/keys"
    echo "   $(basename "$f"): $(wc -l < "$out/keys") keys checked"
  done
fi

if [[ "$fail" -ne 0 ]]; then echo "FAIL: Helm chart checks"; exit 1; fi
echo "ok: Helm chart lints and renders as expected"
