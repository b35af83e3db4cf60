// Benchmark of the VectorIndex engine on the peers' data (fvecs/ivecs), one JSON line per figure.
//
//   swift build -c release --product VectorBench
//   .build/release/VectorBench [--data /tmp/peers-data/vectors] [--m 16] [--ef-construction 200]
//       [--efs 16,32,64,128] [--k 10] [--build-threads 1] [--limit N]
//
// `run.sh` beside this file runs it and the hnswlib/faiss reference in the same run;
// `VectorBench pgvector` (PgVectorBench.swift, `pgvector.sh`) the pgvector comparison.
import Foundation
import MLInfraJSON
import VectorIndex

func readVectors(_ path: String, limit: Int? = nil) throws -> [[Float]] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    var out: [[Float]] = []
    data.withUnsafeBytes { raw in
        var offset = 0
        while offset + 4 <= raw.count {
            let dim = Int(raw.loadUnaligned(fromByteOffset: offset, as: Int32.self))
            offset += 4
            var row = [Float](repeating: 0, count: dim)
            for i in 0..<dim { row[i] = raw.loadUnaligned(fromByteOffset: offset + 4 * i, as: Float.self) }
            offset += 4 * dim
            out.append(row)
            if let limit, out.count >= limit { break }
        }
    }
    return out
}

func readInts(_ path: String) throws -> [[Int]] {
    try readVectors(path).map { row in row.map { Int($0.bitPattern) } }
}

func option(_ name: String, _ fallback: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
    return fallback
}

func emit(_ fields: [String: Any]) {
    let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
    FileHandle.standardOutput.write(data + Data("\n".utf8))
}

func now() -> Double { Date().timeIntervalSince1970 }

/// CPU seconds used by this process: with other work on the machine, the wall clock
/// overstates a single-threaded run; both are reported.
func cpu() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

if CommandLine.arguments.dropFirst().first == "pgvector" {
    try await PgVectorBench.run()
    exit(0)
}

let dir = option("--data", "/tmp/peers-data/vectors")
let m = Int(option("--m", "16"))!
let efConstruction = Int(option("--ef-construction", "200"))!
let efs = option("--efs", "16,32,64,128").split(separator: ",").map { Int($0)! }
let k = Int(option("--k", "10"))!
let threads = Int(option("--build-threads", "1"))!
let limit = Int(option("--limit", "0"))!

let base = try readVectors(dir + "/base.fvecs", limit: limit > 0 ? limit : nil)
let queries = try readVectors(dir + "/query.fvecs")
let records = base.enumerated().map { VectorRecord(id: String($0.offset), vector: $0.element) }

func recall(_ results: [[String]]) -> Double {
    var total = 0.0
    for (r, g) in zip(results, truth) {
        let want = Set(g.prefix(k).map(String.init))
        total += Double(r.prefix(k).filter { want.contains($0) }.count) / Double(k)
    }
    return total / Double(results.count)
}

let common: [String: Any] = ["n": base.count, "dim": base[0].count, "queries": queries.count, "k": k]
let config = CollectionConfig(dimension: base[0].count, metric: .l2, hnsw: HNSWParameters(m: m, efConstruction: efConstruction, efSearch: 64))
let collection = try VectorCollection(name: "bench", config: config, buildThreads: threads)
var t = now()
var c = cpu()
try collection.upsert(records)
let build = now() - t
let buildCPU = cpu() - c
// With --limit the peers' ground truth (for all 100k) does not apply: use our exact scan's.
let truth: [[Int]] = limit > 0
    ? try collection.exactSearch(queries, k: k).map { $0.map { Int($0.id)! } }
    : try readInts(dir + "/gt.ivecs")
for ef in efs {
    t = now()
    c = cpu()
    var ids: [[String]] = []
    for q in queries { ids.append(try collection.query(q, k: k, ef: max(ef, k)).matches.map(\.id)) }
    let elapsed = now() - t
    let elapsedCPU = cpu() - c
    var lat: [Double] = []
    for q in queries.prefix(300) {
        let s = now()
        _ = try collection.query(q, k: k, ef: max(ef, k))
        lat.append((now() - s) * 1e3)
    }
    lat.sort()
    emit(common.merging([
        "tool": "mlinfra", "index": "HNSW", "M": m, "ef_construction": efConstruction, "build_threads": threads,
        "build_s": (build * 100).rounded() / 100, "build_cpu_s": (buildCPU * 100).rounded() / 100, "ef": ef,
        "qps_1thread": (Double(queries.count) / elapsed).rounded(), "qps_cpu": (Double(queries.count) / elapsedCPU).rounded(),
        "lat_p50_ms": lat[lat.count / 2], "lat_p99_ms": lat[lat.count * 99 / 100], "recall@\(k)": recall(ids),
    ]) { a, _ in a })
}
t = now()
c = cpu()
let exact = try collection.exactSearch(queries, k: k)
let exactElapsed = now() - t
let exactCPU = cpu() - c
var exactLat: [Double] = []
for q in queries.prefix(100) {
    let s = now()
    _ = try collection.exactSearch([q], k: k)
    exactLat.append((now() - s) * 1e3)
}
exactLat.sort()
emit(common.merging([
    "tool": "mlinfra", "index": "exact (blocked scan)", "qps_1thread": (Double(queries.count) / exactElapsed).rounded(),
    "qps_cpu": (Double(queries.count) / exactCPU).rounded(),
    "lat_p50_ms": exactLat[exactLat.count / 2], "recall@\(k)": recall(exact.map { $0.map(\.id) }),
]) { a, _ in a })
