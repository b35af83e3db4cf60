#!/usr/bin/env bash
# Builds the spec-loader fuzzer with libFuzzer + AddressSanitizer and runs it.
# Usage: Fuzz/build.sh [SECONDS]   (from the repository root; default 300 seconds)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${FUZZ_OUT:-/tmp/mlinfra-fuzz}
core=${MLINFRA_CORE:-$root/Sources/MLInfraCore}   # the MLInfraCore sources to build
mkdir -p "$out/corpus" "$out/artifacts"
# 1. MLInfraCore as a static library, instrumented for coverage and ASan.
swiftc -sanitize=fuzzer,address -parse-as-library -g -O -module-name MLInfraCore \
    -emit-module -emit-module-path "$out/MLInfraCore.swiftmodule" -emit-library -static \
    -I "$root/Sources/CYAML" $(find -L "$core" -name '*.swift') -o "$out/libMLInfraCore.a"
# 2. The fuzz entry point; libFuzzer supplies main.
swiftc -sanitize=fuzzer,address -parse-as-library -g -O -D FUZZING -I "$out" -I "$root/Sources/CYAML" \
    "$root/Fuzz/SpecLoaderFuzz/SpecLoaderFuzz.swift" "$out/libMLInfraCore.a" -lyaml -o "$out/spec-loader-fuzz"
# 3. Run: new inputs go to $out/corpus, the seeds stay read-only; crashes land in $out/artifacts.
SWIFT_BACKTRACE=enable=no "$out/spec-loader-fuzz" -dict="$root/Fuzz/yaml.dict" -max_total_time="${1:-300}" \
    -timeout=5 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
    "$out/corpus" "$root/Fuzz/corpus"
