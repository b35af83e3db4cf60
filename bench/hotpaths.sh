#!/usr/bin/env bash
# The hot paths of a refactor, before and after, in one run: two release builds taken in turns
# (A, B, A, B, …) on the same data, so both see the same state of the machine.
#   bash bench/hotpaths.sh DIR_A DIR_B [ROUNDS=3]
# DIR_A and DIR_B each hold a release `fsbench` and `mlinfra-dev`
# (swift build -c release --product fsbench; swift build -c release --product mlinfra-dev).
# Measured: the feature store's historical retrieval (CSV in, CSV out) and its online reads in
# process (SQLite online store), and a plan with nothing to change over 10,000 resources.
# Data: DATA (default /tmp/fs-bench/data), made by ../shared/peers/gen_data.py when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
A="$(cd "$1" && pwd)" B="$(cd "$2" && pwd)" ROUNDS="${3:-3}"
PEERS="${PEERS_DIR:-$ROOT/../shared/peers}"
PY="${PY:-/tmp/peers-venv/bin/python}"
DATA="${DATA:-/tmp/fs-bench/data}"
WORK="$(mktemp -d /tmp/mlinfra-hotpaths.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
[ -f "$DATA/features/meta.json" ] || "$PY" "$PEERS/gen_data.py" "$DATA" --only features --entities 25000 --entity-rows 100000 >/dev/null
TTL=$(python3 -c "import json;print(json.load(open('$DATA/features/meta.json'))['ttl_seconds_designed_for'])")
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)"

python3 "$ROOT/bench/core/gen_spec.py" 10000 0s echo > "$WORK/main.yaml"
for side in A B; do
  dir=${!side}
  "$dir/fsbench" setup "$WORK/store-$side" "$DATA/features/customer_features.csv" "$TTL" >/dev/null
  mkdir -p "$WORK/plan-$side" && cp "$WORK/main.yaml" "$WORK/plan-$side/"
  (cd "$WORK/plan-$side" && "$dir/mlinfra-dev" apply --auto-approve --parallelism 10 >/dev/null 2>&1)
done

for r in $(seq "$ROUNDS"); do
  for side in A B; do
    dir=${!side}
    cat "$dir/fsbench" "$DATA/features/customer_features.csv" "$DATA/features/entity_df.csv" > /dev/null
    "$dir/fsbench" historical "$WORK/store-$side" "$DATA/features/entity_df.csv" "$WORK/hist-$side.csv" | sed "s/^/$side /"
    "$dir/fsbench" online "$WORK/store-$side" 20000 | sed "s/^/$side /"
    /usr/bin/time -f "%e %U %S" -o "$WORK/time" sh -c "cd '$WORK/plan-$side' && '$dir/mlinfra-dev' plan --detailed-exitcode >/dev/null 2>&1"
    awk -v s="$side" '{ printf "%s {\"step\": \"plan_10k\", \"seconds\": %.3f, \"cpu_s\": %.3f}\n", s, $1, $2 + $3 }' "$WORK/time"
  done
done > "$WORK/results"
cmp -s "$WORK/hist-A.csv" "$WORK/hist-B.csv" && echo "historical outputs: identical" || echo "historical outputs: DIFFER"

python3 - "$WORK/results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    side, text = line.split(" ", 1)
    if not text.startswith("{"): continue
    r = json.loads(text)
    for key in ("seconds", "p50_us", "p99_us"):
        if key in r: runs.setdefault((r["step"], key), {}).setdefault(side, []).append(r[key])
print(f"{'step':<18} {'figure':<8} {'A (each round)':<30} {'B (each round)':<30} {'B/A medians':>11}")
for (step, key), sides in runs.items():
    a, b = sides.get("A", []), sides.get("B", [])
    fmt = lambda xs: " / ".join(f"{x:.3f}" if key == "seconds" else f"{x:.1f}" for x in xs)
    print(f"{step:<18} {key:<8} {fmt(a):<30} {fmt(b):<30} {statistics.median(b) / statistics.median(a):>10.2f}x")
PY
