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

# Historical retrieval: ours (CSV in, CSV out) and Feast (parquet in, DataFrame out), each in its own
# process, taken in turns (ours, Feast, ours, …) so both see the same state of the machine; RUNS each.
# Each tool's input files (and our binary, whose code is paged in inside the timed call, while Feast
# imports its libraries before its timer starts) are read once right before its timed run, so both
# start from the page cache: this VM gives idle page cache back within seconds (20 s idle left 46 of
# the CSV's 70 MB cached).
RUNS="${RUNS:-3}"
warm() { cat "$@" > /dev/null; }
for i in $(seq "$RUNS"); do
  warm "$BIN" "$DATA/features/customer_features.csv" "$DATA/features/entity_df.csv"
  /usr/bin/time -v "$BIN" historical "$STORE" "$DATA/features/entity_df.csv" "$OUT/historical.csv" 2> "$OUT/time_ours.txt" | tee -a "$RES"
  peak "$OUT/time_ours.txt" mlinfra
  warm "$DATA/features/customer_features.parquet" "$DATA/features/entity_df.parquet"
  /usr/bin/time -v "$PY" "$HERE/feast_bench.py" historical "$DATA" "$OUT/feast-repo" 2> "$OUT/time_feast.txt" | grep '"step"' | tee -a "$RES"
  peak "$OUT/time_feast.txt" feast
done
"$PY" "$HERE/check_oracle.py" "$DATA" "$OUT/historical.csv" | tee -a "$RES"
python3 - "$RES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
ours = [r["seconds"] for r in rows if r.get("step") == "historical" and "tool" not in r]
feast = [r["seconds"] for r in rows if r.get("step") == "historical" and r.get("tool") == "feast"]
ours_rss = max(r["value"] for r in rows if r.get("step") == "peak_rss_kb" and r["tool"] == "mlinfra")
feast_rss = max(r["value"] for r in rows if r.get("step") == "peak_rss_kb" and r["tool"] == "feast")
mo, mf = statistics.median(ours), statistics.median(feast)
print(f"historical: mlinfra {' / '.join(f'{x:.3f}' for x in ours)} s (median {mo:.3f}), "
      f"Feast {' / '.join(f'{x:.2f}' for x in feast)} s (median {mf:.2f}): {mf / mo:.1f}x faster (medians), "
      f"{min(f / o for o, f in zip(ours, feast)):.1f}x in the worst pair; peak RSS {ours_rss / 1024:.0f} MB vs {feast_rss / 1024:.0f} MB")
PY

# Online, in process.
"$BIN" online "$STORE" 20000 | tee -a "$RES"
"$PY" "$HERE/feast_bench.py" online "$DATA" "$OUT/feast-repo-online" 2000 | tee -a "$RES"

# Online over HTTP: 8 concurrent connections; the server on one event loop and wrk on one thread, so
# each has a core (as in online.sh, which reports several runs with the server's CPU per request).
PORT=$("$PY" -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));print(s.getsockname()[1])")
FSBENCH_LOOPS=1 "$BIN" serve "$STORE" "$PORT" > "$OUT/serve.log" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q serving "$OUT/serve.log" && break; sleep 0.2; done
wrk -t1 -c8 -d3s -s "$HERE/post.lua" "http://127.0.0.1:$PORT" > /dev/null
wrk -t1 -c8 -d15s --latency -s "$HERE/post.lua" "http://127.0.0.1:$PORT" | tee "$OUT/wrk.txt"
kill $SERVER
echo "results: $RES"
