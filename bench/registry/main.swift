// Registry benchmark: register N versions (hashing and storing each artifact) and move an
// alias N times through the ModelRegistry engine; prints one JSON line with p50/p99 per op.
//
// usage: registry-bench [--versions N] [--artifact PATH] [--durability synced|os] [--root DIR]
//                       [--postgres URL [--schema S] [--artifacts postgres|files] [--synchronous-commit on|off]]
// With --postgres the records (and, by default, the artifacts) are in that PostgreSQL database;
// the URL may also come from MLINFRA_BENCH_PG_URL, so it need not be on the command line.
import EnginePostgres
import Foundation
import ModelRegistry

var versions = 1000
var artifactPath: String? = nil
var durability = ArtifactDurability.synced
var root = FileManager.default.temporaryDirectory.appendingPathComponent("registry-bench-\(getpid())")
var postgres = ProcessInfo.processInfo.environment["MLINFRA_BENCH_PG_URL"]
var schema = "registry_bench_\(getpid())"
var artifactsInPostgres = true
var waitsForDisk = true
func usage(_ problem: String) -> Never {
    FileHandle.standardError.write(Data("registry-bench: \(problem)\nusage: registry-bench [--versions N] [--artifact PATH] [--durability synced|os] [--root DIR] [--postgres URL [--schema S] [--artifacts postgres|files] [--synchronous-commit on|off]]\n".utf8))
    exit(2)
}
var args = CommandLine.arguments.dropFirst()
while let flag = args.popFirst() {
    guard let value = args.popFirst() else { usage("\(flag) needs a value") }
    switch flag {
    case "--versions":
        guard let n = Int(value), n > 1 else { usage("--versions takes a number above 1") }
        versions = n
    case "--artifact": artifactPath = value
    case "--durability": durability = value == "os" ? .osBuffered : .synced
    case "--root": root = URL(fileURLWithPath: value)
    case "--postgres": postgres = value
    case "--schema": schema = value
    case "--artifacts": artifactsInPostgres = value == "postgres"
    case "--synchronous-commit": waitsForDisk = value != "off"
    default: usage("unknown flag \(flag)")
    }
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let sorted = xs.sorted()
    return sorted[min(sorted.count - 1, Int((p / 100) * Double(sorted.count - 1)))]
}
func ms(_ seconds: Double) -> Double { (seconds * 1e6).rounded() / 1e3 }
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

try? FileManager.default.removeItem(at: root)
try FileManager.default.createDirectory(at: root.appendingPathComponent("inputs"), withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(at: root) }

// Distinct artifact content per version (the base artifact plus a suffix), prepared before timing,
// so every registration hashes and stores new bytes.
let base = try artifactPath.map { try Data(contentsOf: URL(fileURLWithPath: $0)) }
    ?? Data(#"{"format": "linear-json", "version": 1, "weights": [0.031, 0.0042, -0.0011], "intercept": -3.2, "link": "logistic"}"#.utf8)
var inputs: [URL] = []
for i in 0..<versions {
    let url = root.appendingPathComponent("inputs/model-\(i).json")
    try (base + Data("\n// \(i)\n".utf8)).write(to: url)
    inputs.append(url)
}

var location = RegistryLocation(directory: root.appendingPathComponent("registry"))
if let postgres {
    location.records = .postgres(try PostgresURL(parsing: postgres), schema: schema)
    if !artifactsInPostgres { location.artifactDirectory = root.appendingPathComponent("registry/artifacts") }
    location.waitsForDisk = waitsForDisk
}
let registry = try ModelRegistry(location: location, durability: durability)
let context = ChangeContext(actor: "bench", origin: .apply, planID: "bench")
try registry.createModel("churn-xgb", description: "benchmark model", context: context)

var registerTimes: [Double] = []
for (i, url) in inputs.enumerated() {
    let t = now()
    _ = try registry.register(
        RegistrationRequest(model: "churn-xgb", artifact: url, format: "xgboost-json", tags: ["i": "\(i)"]), context: context)
    registerTimes.append(now() - t)
}

var aliasTimes: [Double] = []
for v in 1...versions {
    let t = now()
    try registry.setAlias("churn-xgb", "champion", version: v, context: context)
    aliasTimes.append(now() - t)
}

var resolveTimes: [Double] = []
for _ in 0..<100 {
    let t = now()
    _ = try registry.resolve("models:/churn-xgb@champion")
    resolveTimes.append(now() - t)
}

let result: [String: Any] = [
    "tool": "mlinfra-registry",
    "records": postgres == nil ? "sqlite" : "postgres",
    "artifacts": postgres != nil && artifactsInPostgres ? "postgres" : "files",
    "synchronous_commit": postgres == nil ? "n/a" : waitsForDisk ? "on" : "off",
    "versions": versions,
    "artifact_bytes": base.count,
    "durability": durability == .synced ? "synced" : "os",
    "create_model_version_p50_ms": ms(percentile(registerTimes, 50)),
    "create_model_version_p99_ms": ms(percentile(registerTimes, 99)),
    "create_model_version_total_s": (registerTimes.reduce(0, +) * 1000).rounded() / 1000,
    "set_alias_p50_ms": ms(percentile(aliasTimes, 50)),
    "set_alias_p99_ms": ms(percentile(aliasTimes, 99)),
    "resolve_alias_verified_p50_ms": ms(percentile(resolveTimes, 50)),
    "version_numbers_are_1_to_n": try registry.versions(of: "churn-xgb").map(\.version) == Array(1...versions),
    "alias_resolves_to": try registry.resolve("models:/churn-xgb@champion").version,
    "audit_entries": try registry.history(of: "churn-xgb").count,
]
let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
print(String(decoding: json, as: UTF8.self))
