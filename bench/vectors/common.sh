# Sourced by the vector benchmarks (run.sh, pgvector.sh): where things are, and `start_bench NAME`,
# which sets `bench` to a release VectorBench (VECTOR_BENCH skips the build) and `out` to the
# results file (BENCH_OUT, else /tmp/NAME-<time>.jsonl), and prints the run's header.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
peers="${PEERS_DIR:-$root/../shared/peers}"
[ -d "$peers" ] || peers=/work/shared/peers

start_bench() {
  bench="${VECTOR_BENCH:-}"
  if [ -z "$bench" ]; then
    (cd "$root" && swift build -c release --product VectorBench >&2)
    bench="$root/.build/release/VectorBench"
  fi
  out="${BENCH_OUT:-/tmp/$1-$(date +%s).jsonl}"
  echo "# $(date -u +%FT%TZ) nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)" >&2
}
