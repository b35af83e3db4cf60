#!/usr/bin/env bash
# Online lookup latency only, in one command: in-process (fsbench online) and over HTTP (wrk, 8 connections).
#   bash bench/features/online.sh [LOOKUPS=20000] [WRK_SECONDS=15]
# FSBENCH_LOOPS=N: event loops of the server (default 1); WRK_THREADS (default 1); RUNS (default 3).
# Uses the peer data in $DATA (generated with shared/peers/gen_data.py when missing, as run.sh does),
# materializes it into a fresh store, then prints p50/p99 with the load average and CPU time beside them.
# Targets (issue 4): 1 entity × 50 features < 50 µs p99; 100 entities × 3 features < 1 ms p99;
# HTTP, 1 entity, 8 concurrent clients < 1 ms p99.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PEERS="${PEERS_DIR:-$HERE/../../../shared/peers}"
PY="${PY:-/tmp/peers-venv/bin/python}"
LOOKUPS="${1:-20000}"
SECS="${2:-15}"
DATA="${DATA:-/tmp/fs-bench/data}"
OUT="${OUT:-/tmp/fs-bench/online}"
mkdir -p "$DATA" "$OUT"

if [ ! -f "$DATA/features/meta.json" ]; then
  "$PY" "$PEERS/gen_data.py" "$DATA" --only features --entities 25000 --entity-rows 100000
fi
TTL=$(python3 -c "import json;print(json.load(open('$DATA/features/meta.json'))['ttl_seconds_designed_for'])")
(cd "$HERE/../.." && swift build -c release --product fsbench >/dev/null)
BIN="$HERE/../../.build/release/fsbench"
STORE="$OUT/store"
rm -rf "$STORE"
"$BIN" setup "$STORE" "$DATA/features/customer_features.csv" "$TTL"

echo "== in process ($LOOKUPS lookups; 1x50 = one entity of a 50-feature view, 100x3 = batches of 100)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BIN" online "$STORE" "$LOOKUPS" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("{step:<13} p50 {p50_us:8.1f} us   p99 {p99_us:8.1f} us   p99.9 {p999_us:8.1f} us   n {n:>6}   wall {wall_s:.2f} s   cpu {cpu_s:.2f} s".format(**r))
'
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"

# HTTP: the server on one event loop and wrk on one thread, so on a two-core machine each has a core
# (FSBENCH_LOOPS / WRK_THREADS change that); RUNS runs of WRK_SECONDS each, every one reported.
LOOPS="${FSBENCH_LOOPS:-1}"
THREADS="${WRK_THREADS:-1}"
RUNS="${RUNS:-3}"
echo "== HTTP: POST /get-online-features, 1 entity x 3 features, 8 connections (wrk -t$THREADS -c8 -d${SECS}s), server on $LOOPS event loop(s), $RUNS runs"
PORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
FSBENCH_LOOPS="$LOOPS" "$BIN" serve "$STORE" "$PORT" > "$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q serving "$OUT/serve.log" && break; sleep 0.1; done
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$SERVER/stat"; }
wrk -t"$THREADS" -c8 -d3s -s "$HERE/post.lua" "http://127.0.0.1:$PORT" > /dev/null
for run in $(seq "$RUNS"); do
  LOAD0=$(cut -d' ' -f1 /proc/loadavg)
  C0=$(cpu)
  wrk -t"$THREADS" -c8 -d"${SECS}s" --latency -s "$HERE/post.lua" "http://127.0.0.1:$PORT" > "$OUT/wrk-$run.txt"
  C1=$(cpu)
  python3 - "$OUT/wrk-$run.txt" "$C0" "$C1" "$run" "$LOAD0" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import re, sys
text, c0, c1, run, l0, l1 = open(sys.argv[1]).read(), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
def us(label):
    m = re.search(r"^\s*" + label + r"\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
n = int(re.search(r"(\d+) requests in", text).group(1))
errors = re.findall(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", text)
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
print(f"run {run}: p50 {us('50%'):6.0f} us   p90 {us('90%'):6.0f} us   p99 {us('99%'):6.0f} us   "
      f"{rps:8.0f} requests/s   "
      f"server CPU {(c1 - c0) / n * 1e6:4.1f} us/request   load {l0} -> {l1}" + ("   " + "; ".join(errors) if errors else ""))
PY
done
kill $SERVER
wait $SERVER 2>/dev/null || true
