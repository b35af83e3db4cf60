#!/usr/bin/env bash
# State backends side by side in one run: apply creating N resources of the zero-latency `disk`
# test provider, then a plan with nothing to change, on the local backend and on PostgreSQL.
# Usage: bench/state/run.sh BIN N PG_URL   (BIN: an mlinfra-dev binary; PG_URL: a scratch database)
set -euo pipefail
bin=$1 n=$2 url=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
spec() {  # $1: backend block or empty
  printf 'mlinfra: 1\nproject: bench\n%sproviders:\n  disk: { dir: objects, latency: 0s }\nresources:\n' "$1"
  for i in $(seq 0 $((n - 1))); do printf '  item.i%d: { size: %d, label: one }\n' "$i" "$i"; done
}
mkdir -p "$work/local" "$work/pg"
spec "" > "$work/local/main.yaml"
spec $'backend:\n  postgres: { schema: bench }\n' > "$work/pg/main.yaml"
t() { local s e; s=$(date +%s.%N); "$@" > /dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
for backend in local pg; do
  cd "$work/$backend"
  apply=$(MLINFRA_PG_URL=$url t "$bin" apply --auto-approve)
  plan=$(MLINFRA_PG_URL=$url t "$bin" plan --detailed-exitcode)
  echo "$backend: apply ${apply}s, no-change plan ${plan}s ($n resources)"
done
