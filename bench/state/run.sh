#!/usr/bin/env bash
# State backends side by side in one run: apply creating N resources of the zero-latency `disk`
# test provider (echo mode; best of 3, each into a new state), then a plan with nothing to change
# (best of 3), on the local backend
# (plain and encrypted) and on PostgreSQL (encrypted, the default, and plain).
# Usage: bench/state/run.sh BIN N [PG_URL]
#   BIN: an mlinfra-dev binary (release: swift build -c release --product mlinfra-dev)
#   PG_URL: a scratch database; without it a private server is started from Debian's postgresql
#   package (fsync on, default settings) on a free port of 127.0.0.1, and removed at the end.
set -euo pipefail
bin=$(realpath "$1") n=$2 url=${3:-}
work=$(mktemp -d /tmp/mlinfra-bench-state.XXXXXX)
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pgdir=""
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pgbin/$1" "${@:2}"; else "$pgbin/$1" "${@:2}"; fi; }
cleanup() {
  if [ -n "$pgdir" ]; then as_pg pg_ctl -D "$pgdir/data" stop -m fast >/dev/null 2>&1 || true; rm -rf "$pgdir"; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "$url" ]; then
  [ -n "$pgbin" ] || { echo "no PostgreSQL found: apt-get install postgresql, or pass PG_URL" >&2; exit 1; }
  pgdir=$(mktemp -d /tmp/mlinfra-bench-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$pgdir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  as_pg initdb -D "$pgdir/data" -U bench --auth=trust -E UTF8 --locale=C >/dev/null
  as_pg pg_ctl -D "$pgdir/data" -l "$pgdir/log" -o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir" -w start >/dev/null
  url="postgres://bench@127.0.0.1:$port/postgres?sslmode=disable"
  echo "PostgreSQL $(as_pg postgres --version | awk '{print $3}') on 127.0.0.1:$port (fsync on)"
fi
key=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ), N=$n"

spec() {  # $1: backend block or empty
  printf 'mlinfra: 1\nproject: bench\n%sproviders:\n  disk: { dir: objects, latency: 0s, echo: true }\nresources:\n' "$1"
  for i in $(seq 0 $((n - 1))); do printf '  item.i%d: { size: %d, label: "item %d", tags: { team: ml } }\n' "$i" "$i" "$i"; done
}
# timeit CMD…: "WALL CPU" seconds of the whole process; fails (printing its stderr) when CMD fails.
timeit() {
  /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$work/time"
}
best() { python3 -c "a='$1'.split(); b='${2:-1e9 1e9}'.split(); print(' '.join(a if float(a[0]) < float(b[0]) else b))"; }
run() {  # $1: name, $2: backend block (SCHEMA is replaced per try), rest: environment
  local name=$1 block=$2; shift 2
  local apply="" plan="" t r
  for r in 1 2 3; do  # apply: best of 3, each into a new directory (and a new postgres schema)
    mkdir -p "$work/$name-$r" && cd "$work/$name-$r"
    spec "${block//SCHEMA/${name//-/_}_$r}" > main.yaml
    t=$(timeit env "$@" MLINFRA_PG_URL="$url" "$bin" apply --auto-approve --parallelism 10)
    apply=$(best "$t" "$apply")
  done
  for r in 1 2 3; do
    t=$(timeit env "$@" MLINFRA_PG_URL="$url" "$bin" plan --detailed-exitcode)
    plan=$(best "$t" "$plan")
  done
  echo "$name $apply $plan"
}
{
  run local ""
  run local-encrypted "" MLINFRA_STATE_ENCRYPTION=on MLINFRA_STATE_KEY="$key"
  run postgres $'backend:\n  postgres: { schema: SCHEMA }\n' MLINFRA_STATE_KEY="$key"
  run postgres-unencrypted $'backend:\n  postgres: { schema: SCHEMA }\n' MLINFRA_STATE_KEY="$key" MLINFRA_STATE_ENCRYPTION=off
} > "$work/results"
python3 - "$work/results" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
base = {r[0]: r for r in rows}["local"]
print(f"{'backend':<22} {'apply wall':>10} {'cpu':>7} {'x local':>8}   {'plan wall':>9} {'cpu':>7} {'x local':>8}")
for name, aw, ac, pw, pc in rows:
    print(f"{name:<22} {float(aw):>9.3f}s {float(ac):>6.3f}s {float(aw)/float(base[1]):>7.2f}x   "
          f"{float(pw):>8.3f}s {float(pc):>6.3f}s {float(pw)/float(base[3]):>7.2f}x")
EOF
