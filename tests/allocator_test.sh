#!/usr/bin/env bash
# The servers allocate with jemalloc and the simulator with glibc's malloc (CMakeLists.txt,
# BATON_JEMALLOC): jemalloc prints its statistics at exit when MALLOC_CONF asks, glibc's
# malloc ignores MALLOC_CONF. Fails naming the binary whose allocator is not the one meant.
set -euo pipefail
bin_dir="$1"
status=0
check() {
  local binary="$1" want="$2" out
  out="$(MALLOC_CONF=stats_print:true "$bin_dir/$binary" --help 2>&1)" || {
    echo "$binary --help failed: $out" >&2; status=1; return; }
  if grep -q "jemalloc statistics" <<<"$out"; then got=jemalloc; else got=glibc; fi
  if [[ "$got" != "$want" ]]; then
    echo "$binary allocates with $got, expected $want" >&2
    status=1
  else
    echo "$binary allocates with $got"
  fi
}
for server in baton-orchestrator baton-worker baton-mcp-bridge; do check "$server" jemalloc; done
check baton-model-sim glibc
exit "$status"
