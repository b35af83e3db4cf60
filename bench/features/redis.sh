#!/usr/bin/env bash
# Online store on Redis: mlinfra's engine against Feast 0.67 with its Redis online store, same data,
# same private redis-server, one run.
#   bash bench/features/redis.sh [ENTITIES=26400] [LOOKUPS=20000]
# 26,400 entities make gen_data.py write about 1,000,000 feature rows (about 38 per entity); both
# tools materialize all of them (the latest row per entity lands in Redis) and are timed end to end
# (read the source, pick the latest rows, write them). Then in-process lookups: ours 1 × 3, 1 × 50
# (a 50-feature view) and 100 × 3; Feast's 1 × 3 and 100 × 3.
# ONE_ROW_PER_ENTITY=1 writes ENTITIES entities with one row each instead (gen_entities.py), so that
# every source row is written to Redis: ONE_ROW_PER_ENTITY=1 bash bench/features/redis.sh 1000000.
# Needs redis-server and a Python with feast 0.67 and redis (PY, default /tmp/mlinfra-ci-venv/bin/python).
# BUILD=debug uses the debug build instead of building release; SKIP_BUILD=1 uses the binary as built.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$HERE/../.."
PEERS="${PEERS_DIR:-$ROOT/../shared/peers}"
PY="${PY:-/tmp/mlinfra-ci-venv/bin/python}"
ENTITIES="${1:-26400}"
LOOKUPS="${2:-20000}"
DATA="${DATA:-/tmp/fs-redis-bench/data-$ENTITIES${ONE_ROW_PER_ENTITY:+-one-row}}"
OUT="${OUT:-/tmp/fs-redis-bench/out}"
BUILD="${BUILD:-release}"
mkdir -p "$DATA" "$OUT"
RES="$OUT/results.jsonl"
: > "$RES"

if [ ! -f "$DATA/features/meta.json" ]; then
  if [ -n "${ONE_ROW_PER_ENTITY:-}" ]; then
    "$PY" "$HERE/gen_entities.py" "$DATA" "$ENTITIES" | tee -a "$RES"
  else
    "$PY" "$PEERS/gen_data.py" "$DATA" --only features --entities "$ENTITIES" --entity-rows 1000 | tee -a "$RES"
  fi
fi
TTL=$("$PY" -c "import json;print(json.load(open('$DATA/features/meta.json'))['ttl_seconds_designed_for'])")

[ -n "${SKIP_BUILD:-}" ] || (cd "$ROOT" && swift build -c "$BUILD" --product fsbench >/dev/null)
BIN="$ROOT/.build/$BUILD/fsbench"

# A private redis-server on a free loopback port, no persistence; stopped on exit.
PORT=$("$PY" -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
RDIR="$OUT/redis"
rm -rf "$RDIR" && mkdir -p "$RDIR"
printf 'bind 127.0.0.1\nport %s\ndir %s\ndaemonize yes\npidfile %s/redis.pid\nlogfile %s/redis.log\nsave ""\nappendonly no\n' \
  "$PORT" "$RDIR" "$RDIR" "$RDIR" > "$RDIR/redis.conf"
redis-server "$RDIR/redis.conf"
trap 'kill "$(cat "$RDIR/redis.pid")" 2>/dev/null || true' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
echo "{\"step\": \"machine\", \"redis\": \"$(redis-server --version | cut -d' ' -f3)\", \"build\": \"$BUILD\", \"uptime\": \"$(uptime)\"}" | tee -a "$RES"

STORE="$OUT/store"
rm -rf "$STORE"
FSBENCH_REDIS="redis://127.0.0.1:$PORT/0" "$BIN" setup "$STORE" "$DATA/features/customer_features.csv" "$TTL" | tee -a "$RES"
"$BIN" online "$STORE" "$LOOKUPS" | tee -a "$RES"
FEAST_REDIS="127.0.0.1:$PORT" "$PY" "$HERE/feast_bench.py" online "$DATA" "$OUT/feast-repo" 2000 | grep '"step"' | tee -a "$RES"
echo "{\"step\": \"machine_after\", \"uptime\": \"$(uptime)\", \"redis_keys\": $(redis-cli -p "$PORT" dbsize)}" | tee -a "$RES"

python3 - "$RES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ours = {r["step"]: r for r in rows if "tool" not in r and "step" in r}
feast = {r["step"]: r for r in rows if r.get("tool") == "feast"}
m, fm = ours["materialize"], feast["materialize"]
print(f"materialize {fm['feature_rows']:,} rows ({m['entities']:,} entities) into Redis: mlinfra {m['seconds']:.2f} s, "
      f"Feast {fm['seconds']:.2f} s: {fm['seconds'] / m['seconds']:.1f}x")
for step, peer in (("online_1x3", "online_1x3"), ("online_1x50", "online_1x3"), ("online_100x3", "online_100x3")):
    o, f = ours[step], feast[peer]
    print(f"{step}: mlinfra p50 {o['p50_us']:.0f} us, p99 {o['p99_us']:.0f} us; Feast ({peer}) p50 {f['p50_us']:.0f} us, "
          f"p99 {f['p99_us']:.0f} us: {f['p99_us'] / o['p99_us']:.1f}x at p99")
PY
echo "results: $RES"
