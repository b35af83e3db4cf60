import Foundation
import Logging
import MLInfraTesting
import NIOPosix
import PostgresNIO
import VectorIndex

/// `VectorBench pgvector`: the collection path (`PgVectorStore`, what `mlinfra vectors query`
/// and the HTTP API call) against the same SQL sent by psycopg (shared/peers/pgvector_ref.py),
/// on one private PostgreSQL server with pgvector, the same data and the same index settings.
///
///     VectorBench pgvector [--data /tmp/peers-data/vectors] [--m 16] [--ef-construction 64] [--ef 64]
///         [--python /tmp/mlinfra-ci-venv/bin/python] [--peer ../shared/peers/pgvector_ref.py] [--rounds N]
///
/// With `--rounds N` it instead interleaves mlinfra and psycopg (psycopg_query.py) on mlinfra's
/// table, 200 queries each per round, and reports the median ratio.
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
        /// Runs a Python peer script against the server; its exit status and standard output.
        func peerScript(_ arguments: [String]) throws -> (Int32, Data) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(["PGPASSWORD": server.password]) { _, new in new }
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, output)
        }
        /// `rounds` rounds on this table and index, each 200 queries by mlinfra and then the same 200
        /// by psycopg (bench/vectors/psycopg_query.py, the peer's loop), so both see the same load
        /// minute by minute; the ratio is taken per round and its median reported.
        func interleaved(rounds: Int) async throws {
            let count = 200
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("psycopg_query.py").path
            var ratios: [Double] = []
            for round in 0..<rounds {
                let start = (round * count) % max(queries.count - count, 1)
                var hits = 0
                var latencies: [Double] = []
                for i in start..<(start + count) {
                    let s = now()
                    let found = try await store.query("items", queries[i], k: 10, ef: nil, where: nil)
                    latencies.append(now() - s)
                    let want = Set(truth[i].prefix(10))
                    hits += found.matches.filter { want.contains(Int($0.id)!) }.count
                }
                let ours = Double(count) / latencies.reduce(0, +)
                let (status, output) = try peerScript([
                    script, "--port", String(server.port), "--user", server.username, "--dbname", "bench", "--table", "bench.items",
                    "--start", String(start), "--count", String(count), "--ef", String(ef), "--data", (dir as NSString).deletingLastPathComponent,
                ])
                guard status == 0,
                    let peer = try JSONSerialization.jsonObject(with: output) as? [String: Any], let theirs = peer["qps_1conn"] as? Double
                else {
                    FileHandle.standardError.write(Data("psycopg_query.py failed: \(String(decoding: output, as: UTF8.self))\n".utf8))
                    exit(1)
                }
                let ratio: Double = ours / theirs
                ratios.append(ratio)
                let load: String = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").first.map(String.init) ?? "?"
                var fields: [String: Any] = ["tool": "interleaved round", "round": round + 1, "queries": count]
                fields["mlinfra_qps"] = ours.rounded()
                fields["psycopg_qps"] = theirs
                fields["ratio"] = (ratio * 100).rounded() / 100
                fields["mlinfra_recall@10"] = Double(hits) / Double(10 * count)
                fields["psycopg_recall@10"] = peer["recall@10"] ?? 0
                fields["load"] = load
                emit(common.merging(fields) { _, own in own })
            }
            ratios.sort()
            var summary: [String: Any] = ["tool": "interleaved summary", "rounds": rounds, "pgvector": version]
            summary["ratio_median"] = (ratios[ratios.count / 2] * 100).rounded() / 100
            summary["ratio_min"] = (ratios[0] * 100).rounded() / 100
            summary["ratio_max"] = (ratios[ratios.count - 1] * 100).rounded() / 100
            summary["build_s"] = (build * 10).rounded() / 10
            emit(common.merging(summary) { _, own in own })
        }
        /// The peer's SQL (`SELECT id … ORDER BY embedding <-> q LIMIT 10`) sent by PostgresNIO
        /// alone, to tell the driver's cost from the collection path's.
        func driverPass(_ label: String) async throws {
            let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
            let connection = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: server.configuration(database: "bench"), id: 2, logger: logger)
            for try await _ in try await connection.query("SET hnsw.ef_search = \(unescaped: String(ef))", logger: logger) {}
            var hits = 0
            var latencies: [Double] = []
            for (i, q) in queries.enumerated() {
                let s = now()
                var ids: [Int] = []
                let text = PgVectorStore.vectorText(q)
                for try await row in try await connection.query(
                    "SELECT id FROM bench.items ORDER BY embedding <-> \(text)::vector LIMIT 10", logger: logger)
                {
                    ids.append(Int(try row.decode(String.self))!)
                }
                latencies.append(now() - s)
                let want = Set(truth[i].prefix(10))
                hits += ids.filter { want.contains($0) }.count
            }
            try await connection.close()
            let total = latencies.reduce(0, +)
            latencies.sort()
            let qps: Double = (Double(queries.count) / total).rounded()
            let p50: Double = latencies[latencies.count / 2] * 1e3
            let p99: Double = latencies[latencies.count * 99 / 100] * 1e3
            let recall: Double = Double(hits) / Double(10 * queries.count)
            let fields: [String: Any] = [
                "tool": "PostgresNIO, the peer's SQL", "pass": label, "ef": ef, "qps_1conn": qps, "lat_p50_ms": p50, "lat_p99_ms": p99,
                "recall@10": recall,
            ]
            emit(common.merging(fields) { a, _ in a })
        }
        let rounds = Int(option("--rounds", "0"))!
        if rounds > 0 {
            try await interleaved(rounds: rounds)
            await store.close()
            return
        }
        try await pass("before peer")
        try await driverPass("before peer")

        let (status, output) = try peerScript([
            peer, "--port", String(server.port), "--user", server.username, "--data", (dir as NSString).deletingLastPathComponent,
            "--m", String(m), "--ef-construction", String(efConstruction), "--efs", String(ef),
        ])
        FileHandle.standardOutput.write(output)
        guard status == 0 else {
            FileHandle.standardError.write(Data("pgvector_ref.py exited with \(status)\n".utf8))
            exit(1)
        }
        try await pass("after peer")
        try await driverPass("after peer")
        await store.close()
    }
}
