#!/usr/bin/env bash
# govulncheck for phiwatch, offline from vuln.go.dev (issue 6; docs/security.md, "CI").
#
# The vulnerability database is built from the module golang.org/x/vulndb
# (its data/osv folder, served by the Go module proxy) with that module's
# cmd/indexdb, once per VULNDB_VERSION, into
#   ${XDG_CACHE_HOME:-$HOME/.cache}/phiwatch/vulndb/$VULNDB_VERSION
# and reused afterwards. govulncheck is installed once per version and Go
# toolchain under .../phiwatch/tools/. The scan's JSON stream is judged by
# deploy/dev/vulncheck (a small Go program).
#
# Policy: only REACHABLE findings count (a vulnerable function is called from
# phiwatch's code; vulnerable modules or packages that are merely required or
# imported are listed as a number, not counted).
#   - third-party module: exit 1. Fix with `go get module@fixed-version`.
#   - standard library ("stdlib"/"toolchain"): exit 0 with a loud WARNING
#     naming the Go version that fixes them. Only a newer toolchain fixes
#     them, and moving the toolchain is a deliberate decision, not CI's.
# If the module proxy cannot be reached (and the modules are not cached):
# skipped with a message locally, an error under CI=true.
#
# Move VULNDB_VERSION forward with `go list -m -versions golang.org/x/vulndb`
# or a newer pseudo-version (`go list -m golang.org/x/vulndb@latest`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018 # golang.org/x/vulndb of 5 Nov 2026
GOVULNCHECK_VERSION=v1.9.0                        # golang.org/x/vuln

cache="${XDG_CACHE_HOME:-$HOME/.cache}/phiwatch"
db_dir="$cache/vulndb/$VULNDB_VERSION"
tool_dir="$cache/tools/govulncheck-$GOVULNCHECK_VERSION-$(go env GOVERSION)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Runs a go command that may need the module proxy; on failure, tells a
# proxy that cannot be reached (skip locally, fail in CI) from other errors.
# (`go mod download -json` reports its errors on stdout, hence both.)
needs_proxy() {
  if (cd "$work" && "$@") >"$work/out" 2>"$work/err"; then cat "$work/out"; return 0; fi
  cat "$work/out" "$work/err" >&2
  if grep -Eqi 'dial tcp|no such host|connection refused|network is unreachable|i/o timeout|timeout awaiting|TLS handshake|proxyconnect|name resolution|context deadline exceeded|GOPROXY=off|unexpected EOF|502 Bad Gateway|503 Service Unavailable|504 Gateway' "$work/out" "$work/err"; then
    if [[ "${CI:-}" == "true" ]]; then
      echo "vulncheck: FAIL: the Go module proxy ($(go env GOPROXY)) is unreachable (CI=true)" >&2
      exit 1
    fi
    echo "vulncheck: SKIPPED: the Go module proxy ($(go env GOPROXY)) is unreachable; run again when it is (under CI=true this fails)" >&2
    exit 0
  fi
  echo "vulncheck: FAIL: $*" >&2
  exit 1
}

# 1. The database, once per VULNDB_VERSION.
if [[ -f "$db_dir/index/db.json" && -d "$db_dir/ID" ]]; then
  echo "vulncheck: database golang.org/x/vulndb@$VULNDB_VERSION (cached in $db_dir)"
else
  echo "vulncheck: building the database from golang.org/x/vulndb@$VULNDB_VERSION into $db_dir"
  start=$SECONDS
  needs_proxy go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" >"$work/vulndb.json"
  src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' "$work/vulndb.json")"
  if [[ -z "$src" || ! -d "$src/data/osv" ]]; then
    echo "vulncheck: FAIL: no data/osv in golang.org/x/vulndb@$VULNDB_VERSION ($src)" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$db_dir")"
  tmp_db="$db_dir.tmp.$$"
  rm -rf "$tmp_db"
  # indexdb writes the directory it is given; build aside, then rename.
  needs_proxy go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$tmp_db"
  rm -rf "$db_dir"
  mv "$tmp_db" "$db_dir"
  echo "vulncheck: database built in $((SECONDS - start)) s ($(ls "$db_dir/ID" | wc -l) files)"
fi

# 2. govulncheck, once per version and toolchain.
if [[ ! -x "$tool_dir/govulncheck" ]]; then
  echo "vulncheck: installing govulncheck $GOVULNCHECK_VERSION into $tool_dir"
  needs_proxy env GOBIN="$tool_dir" go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi

# 3. The scan (symbol level, the default: it says which findings are called).
echo "vulncheck: scanning ./... (govulncheck $GOVULNCHECK_VERSION, $(go env GOVERSION))"
start=$SECONDS
if ! "$tool_dir/govulncheck" -db "file://$db_dir" -scan symbol -format json ./... >"$work/scan.json" 2>"$work/scan.err"; then
  cat "$work/scan.err" >&2
  echo "vulncheck: FAIL: govulncheck could not scan (an error, not a finding)" >&2
  exit 1
fi
echo "vulncheck: scan took $((SECONDS - start)) s"
echo

# 4. The verdict: exit 1 on a reachable third-party finding, 2 on bad input.
go run ./deploy/dev/vulncheck <"$work/scan.json"
