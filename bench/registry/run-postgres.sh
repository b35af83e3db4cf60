#!/usr/bin/env bash
# Registry on PostgreSQL, side by side in one run on one PostgreSQL server: mlinfra's
# ModelRegistry (records and artifact chunks in PostgreSQL; synchronous_commit on, the
# default, and off) vs MLflow's registry with its PostgreSQL backend store
# (../shared/peers/mlflow_ref.py --backend-uri). Each tool gets a fresh database.
#
# usage: bench/registry/run-postgres.sh HOST:PORT [VERSIONS] [MLFLOW_VERSIONS]   (from the repository root)
# env:   PGUSER (default mlinfra; the server must let it create databases without a password, e.g. a
#        private server with trust auth on 127.0.0.1), PEERS_PYTHON (a python with mlflow and psycopg 3),
#        PEERS_DIR (default ../shared/peers), MLINFRA_BENCH_BIN (default .build/release/registry-bench)
set -euo pipefail
SERVER="$1"; VERSIONS="${2:-1000}"; MLFLOW_VERSIONS="${3:-200}"
USER_NAME="${PGUSER:-mlinfra}"
PY="${PEERS_PYTHON:-/tmp/peers-venv/bin/python}"
PEERS="${PEERS_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/peers}"
BIN="${MLINFRA_BENCH_BIN:-.build/release/registry-bench}"
OUT="${BENCH_OUT:-bench/out/registry-postgres}"
mkdir -p "$OUT"
RUN="$(date +%s)"
createdb() {
  "$PY" -c "import psycopg,sys; c=psycopg.connect(sys.argv[1], autocommit=True); c.execute('CREATE DATABASE ' + sys.argv[2])" \
    "postgresql://$USER_NAME@$SERVER/postgres" "$1"
}
uptime >&2
createdb "mlinfra_$RUN"
echo "== mlinfra, synchronous_commit on (default)" >&2
MLINFRA_BENCH_PG_URL="postgres://$USER_NAME@$SERVER/mlinfra_$RUN?sslmode=disable" "$BIN" --versions "$VERSIONS" --schema bench_on \
  | tee "$OUT/mlinfra-on.json"
echo "== mlinfra, synchronous_commit off" >&2
MLINFRA_BENCH_PG_URL="postgres://$USER_NAME@$SERVER/mlinfra_$RUN?sslmode=disable" "$BIN" --versions "$VERSIONS" --schema bench_off \
  --synchronous-commit off | tee "$OUT/mlinfra-off.json"
createdb "mlflow_$RUN"
echo "== MLflow $("$PY" -c 'import mlflow; print(mlflow.__version__)') on PostgreSQL" >&2
"$PY" "$PEERS/mlflow_ref.py" --versions "$MLFLOW_VERSIONS" --root "/tmp/mlflow-pg-bench-$RUN" --data "/tmp/mlflow-pg-bench-$RUN-data" \
  --backend-uri "postgresql+psycopg://$USER_NAME@$SERVER/mlflow_$RUN" | tee "$OUT/mlflow.json"
uptime >&2
