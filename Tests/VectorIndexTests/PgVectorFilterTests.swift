import Foundation
import Logging
import MLInfraTesting
import PostgresNIO
import Testing
@testable import VectorIndex

/// Filtered queries on pgvector return `min(k, matches)` records with recall@10 ≥ 0.95 against
/// brute force over the matching records, at 50 %, 10 %, 1 % and 0.1 % selectivity; the same
/// filters sent as plain SQL with pgvector's default settings are measured beside them (and
/// printed, as `docs/benchmarks.md` records them), to show what the strategy is for. Each runs on
/// pgvector 0.6 (no iterative index scans) and 0.8 (with them), over HNSW and IVFFlat.
@Suite(.serialized) struct PgVectorFilterTests {
    static let count = 10_000
    static let dimension = 16

    /// Metadata that makes each selectivity with a different operator: a bool, a string, a number, a list.
    static func record(_ i: Int, _ vector: [Float]) -> VectorRecord {
        VectorRecord(id: "r\(i)", vector: vector, metadata: [
            "half": .bool(i % 2 == 0),
            "group": .string("g\(i % 10)"),
            "n100": .int(i % 100),
            "tags": .strings(i % 1000 == 0 ? ["rare", "x"] : ["x"]),
        ])
    }

    static let records = randomVectors(count, dimension: dimension, seed: 17).enumerated().map { record($0.offset, $0.element) }
    static let queries = randomVectors(100, dimension: dimension, seed: 99)
    /// Brute force's top 10 of the matching records for each query, by filter label: the same for
    /// every build and index, so worked out once for the four cases.
    static let truths: [String: [[String]]] = Dictionary(uniqueKeysWithValues: filters.map { label, _, json in
        let filter = try! WhereFilter.parse(json: json)
        let matching = records.filter { filter.matches($0.metadata) }
        return (label, queries.map { bruteForce(matching, $0, k: 10, metric: .l2) })
    })

    static let filters: [(String, Double, String)] = [
        ("50 %", 0.5, #"{"half": true}"#),
        ("10 %", 0.1, #"{"group": {"$eq": "g3"}}"#),
        ("1 %", 0.01, #"{"n100": {"$lt": 1}}"#),
        ("0.1 %", 0.001, #"{"tags": "rare"}"#),
    ]

    /// The two indexes: HNSW m 16 / ef_construction 64 / ef_search 64, and IVFFlat with 100 lists, 20 probes.
    enum Index: String, CaseIterable, Sendable {
        case hnsw, ivfflat
        var config: CollectionConfig {
            self == .hnsw
                ? CollectionConfig(dimension: PgVectorFilterTests.dimension, hnsw: HNSWParameters(m: 16, efConstruction: 64, efSearch: 64))
                : CollectionConfig(dimension: PgVectorFilterTests.dimension, hnsw: nil, ivfflat: IVFFlatParameters(lists: 100, probes: 20))
        }
    }

    /// On pgvector 0.6 the index query widens `ef_search` / `probes`; on 0.8 pgvector's iterative
    /// scan goes on by itself (strategy `iterative_scan`). Either way: `min(k, matches)` rows, recall ≥ 0.95.
    @Test(arguments: PgvectorBuild.allCases, Index.allCases)
    func filteredQueriesReturnKWithHighRecall(build: PgvectorBuild, index: Index) async throws {
        let server = try await PostgresTestServer.sharedPgvector(build)
        let database = try await server.createFreshDatabase("filters")
        let store = try PgVectorStore(configuration: server.configuration(database: database), schema: "bench", location: "test database")
        // Loaded without an index, then indexed: the rebuild path, and a bulk build rather than 10,000 inserts into a graph.
        try await store.ensureCollection("filtered", config: CollectionConfig(dimension: Self.dimension, hnsw: nil))
        let records = Self.records
        try await store.upsert("filtered", records)
        try await store.ensureCollection("filtered", config: index.config)
        #expect(try await store.info("filtered").config == index.config)
        let version = try await store.pgvectorVersion() ?? "?"
        #expect(version.hasPrefix(build.rawValue + "."), "the \(build) server has pgvector \(version)")
        // Where the index is searched under a filter, it is pgvector's iterative scan exactly when the server has one.
        let indexStrategy: QueryStrategy = build == .v0_8 ? .iterativeScan : index == .hnsw ? .hnsw : .ivfflat

        let queries = Self.queries
        for (label, selectivity, json) in Self.filters {
            let truths = try #require(Self.truths[label])
            let filter = try WhereFilter.parse(json: json)
            let matching = records.filter { filter.matches($0.metadata) }
            #expect(matching.count == Int(Double(Self.count) * selectivity), "\(label)")
            var recall = 0.0
            var plainRecall = 0.0
            var plainRows = 0
            var short = 0
            var strategies: [QueryStrategy: Int] = [:]
            for (q, truth) in zip(queries, truths) {
                let result = try await store.query("filtered", q, k: 10, ef: nil, where: filter)
                if result.matches.count != min(10, matching.count) { short += 1 }
                recall += recallAt(result.matches.map(\.id), truth)
                #expect(result.matches.map(\.distance) == result.matches.map(\.distance).sorted(), "\(label): closest first")
                strategies[result.strategy, default: 0] += 1
            }
            for (truth, plain) in zip(truths, try await plainSQL(server, database, filter, queries)) {
                plainRows += plain.count
                plainRecall += recallAt(plain, truth)
            }
            #expect(short == 0, "\(label): \(short) of 100 queries returned fewer than min(k, matches) rows")
            #expect(recall / 100 >= 0.95, "\(label): recall@10 \(recall / 100)")
            #expect(Set(strategies.keys).isSubset(of: [indexStrategy, .filteredExact]), "\(label): \(strategies)")
            if selectivity == 0.5 { #expect(strategies[indexStrategy] == 100, "half the rows match: the index is searched, \(strategies)") }
            print(
                "pgvector \(version), \(index.rawValue), \(Self.count) × \(Self.dimension), \(label) selectivity (\(matching.count) rows match), k 10: "
                    + "mlinfra returned \(short == 0 ? "min(k, matches)" : "short") every query, recall@10 \(String(format: "%.3f", recall / 100)) "
                    + "(\(strategies.map { "\($0.key.rawValue) \($0.value)" }.sorted().joined(separator: ", "))); "
                    + "plain SQL with default settings returned \(String(format: "%.1f", Double(plainRows) / 100)) rows a query, "
                    + "recall@10 \(String(format: "%.3f", plainRecall / 100))")
        }
        await store.close()
    }

    /// What a user's own `SELECT … WHERE … ORDER BY embedding <-> q LIMIT 10` gets, on a fresh
    /// connection with pgvector's defaults (`hnsw.ef_search` 40, `ivfflat.probes` 1, no iterative scan).
    func plainSQL(_ server: PostgresTestServer, _ database: String, _ filter: WhereFilter, _ queries: [[Float]]) async throws -> [[String]] {
        var condition = SQLCondition()
        let sql = filter.sql(column: "metadata", into: &condition)
        return try await server.withConnection(database: database) { c in
            var out: [[String]] = []
            for q in queries {
                var binds = condition.binds
                binds.append(PgVectorStore.vectorText(q))
                let query = PostgresQuery(
                    unsafeSQL: "SELECT id FROM bench.filtered WHERE \(sql) ORDER BY embedding <-> $\(binds.count)::vector LIMIT 10", binds: binds)
                var ids: [String] = []
                for try await row in try await c.query(query, logger: Logger(label: "test")) { ids.append(try row.decode(String.self)) }
                out.append(ids)
            }
            return out
        }
    }
}
