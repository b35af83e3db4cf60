#!/usr/bin/env bash
# Runs the VectorIndex benchmark and the hnswlib / faiss reference (shared/peers/ann_ref.py)
# in the same run, on the same data, with the same parameters, single-threaded.
#
#   bash bench/vectors/run.sh [--build-threads 1] [--efs 16,32,64,128]
#
# Needs /tmp/peers-venv and /tmp/peers-data/vectors (shared/peers/setup.sh --locked; gen_data.py).
# Set VECTOR_BENCH to a prebuilt binary to skip the release build.
set -euo pipefail
source "$(dirname "$0")/common.sh"
python=/tmp/peers-venv/bin/python
efs=16,32,64,128
threads=1
while [ $# -gt 0 ]; do
  case "$1" in
    --efs) efs="$2"; shift 2 ;;
    --build-threads) threads="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
start_bench vector-bench
"$bench" --data /tmp/peers-data/vectors --m 16 --ef-construction 200 --efs "$efs" --k 10 --build-threads "$threads" | tee "$out"
"$python" "$peers/ann_ref.py" --data /tmp/peers-data --M 16 --ef-construction 200 --efs "$efs" --k 10 --build-threads "$threads" | tee -a "$out"
# The same peers timed in CPU seconds (single-threaded), comparable with our qps_cpu / build_cpu_s.
"$python" "$(dirname "$0")/peer_cpu.py" --data /tmp/peers-data --M 16 --ef-construction 200 --efs "$efs" --k 10 | tee -a "$out"
echo "# results in $out" >&2
