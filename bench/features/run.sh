#!/usr/bin/env bash
# Feature store benchmark: mlinfra's engine against Feast 0.67, same data, same run.
#   bash bench/features/run.sh [ENTITIES=25000] [ENTITY_ROWS=100000]
# Needs the peer venv (/tmp/peers-venv, shared/peers/setup.sh --locked) and wrk for the HTTP part.
# Writes JSON lines to $OUT/results.jsonl and peak-memory lines from /usr/bin/time -v.
# Only the online latencies (in process and HTTP, with load average and CPU time): bench/features/online.sh.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PEERS="${PEERS_DIR:-$HERE/../../../shared/peers}"
PY="${PY:-/tmp/peers-venv/bin/python}"
ENTITIES="${1:-25000}"
ENTITY_ROWS="${2:-100000}"
DATA="${DATA:-/tmp/fs-bench/data}"
OUT="${OUT:-/tmp/fs-bench/out}"
mkdir -p "$DATA" "$OUT"
RES="$OUT/results.jsonl"
: > "$RES"

if [ ! -f "$DATA/features/meta.json" ]; then
  "$PY" "$PEERS/gen_data.py" "$DATA" --only features --entities "$ENTITIES" --entity-rows "$ENTITY_ROWS" | tee -a "$RES"
fi
TTL=$("$PY" -c "import json;print(json.load(open('$DATA/features/meta.json'))['ttl_seconds_designed_for'])")

(cd "$HERE/../.." && swift build -c release --product fsbench >/dev/null)
BIN="$HERE/../../.build/release/fsbench"
STORE="$OUT/store"
rm -rf "$STORE"
"$BIN" setup "$STORE" "$DATA/features/customer_features.csv" "$TTL" | tee -a "$RES"

peak() { grep "Maximum resident" "$1" | awk -v t="$2" '{print "{\"tool\": \"" t "\", \"step\": \"peak_rss_kb\", \"value\": " $NF "}"}' | tee -a "$RES"; }

# Historical retrieval: ours (CSV in, CSV out) and Feast (parquet in, DataFrame out), each in its own process.
for i in 1 2 3; do
  /usr/bin/time -v "$BIN" historical "$STORE" "$DATA/features/entity_df.csv" "$OUT/historical.csv" 2> "$OUT/time_ours.txt" | tee -a "$RES"
  peak "$OUT/time_ours.txt" mlinfra
done
"$PY" "$HERE/check_oracle.py" "$DATA" "$OUT/historical.csv" | tee -a "$RES"
/usr/bin/time -v "$PY" "$HERE/feast_bench.py" historical "$DATA" "$OUT/feast-repo" 2> "$OUT/time_feast.txt" | tee -a "$RES"
peak "$OUT/time_feast.txt" feast

# Online, in process.
"$BIN" online "$STORE" 20000 | tee -a "$RES"
"$PY" "$HERE/feast_bench.py" online "$DATA" "$OUT/feast-repo-online" 2000 | tee -a "$RES"

# Online over HTTP: 8 concurrent connections (wrk shares the two cores with the server).
PORT=$("$PY" -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
"$BIN" serve "$STORE" "$PORT" > "$OUT/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q serving "$OUT/serve.log" && break; sleep 0.2; done
wrk -t2 -c8 -d3s -s "$HERE/post.lua" "http://127.0.0.1:$PORT" > /dev/null
wrk -t2 -c8 -d15s --latency -s "$HERE/post.lua" "http://127.0.0.1:$PORT" | tee "$OUT/wrk.txt"
kill $SERVER
echo "results: $RES"
