#!/usr/bin/env bash
# Registry benchmark, side by side in one run: MLflow's registry on its SQLite backend
# (../shared/peers/mlflow_ref.py) vs mlinfra's ModelRegistry engine, 1,000 versions
# registered and an alias moved 1,000 times.
#
# usage: bench/registry/run.sh [VERSIONS]     (from the repository root)
# env:   PEERS_PYTHON (default /tmp/peers-venv/bin/python), PEERS_DIR (default ../shared/peers),
#        MLINFRA_BENCH_BIN (a prebuilt registry-bench; default: swift build -c release --product registry-bench)
set -euo pipefail
VERSIONS="${1:-1000}"
PY="${PEERS_PYTHON:-/tmp/peers-venv/bin/python}"
PEERS="${PEERS_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/peers}"
OUT="${BENCH_OUT:-bench/out/registry}"
mkdir -p "$OUT"

if [[ -z "${MLINFRA_BENCH_BIN:-}" ]]; then
  swift build -c release --product registry-bench >&2
  MLINFRA_BENCH_BIN="$(swift build -c release --show-bin-path)/registry-bench"
fi

XGB=/tmp/peers-data/xgb/model.json
echo "== mlinfra, small linear-json artifact, synced (default)" >&2
"$MLINFRA_BENCH_BIN" --versions "$VERSIONS" | tee "$OUT/mlinfra-small-synced.json"
echo "== mlinfra, small linear-json artifact, OS-buffered artifact writes" >&2
"$MLINFRA_BENCH_BIN" --versions "$VERSIONS" --durability os | tee "$OUT/mlinfra-small-os.json"
if [[ -f "$XGB" ]]; then
  echo "== mlinfra, the 1.3 MB xgboost model MLflow logs, synced" >&2
  "$MLINFRA_BENCH_BIN" --versions "$VERSIONS" --artifact "$XGB" | tee "$OUT/mlinfra-xgb-synced.json"
  echo "== mlinfra, the 1.3 MB xgboost model, OS-buffered" >&2
  "$MLINFRA_BENCH_BIN" --versions "$VERSIONS" --artifact "$XGB" --durability os | tee "$OUT/mlinfra-xgb-os.json"
fi
echo "== MLflow $("$PY" -c 'import mlflow; print(mlflow.__version__)') on sqlite" >&2
"$PY" "$PEERS/mlflow_ref.py" --versions "$VERSIONS" --root /tmp/peers-mlflow-bench | tee "$OUT/mlflow.json"
