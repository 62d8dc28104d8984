#!/usr/bin/env bash
# Run every fuzz target in the module briefly (FUZZTIME per target, default
# 10s). New crashers land in the package's testdata/fuzz and fail the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
FUZZTIME="${FUZZTIME:-10s}"
n=0
while IFS= read -r pkg; do
  dir="$(go list -f '{{.Dir}}' "$pkg")"
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
    echo "== fuzz $pkg $target ($FUZZTIME)"
    # Minimizing a new input may otherwise take a minute by itself.
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" -fuzzminimizetime 5s "$pkg"
    n=$((n + 1))
  done
done < <(go list ./...)
echo "fuzzed $n targets"
[[ $n -gt 0 ]]
