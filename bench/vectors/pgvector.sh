#!/usr/bin/env bash
# The pgvector comparison (issue 17), one run, same data and index settings (HNSW m 16,
# ef_construction 64, ef_search 64):
#   1. VectorBench pgvector: mlinfra's collection path (PgVectorStore.query, what `mlinfra vectors
#      query` and the HTTP API call) against pgvector_ref.py (psycopg, plain SQL) on one private
#      PostgreSQL 16 + pgvector server (the pgserver wheel, started by MLInfraTesting);
#   2. mlinfra's local index (VectorBench) and hnswlib (ann_ref.py --only hnswlib), for build time.
#
#   bash bench/vectors/pgvector.sh [--build-threads 2]
#
# Needs /tmp/peers-data/vectors (gen_data.py --only vectors), psycopg + numpy in $CI_PYTHON
# (default /tmp/mlinfra-ci-venv/bin/python) and hnswlib + numpy in /tmp/peers-venv.
# Set VECTOR_BENCH to a prebuilt binary to skip the release build.
set -euo pipefail
source "$(dirname "$0")/common.sh"
ci_python="${CI_PYTHON:-/tmp/mlinfra-ci-venv/bin/python}"
threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --build-threads) threads="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
start_bench vector-pgvector-bench
MLINFRA_TEST_PYTHON="$ci_python" "$bench" pgvector --data /tmp/peers-data/vectors --m 16 --ef-construction 64 --ef 64 \
  --python "$ci_python" --peer "$peers/pgvector_ref.py" | tee "$out"
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$bench" --data /tmp/peers-data/vectors --m 16 --ef-construction 64 --efs 64 --k 10 --build-threads "$threads" | tee -a "$out"
/tmp/peers-venv/bin/python "$peers/ann_ref.py" --data /tmp/peers-data --M 16 --ef-construction 64 --efs 64 --k 10 \
  --build-threads "$threads" --only hnswlib | tee -a "$out"
echo "# $(date -u +%FT%TZ) load=$(cut -d' ' -f1-3 /proc/loadavg); results in $out" >&2
