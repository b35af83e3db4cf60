#!/usr/bin/env bash
# Online lookup latency only, in one command: in-process (fsbench online) and over HTTP (wrk, 8 connections).
#   bash bench/features/online.sh [LOOKUPS=20000] [WRK_SECONDS=15]
# FSBENCH_LOOPS=N: event loops of the server (default one per core); FSBENCH_NOW: the clock of the reads.
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

echo "== HTTP: POST /get-online-features, 1 entity x 3 features, wrk -t2 -c8 -d${SECS}s"
PORT=$(python3 -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
"$BIN" serve "$STORE" "$PORT" > "$OUT/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q serving "$OUT/serve.log" && break; sleep 0.1; done
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$SERVER/stat"; }
wrk -t2 -c8 -d3s -s "$HERE/post.lua" "http://127.0.0.1:$PORT" > /dev/null
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
C0=$(cpu)
wrk -t2 -c8 -d"${SECS}s" --latency -s "$HERE/post.lua" "http://127.0.0.1:$PORT" | tee "$OUT/wrk.txt" | grep -E "Latency|50%|75%|90%|99%|Requests/sec|requests in|Non-2xx|Socket errors"
C1=$(cpu)
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
python3 -c "
import re
t = open('$OUT/wrk.txt').read()
n = int(re.search(r'(\d+) requests in', t).group(1))
print(f'server CPU {float($C1) - float($C0):.2f} s for {n} requests = {(float($C1) - float($C0)) / n * 1e6:.0f} us/request')"
kill $SERVER
wait $SERVER 2>/dev/null || true
