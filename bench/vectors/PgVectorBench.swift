import Foundation
import MLInfraTesting
import VectorIndex

/// `VectorBench pgvector`: the collection path (`PgVectorStore`, what `mlinfra vectors query`
/// and the HTTP API call) against the same SQL sent by psycopg (shared/peers/pgvector_ref.py),
/// on one private PostgreSQL server with pgvector, the same data and the same index settings.
///
///     VectorBench pgvector [--data /tmp/peers-data/vectors] [--m 16] [--ef-construction 64] [--ef 64]
///         [--python /tmp/mlinfra-ci-venv/bin/python] [--peer ../shared/peers/pgvector_ref.py]
enum PgVectorBench {
    static func run() async throws {
        let dir = option("--data", "/tmp/peers-data/vectors")
        let m = Int(option("--m", "16"))!
        let efConstruction = Int(option("--ef-construction", "64"))!
        let ef = Int(option("--ef", "64"))!
        let python = option("--python", "/tmp/mlinfra-ci-venv/bin/python")
        let peer = option("--peer", "/work/shared/peers/pgvector_ref.py")
        let base = try readVectors(dir + "/base.fvecs")
        let queries = try readVectors(dir + "/query.fvecs")
        let truth = try readInts(dir + "/gt.ivecs")
        let server = try await PostgresTestServer.startWithPgvector()
        defer { server.stop() }
        try await server.createDatabase("bench")
        let store = try PgVectorStore(configuration: server.configuration(database: "bench"), schema: "bench", location: "bench server")
        let common: [String: Any] = ["n": base.count, "dim": base[0].count, "queries": queries.count, "k": 10, "server": server.version]

        var t = now()
        try await store.ensureCollection("items", config: CollectionConfig(dimension: base[0].count, hnsw: nil))
        try await store.upsert("items", base.enumerated().map { VectorRecord(id: String($0.offset), vector: $0.element) })
        let load = now() - t
        t = now()
        let hnsw = HNSWParameters(m: m, efConstruction: efConstruction, efSearch: ef)
        try await store.ensureCollection("items", config: CollectionConfig(dimension: base[0].count, hnsw: hnsw))
        let build = now() - t
        let version = try await store.pgvectorVersion() ?? "?"

        func pass(_ label: String) async throws {
            var hits = 0
            var latencies: [Double] = []
            for (i, q) in queries.enumerated() {
                let s = now()
                let found = try await store.query("items", q, k: 10, ef: nil, where: nil)
                latencies.append(now() - s)
                let want = Set(truth[i].prefix(10))
                hits += found.matches.filter { want.contains(Int($0.id)!) }.count
            }
            let total = latencies.reduce(0, +)
            latencies.sort()
            emit(common.merging([
                "tool": "mlinfra PgVectorStore.query", "pass": label, "pgvector": version, "M": m, "ef_construction": efConstruction, "ef": ef,
                "load_s": (load * 10).rounded() / 10, "build_s": (build * 10).rounded() / 10, "build": "CREATE INDEX CONCURRENTLY",
                "qps_1conn": (Double(queries.count) / total).rounded(), "lat_p50_ms": latencies[latencies.count / 2] * 1e3,
                "lat_p99_ms": latencies[latencies.count * 99 / 100] * 1e3, "recall@10": Double(hits) / Double(10 * queries.count),
            ]) { a, _ in a })
        }
        try await pass("before peer")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            peer, "--port", String(server.port), "--user", server.username, "--data", (dir as NSString).deletingLastPathComponent,
            "--m", String(m), "--ef-construction", String(efConstruction), "--efs", String(ef),
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(["PGPASSWORD": server.password]) { _, new in new }
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        FileHandle.standardOutput.write(output)
        guard process.terminationStatus == 0 else {
            FileHandle.standardError.write(Data("pgvector_ref.py exited with \(process.terminationStatus)\n".utf8))
            exit(1)
        }
        try await pass("after peer")
        await store.close()
    }
}
