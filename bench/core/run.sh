#!/usr/bin/env bash
# Core benchmarks (issue 2): whole-process plan/apply times with the test `disk` provider.
# usage: bash bench/core/run.sh [BUILD_DIR]   (default: builds mlinfra-dev in release here)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BIN="${1:-}"
if [ -z "$BIN" ]; then
  (cd "$ROOT" && swift build -c release --product mlinfra-dev >/dev/null)
  BIN="$ROOT/.build/release/mlinfra-dev"
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
WORK="$(mktemp -d /tmp/mlinfra-bench-core.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
# timeit CMD…: prints "WALL CPU" seconds (CPU = user + system of the whole process).
timeit() {
  /usr/bin/time -f "%e %U %S" -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$WORK/time"
}

# best_plan DIR: applies the spec in DIR, then prints the best "WALL CPU" of three plans with nothing to change.
best_plan() {
  (cd "$1" && timeit "$BIN" apply --auto-approve --parallelism 10 >/dev/null)
  local best="" t
  for r in 1 2 3; do
    t=$(cd "$1" && timeit "$BIN" plan --detailed-exitcode)
    best=$(python3 -c "a='$t'.split(); b='${best:-1e9 1e9}'.split(); print(' '.join(a if float(a[0]) < float(b[0]) else b))")
  done
  echo "$best"
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(date -u +%Y-%m-%dT%H:%MZ)"
for n in ${SIZES:-10000 100000}; do
  d="$WORK/plan$n"; mkdir -p "$d"; python3 "$ROOT/bench/core/gen_spec.py" $n 0s echo > "$d/main.yaml"
  echo "plan, nothing to change, $n resources, whole process (best of 3): wall/cpu $(best_plan "$d") s"
done
# The same 10,000 resources spread over 100 calls of one module (issue 22): the same bar.
d="$WORK/modules10k"; mkdir -p "$d"; python3 "$ROOT/bench/core/gen_modules.py" "$d" 10000 100 0s echo
echo "plan, nothing to change, 10000 resources in 100 module calls, whole process (best of 3): wall/cpu $(best_plan "$d") s"
[ "${MODULES_ONLY:-}" = 1 ] && exit 0
d="$WORK/apply10k"; mkdir -p "$d"; python3 "$ROOT/bench/core/gen_spec.py" 10000 0s echo > "$d/main.yaml"
t=$(cd "$d" && timeit "$BIN" apply --auto-approve --parallelism 10)
echo "apply creating 10000 resources, zero-latency provider: wall/cpu ${t} s"
d="$WORK/apply1k"; mkdir -p "$d"; python3 "$ROOT/bench/core/gen_spec.py" 1000 50ms disk | sed 's/, ref: "[^"]*"//' > "$d/main.yaml"
t=$(cd "$d" && timeit "$BIN" apply --auto-approve --parallelism 10)
w=${t%% *}
echo "apply creating 1000 independent resources, 50 ms per apply call, parallelism 10: wall/cpu ${t} s (ideal 5.0 s, ratio $(python3 -c "print(f'{$w/5.0:.3f}')"))"
