#!/usr/bin/env bash
# Fetch libchdb (the ClickHouse engine as a shared library) into phiwatch's
# cache, where the embedded store finds it. Idempotent: a complete cached copy
# is kept.
#
# Source, in order:
#   1. the npm package @chdb/lib-linux-x64-gnu (npm pack; works wherever the
#      npm registry is reachable, e.g. behind a registry mirror);
#   2. chDB's official release tarball from GitHub, where that is reachable
#      (CHDB_RELEASE_URL overrides it).
#
# Environment: PHIWATCH_CACHE [~/.cache/phiwatch]; CHDB_NPM_VERSION.
set -euo pipefail

VERSION="${CHDB_NPM_VERSION:-26.7.3-stable.1}"
CACHE="${PHIWATCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/phiwatch}"
DEST_DIR="$CACHE/chdb/$VERSION"
DEST="$DEST_DIR/libchdb.so"
MARKER="$DEST_DIR/.complete"

if [[ -f "$MARKER" && -f "$DEST" ]]; then
  echo "libchdb $VERSION already in $DEST"
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) npm_pkg="@chdb/lib-linux-x64-gnu"; release_asset="linux-x86_64-libchdb.tar.gz" ;;
  Linux-aarch64) npm_pkg="@chdb/lib-linux-arm64-gnu"; release_asset="linux-aarch64-libchdb.tar.gz" ;;
  Darwin-arm64) npm_pkg="@chdb/lib-darwin-arm64"; release_asset="macos-arm64-libchdb.tar.gz" ;;
  *) echo "fetch-libchdb: no libchdb build known for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac

mkdir -p "$DEST_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
start=$(date +%s)

fetched=""
if command -v npm >/dev/null 2>&1; then
  echo "fetching $npm_pkg@$VERSION from the npm registry (~180 MB)..."
  if (cd "$work" && npm pack --silent "$npm_pkg@$VERSION" >/dev/null); then
    tar -xzf "$work"/*.tgz -C "$work"
    lib="$(find "$work/package" -name 'libchdb.*' -type f | head -n 1)"
    [[ -n "$lib" ]] && fetched="$lib"
  else
    echo "npm pack failed; trying chDB's release" >&2
  fi
fi
if [[ -z "$fetched" ]]; then
  url="${CHDB_RELEASE_URL:-https://github.com/chdb-io/chdb/releases/latest/download/$release_asset}"
  echo "fetching $url ..."
  curl -fsSL --retry 3 -o "$work/libchdb.tar.gz" "$url"
  tar -xzf "$work/libchdb.tar.gz" -C "$work"
  fetched="$(find "$work" -name 'libchdb.*' -type f ! -name '*.tar.gz' | head -n 1)"
fi
if [[ -z "$fetched" ]]; then
  echo "fetch-libchdb: no libchdb found in the download" >&2
  exit 1
fi
mv "$fetched" "$DEST.tmp"
mv "$DEST.tmp" "$DEST"
touch "$MARKER"
echo "libchdb $VERSION -> $DEST ($(du -h "$DEST" | cut -f1), $(( $(date +%s) - start )) s)"
