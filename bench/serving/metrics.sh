#!/usr/bin/env bash
# The cost of recording one request in the router's metrics, before and after swift-prometheus:
# the RequestMetrics of commit 4f4ccc1 (hand-written exposition) and the current one, compiled
# side by side with -O in a scratch package, each timed over the same requests on 1 and 2 threads.
# Usage: bash bench/serving/metrics.sh [requests]   (run from the repository root)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Sources/Bench"
cat > "$work/Package.swift" <<'SWIFT'
// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "Bench", platforms: [.macOS(.v15)],
    dependencies: [.package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1")],
    targets: [.executableTarget(name: "Bench", dependencies: [.product(name: "Prometheus", package: "swift-prometheus")])])
SWIFT
# The old class, renamed; its `label` escaper is what the old call sites used to build label text.
git -C "$root" show 4f4ccc1:Sources/ModelServing/Metrics/LatencyHistogram.swift \
  | sed 's/class RequestMetrics/class OldRequestMetrics/; s/RequestMetrics\.buckets/OldRequestMetrics.buckets/g' > "$work/Sources/Bench/Old.swift"
cp "$root/Sources/ModelServing/Metrics/RequestMetrics.swift" "$work/Sources/Bench/New.swift"
cat > "$work/Sources/Bench/main.swift" <<'SWIFT'
import Foundation
let n = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 2_000_000
let versions = ["fraud/1", "fraud/2"]
let seconds = (0..<1024).map { _ in Double.random(in: 0.0001...0.02) }

/// Nanoseconds per recorded request, `threads` threads each recording n / threads.
func time(threads: Int, _ record: @escaping @Sendable (Int) -> Void) -> Double {
    let group = DispatchGroup()
    let start = DispatchTime.now().uptimeNanoseconds
    for t in 0..<threads {
        group.enter()
        Thread { for i in stride(from: t, to: n, by: threads) { record(i) }; group.leave() }.start()
    }
    group.wait()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(n)
}

let old = OldRequestMetrics(prefix: "mlinfra_router")
let endpointLabel = "endpoint=\"\(OldRequestMetrics.label("fraud"))\","
let versionLabels = versions.map { "version=\"\(OldRequestMetrics.label($0))\"" }
let new = RequestMetrics(prefix: "mlinfra_router", labels: [("endpoint", "fraud")])
for threads in [1, 2] {
    for round in 1...3 {
        let a = time(threads: threads) { i in
            old.enter()
            old.observe(labels: endpointLabel + versionLabels[i & 1], seconds: seconds[i & 1023], failed: false)
            old.leave()
        }
        let b = time(threads: threads) { i in
            new.enter()
            new.observe(version: versions[i & 1], seconds: seconds[i & 1023], failed: false)
            new.leave()
        }
        print(String(format: "threads %d round %d: before %.1f ns/request, after %.1f ns/request", threads, round, a, b))
    }
}
SWIFT
(cd "$work" && swift build -c release -q > build.log 2>&1) || { cat "$work/build.log"; exit 1; }
"$work/.build/release/Bench" "${1:-2000000}"
