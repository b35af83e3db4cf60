import FeatureStore
import Foundation
import Synchronization

/// fsbench: drives the engine for bench/features/run.sh and prints one JSON line per measurement.
///
///   fsbench setup STORE_DIR FEATURES_CSV TTL_SECONDS     store with the peer data's customer_stats view, materialized
///   fsbench historical STORE_DIR ENTITIES_CSV OUT_CSV    point-in-time join of the three features
///   fsbench online STORE_DIR LOOKUPS                     in-process p50/p99: 1 entity × 3 features, 100 entities,
///                                                        and 1 entity × 50 features (a synthetic wide view)
///   fsbench serve STORE_DIR PORT                         HTTP feature server on 127.0.0.1
///
/// FSBENCH_REDIS=redis://HOST:PORT/DB at `setup` puts the store's online values on that Redis server
/// (namespace FSBENCH_NAMESPACE, default fsbench); later steps open the store as saved, so they read there.

let args = CommandLine.arguments
func emit(_ pairs: KeyValuePairs<String, Any>) {
    var dict: [String: Any] = [:]
    for (k, v) in pairs { dict[k] = v }
    let data = try! JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
    fflush(nil)
}
func percentile(_ values: [Double], _ p: Double) -> Double {
    let s = values.sorted()
    let k = max(0, min(s.count - 1, Int((p / 100 * Double(s.count) + 0.5).rounded()) - 1))
    return s[k]
}
func usage() -> Never {
    FileHandle.standardError.write(Data("usage: fsbench setup|historical|online|serve …\n".utf8))
    exit(2)
}
guard args.count >= 3 else { usage() }
let features = ["total_spend", "txn_count", "avg_basket"]
/// "Now" for online reads: the end of the peer data (t0 + 30 days), so that values come back PRESENT
/// (or OUTSIDE_MAX_AGE for entities idle longer than the 2-day ttl), as they would in production.
let benchNow = Timestamp.parse(ProcessInfo.processInfo.environment["FSBENCH_NOW"] ?? "2024-01-31T00:00:00Z")!
let refs = features.map { FeatureReference(view: "customer_stats", feature: $0) }

switch args[1] {
case "setup":
    let env = ProcessInfo.processInfo.environment
    let online = try env["FSBENCH_REDIS"].map { OnlineStoreSetting.redis(try RedisURL(parsing: $0), namespace: env["FSBENCH_NAMESPACE"] ?? "fsbench") }
    let store = try LocalFeatureStore(directory: args[2], online: online ?? .sqlite)
    try store.apply(Entity(name: "customer", joinKeys: ["customer_id"]))
    try store.apply(
        FeatureView(
            name: "customer_stats", entities: ["customer"],
            source: .csv(args[3], timestamp: "event_timestamp", createdTimestamp: "created_timestamp"),
            features: [Feature(name: "total_spend", type: .float64), Feature(name: "txn_count", type: .int64), Feature(name: "avg_basket", type: .float64)],
            ttlSeconds: Int64(args[4])!))
    // A wide view for the 50-feature lookup: 1,000 entities × 50 float features.
    let wide = args[2] + "/wide.csv"
    var text = "customer_id,event_timestamp," + (0..<50).map { "f\($0)" }.joined(separator: ",") + "\n"
    for id in 0..<1000 {
        text += "\(id),2024-01-01T00:00:00Z," + (0..<50).map { String(Double(id * 50 + $0) / 7) }.joined(separator: ",") + "\n"
    }
    _ = FileManager.default.createFile(atPath: wide, contents: Data(text.utf8))
    try store.apply(
        FeatureView(
            name: "wide", entities: ["customer"], source: .csv(wide), features: (0..<50).map { Feature(name: "f\($0)", type: .float64) }))
    for view in ["customer_stats", "wide"] {
        let t = Date()
        let m = try store.materialize(start: Timestamp.parse("2023-01-01")!, end: Timestamp.parse("2024-03-01")!, views: [view])
        emit([
            "step": view == "wide" ? "materialize_wide" : "materialize", "seconds": Date().timeIntervalSince(t),
            "entities": m.views.map(\.entities).reduce(0, +), "online": "\(store.onlineSetting)",
        ])
    }

case "historical":
    let store = try LocalFeatureStore(directory: args[2])
    let t = Date()
    // FSBENCH_PHASES=1: print when each phase of the retrieval starts (to stderr).
    let phases = ProcessInfo.processInfo.environment["FSBENCH_PHASES"] != nil
    let last = Mutex("")
    let s = try store.historical(HistoricalRequest(entitiesPath: args[3], features: refs, outputPath: args[4])) { phase, _ in
        guard phases, last.withLock({ previous in defer { previous = phase }; return previous != phase }) else { return }
        FileHandle.standardError.write(Data(String(format: "%7.3f s  %@\n", Date().timeIntervalSince(t), phase).utf8))
    }
    emit([
        "step": "historical", "seconds": Date().timeIntervalSince(t), "entity_rows": s.entityRows, "feature_rows": s.featureRows,
        "matched": s.matched["customer_stats"] ?? 0,
    ])

case "online":
    let store = try LocalFeatureStore(directory: args[2], clock: { benchNow })
    let lookups = Int(args[3]) ?? 10_000
    var rng = SystemRandomNumberGenerator()
    let ids = (0..<lookups).map { _ in Int64.random(in: 1000..<26_000, using: &rng) }
    func cpuSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
    // FSBENCH_STEPS=a,b: run only these steps (for profiling one of them).
    let only = ProcessInfo.processInfo.environment["FSBENCH_STEPS"].map { Set($0.split(separator: ",").map(String.init)) }
    func measure(_ label: String, reps: Int, _ body: (Int) throws -> Void) rethrows {
        if let only, !only.contains(label) { return }
        for i in 0..<min(200, reps) { try body(i) }
        var lat: [Double] = []
        lat.reserveCapacity(reps)
        let wall0 = DispatchTime.now().uptimeNanoseconds
        let cpu0 = cpuSeconds()
        for i in 0..<reps {
            let t = DispatchTime.now().uptimeNanoseconds
            try body(i)
            lat.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1000)
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - wall0) / 1e9
        emit([
            "step": label, "p50_us": percentile(lat, 50), "p99_us": percentile(lat, 99), "p999_us": percentile(lat, 99.9),
            "mean_us": lat.reduce(0, +) / Double(lat.count), "n": reps, "wall_s": wall, "cpu_s": cpuSeconds() - cpu0,
        ])
    }
    try measure("online_1x3", reps: lookups) { i in
        _ = try store.onlineFeatures(features: refs, entities: EntityKeys("customer_id", [.int(ids[i])]))
    }
    // The server's work for one request body, without the HTTP layer: parse, look up, encode.
    let bodies = ids.map { id in
        Data(#"{"features":["customer_stats:total_spend","customer_stats:txn_count","customer_stats:avg_basket"],"entities":{"customer_id":[\#(id)]}}"#.utf8)
    }
    measure("online_json_1x3", reps: lookups) { i in
        let (status, _) = OnlineJSON.handle(bodies[i], store: store)
        precondition(status == 200)
    }
    let wideRefs = (0..<50).map { FeatureReference(view: "wide", feature: "f\($0)") }
    try measure("online_1x50", reps: lookups) { i in
        _ = try store.onlineFeatures(features: wideRefs, entities: EntityKeys("customer_id", [.int(ids[i] % 1000)]))
    }
    try measure("online_100x3", reps: max(100, lookups / 20)) { i in
        let batch = (0..<100).map { j in FeatureValue.int(ids[(i * 100 + j) % ids.count]) }
        _ = try store.onlineFeatures(features: refs, entities: EntityKeys("customer_id", batch))
    }

case "serve":
    let store = try LocalFeatureStore(directory: args[2], clock: { benchNow })
    var server = FeatureServer(store: store)
    // FSBENCH_LOOPS: event loops of the listener (default one per core).
    server.eventLoops = ProcessInfo.processInfo.environment["FSBENCH_LOOPS"].flatMap { Int($0) }
    try await server.run(port: Int(args[3])!) { port in
        emit(["step": "serving", "port": port])
    }

default:
    usage()
}
