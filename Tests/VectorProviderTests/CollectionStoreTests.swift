import Foundation
import Logging
import MLInfraCore
import MLInfraTesting
import PostgresNIO
import Testing
import VectorIndex
@testable import VectorProvider

/// Where a collection lives in `CollectionStoreTests`: the same expectations run against each.
enum StoreUnderTest: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case local, pgvector
    var testDescription: String { rawValue }
}

/// One store of either kind, made through the provider as a spec would make it, with a way to
/// reach it as another process would and to change it by hand.
struct StoreFixture {
    let kind: StoreUnderTest
    let provider: VectorProvider
    let storeID: String
    let storeConfig: [String: Value]
    let dataDir: String
    let server: PostgresTestServer?
    let database: String
    let context = ApplyContext(actor: "test")

    static func make(_ kind: StoreUnderTest) async throws -> StoreFixture {
        let dir = NSTemporaryDirectory() + "collection-store-\(UUID().uuidString)"
        let provider = VectorProvider()
        _ = try await provider.configure(ConfigureRequest(config: ["data_dir": .string("data")], workingDirectory: dir))
        switch kind {
        case .local:
            return StoreFixture(kind: kind, provider: provider, storeID: "main", storeConfig: [:], dataDir: dir + "/data", server: nil, database: "")
        case .pgvector:
            let server = try await PostgresTestServer.sharedPgvector()
            let database = try await server.createFreshDatabase("vectors")
            return StoreFixture(
                kind: kind, provider: provider, storeID: "pgvector:main",
                storeConfig: ["kind": "pgvector", "url": .string(server.url(database: database))], dataDir: dir + "/data", server: server,
                database: database)
        }
    }

    func create(_ type: String, _ address: String, _ config: [String: Value]) async throws -> ResourceObject {
        let validated = try await provider.validate(ValidateRequest(type: type, address: address, config: config))
        #expect(validated.diagnostics.isEmpty, "\(validated.diagnostics)")
        let plan = try await provider.plan(PlanRequest(type: type, address: address, prior: nil, proposed: config))
        let applied = try await provider.apply(ApplyRequest(type: type, address: address, action: .create, prior: nil, config: config, planned: plan.planned, context: context))
        #expect(applied.diagnostics.isEmpty, "\(applied.diagnostics)")
        return try #require(applied.new)
    }

    /// The store and a collection in it, made through the provider.
    func collection(_ name: String, _ config: [String: Value]) async throws -> ResourceObject {
        _ = try await create("vector_store", "vector_store.main", storeConfig)
        var full = config
        full["store"] = .string(storeID)
        return try await create("vector_collection", "vector_collection.\(name)", full)
    }

    /// A new handle on the store, as a later process opens it (a new connection, or the files read again).
    func reopen() throws -> any CollectionStore {
        switch kind {
        case .local: return try VectorStore(directory: VectorStore.directory(dataDir: dataDir, store: "main"))
        case .pgvector:
            return try PgVectorStore(configuration: server!.configuration(database: database), schema: "main", location: "test database \(database)")
        }
    }

    /// Drops a collection's index by hand, outside mlinfra: `DROP INDEX` on PostgreSQL, the engine's own call locally.
    func dropIndexByHand(_ name: String, dimension: Int, metric: Metric) async throws {
        switch kind {
        case .local:
            try VectorStore(directory: VectorStore.directory(dataDir: dataDir, store: "main"))
                .createCollection(name, config: CollectionConfig(dimension: dimension, metric: metric, hnsw: nil))
        case .pgvector:
            try await server!.withConnection(database: database) { c in
                _ = try await c.query(PostgresQuery(unsafeSQL: "DROP INDEX main.\"\(name)_ann\""), logger: Logger(label: "test"))
            }
        }
    }

    /// A collection made outside mlinfra: by the engine locally, as a hand-written table on PostgreSQL.
    func makeByHand(_ name: String) async throws {
        switch kind {
        case .local:
            try VectorStore(directory: VectorStore.directory(dataDir: dataDir, store: "main")).createCollection(
                name, config: CollectionConfig(dimension: 3, metric: .cosine, hnsw: HNSWParameters(m: 8, efConstruction: 32, efSearch: 40)))
        case .pgvector:
            try await server!.withConnection(database: database) { c in
                for sql in [
                    "CREATE TABLE main.\"\(name)\" (id text PRIMARY KEY, embedding vector(3) NOT NULL, metadata jsonb NOT NULL DEFAULT '{}', document text)",
                    "CREATE INDEX ON main.\"\(name)\" USING hnsw (embedding vector_cosine_ops) WITH (m = 8, ef_construction = 32)",
                    "INSERT INTO main.\"\(name)\" (id, embedding) VALUES ('a', '[1,0,0]'), ('b', '[0,1,0]')",
                ] {
                    _ = try await c.query(PostgresQuery(unsafeSQL: sql), logger: Logger(label: "test"))
                }
            }
        }
        if kind == .local {
            try await reopen().upsert(name, [VectorRecord(id: "a", vector: [1, 0, 0]), VectorRecord(id: "b", vector: [0, 1, 0])])
        }
    }
}

/// The collection contract, run against a local store and a pgvector store with the same expectations.
@Suite(.serialized) struct CollectionStoreTests {
    static func records(_ n: Int, dimension: Int, seed: UInt64 = 3) -> [VectorRecord] {
        var rng = SplitMix64(seed: seed)
        return (0..<n).map { i in
            VectorRecord(
                id: "r\(i)", vector: (0..<dimension).map { _ in Float.random(in: -1...1, using: &rng) },
                metadata: ["i": .int(i), "colour": .string(["red", "green", "blue"][i % 3]), "tags": .strings(i % 5 == 0 ? ["five"] : [])],
                document: "doc \(i)")
        }
    }

    static func distance(_ a: [Float], _ b: [Float], _ metric: Metric) -> Double {
        let dot = zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        switch metric {
        case .l2: return zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        case .ip: return 1 - dot
        case .cosine:
            let na = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let nb = b.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            return 1 - dot / (na * nb)
        }
    }

    @Test(arguments: StoreUnderTest.allCases)
    func upsertGetDeleteAndQuery(_ kind: StoreUnderTest) async throws {
        let f = try await StoreFixture.make(kind)
        let prior = try await f.collection("docs", ["dimension": 4])
        let store = try f.reopen()
        let records = Self.records(300, dimension: 4)
        try await store.upsert("docs", records)
        #expect(try await store.count("docs", where: nil) == 300)

        let got = try await store.get("docs", ids: ["r7", "nope", "r2"])
        #expect(got.map(\.id) == ["r7", "r2"], "in the order asked; unknown ids skipped")
        #expect(got[0].vector == records[7].vector)
        #expect(got[0].metadata == records[7].metadata)
        #expect(got[0].document == "doc 7")

        try await store.upsert("docs", [VectorRecord(id: "r7", vector: [1, 1, 1, 1], metadata: ["colour": .string("pink")])])
        #expect(try await store.get("docs", ids: ["r7"]).first?.metadata == ["colour": .string("pink")], "an upsert replaces the record")
        #expect(try await store.count("docs", where: nil) == 300)

        #expect(try await store.delete("docs", ids: ["r1", "r2", "nope"]) == 2)
        #expect(try await store.count("docs", where: nil) == 298)
        let red = try WhereFilter.parse(json: #"{"colour": "red"}"#)
        #expect(try await store.count("docs", where: red) == 100, "every third record")
        let fives = try await store.get("docs", where: try WhereFilter.parse(json: #"{"tags": "five"}"#), limit: nil, offset: 0)
        #expect(fives.count == 60)

        let live = records.filter { !["r1", "r2", "r7"].contains($0.id) } + [VectorRecord(id: "r7", vector: [1, 1, 1, 1])]
        let query: [Float] = [0.3, -0.2, 0.5, 0.1]
        let found = try await store.query("docs", query, k: 5, ef: nil, where: nil)
        let truth = live.sorted { Self.distance($0.vector, query, .l2) < Self.distance($1.vector, query, .l2) }.prefix(5).map(\.id)
        #expect(found.matches.map(\.id) == Array(truth))
        let filtered = try await store.query("docs", query, k: 50, ef: nil, where: try WhereFilter.parse(json: #"{"i": {"$gte": 290}}"#))
        #expect(filtered.matches.count == 10, "min(k, matches)")
        #expect(Set(filtered.matches.map(\.id)) == Set((290..<300).map { "r\($0)" }))

        let replace = try await f.provider.plan(PlanRequest(
            type: "vector_collection", address: "vector_collection.docs", prior: prior, proposed: ["store": .string(f.storeID), "dimension": 8]))
        #expect(replace.requiresReplace == ["dimension"])
        #expect(replace.diagnostics.first?.diagnostic.summary == "changing dimension from 4 to 8 replaces vector collection \(f.storeID)/docs: its 298 records will be dropped")

        await expectRefusal(field: "records[0].vector") { try await store.upsert("docs", [VectorRecord(id: "x", vector: [1, 2])]) }
        await expectRefusal(field: "k") { _ = try await store.query("docs", query, k: 0, ef: nil, where: nil) }
        #expect(try await store.count("docs", where: nil) == 298, "a refused upsert writes nothing")
    }

    @Test(arguments: StoreUnderTest.allCases)
    func metricsGiveTheDistancesTheyDefine(_ kind: StoreUnderTest) async throws {
        let f = try await StoreFixture.make(kind)
        let records = Self.records(60, dimension: 3, seed: 11)
        let query: [Float] = [0.5, 0.25, -0.75]
        for metric in Metric.allCases {
            _ = try await f.collection("m_\(metric.rawValue)", ["dimension": 3, "metric": .string(metric.rawValue)])
            let store = try f.reopen()
            try await store.upsert("m_\(metric.rawValue)", records)
            let found = try await store.query("m_\(metric.rawValue)", query, k: 3, ef: nil, where: nil)
            let truth = records.map { ($0.id, Self.distance($0.vector, query, metric)) }.sorted { $0.1 < $1.1 }.prefix(3)
            #expect(found.matches.map(\.id) == truth.map(\.0), "\(metric)")
            for (match, expected) in zip(found.matches, truth) {
                #expect(abs(Double(match.distance) - expected.1) < 1e-4, "\(metric): \(match.distance) vs \(expected.1)")
            }
            let back = try #require(try await store.get("m_\(metric.rawValue)", ids: ["r4"]).first)
            #expect(zip(back.vector, records[4].vector).allSatisfy { abs($0 - $1) < 1e-6 }, "vectors come back as stored")
        }
    }

    @Test(arguments: StoreUnderTest.allCases)
    func recordsOutliveTheConnection(_ kind: StoreUnderTest) async throws {
        let f = try await StoreFixture.make(kind)
        _ = try await f.collection("kept", ["dimension": 4, "metric": "cosine", "hnsw": ["m": 8, "ef_construction": 40, "ef_search": 30]])
        let records = Self.records(120, dimension: 4, seed: 5)
        do {
            let first = try f.reopen()
            try await first.upsert("kept", records)
            try await first.flush()
            if let pg = first as? PgVectorStore { await pg.close() }
        }
        let second = try f.reopen()
        let info = try await second.info("kept")
        #expect(info.count == 120)
        #expect(info.config == CollectionConfig(dimension: 4, metric: .cosine, hnsw: HNSWParameters(m: 8, efConstruction: 40, efSearch: 30)))
        let back = try #require(try await second.get("kept", ids: ["r9"]).first)
        #expect(back.metadata == records[9].metadata && back.document == records[9].document)
        #expect(zip(back.vector, records[9].vector).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(try await second.query("kept", records[33].vector, k: 1, ef: nil, where: nil).matches.first?.id == "r33")
    }

    @Test(arguments: StoreUnderTest.allCases)
    func aHandDroppedIndexIsDriftAndApplyRebuildsIt(_ kind: StoreUnderTest) async throws {
        let f = try await StoreFixture.make(kind)
        let config: [String: Value] = ["dimension": 4, "hnsw": ["m": 16, "ef_construction": 64, "ef_search": 64]]
        let created = try await f.collection("drifty", config)
        try await f.reopen().upsert("drifty", Self.records(50, dimension: 4))
        let unchanged = try await f.provider.read(ReadRequest(type: "vector_collection", address: "vector_collection.drifty", id: created.id, prior: created))
        #expect(unchanged.current?.attributes == created.attributes, "records written outside mlinfra are not drift")

        try await f.dropIndexByHand("drifty", dimension: 4, metric: .l2)
        let read = try await f.provider.read(ReadRequest(type: "vector_collection", address: "vector_collection.drifty", id: created.id, prior: created))
        let current = try #require(read.current)
        #expect(current.attributes["index"] == "exact", "the next plan shows the dropped index")

        var proposed = config
        proposed["store"] = .string(f.storeID)
        let plan = try await f.provider.plan(PlanRequest(type: "vector_collection", address: "vector_collection.drifty", prior: current, proposed: proposed))
        #expect(plan.requiresReplace.isEmpty)
        #expect(plan.diagnostics.first?.diagnostic.summary == "vector collection \(f.storeID)/drifty will rebuild its index in place (50 records kept)")
        let applied = try await f.provider.apply(ApplyRequest(
            type: "vector_collection", address: "vector_collection.drifty", action: .update, prior: current, config: proposed, planned: plan.planned, context: f.context))
        #expect(applied.diagnostics.isEmpty, "\(applied.diagnostics)")
        let healed = try await f.provider.read(ReadRequest(type: "vector_collection", address: "vector_collection.drifty", id: created.id, prior: current))
        #expect(healed.current?.attributes == created.attributes)
        #expect(try await f.reopen().count("drifty", where: nil) == 50)
    }

    @Test(arguments: StoreUnderTest.allCases)
    func importAdoptsACollectionMadeElsewhere(_ kind: StoreUnderTest) async throws {
        let f = try await StoreFixture.make(kind)
        _ = try await f.create("vector_store", "vector_store.main", f.storeConfig)
        try await f.makeByHand("handmade")
        let imported = try await f.provider.importResource(ImportRequest(type: "vector_collection", address: "vector_collection.handmade", id: "\(f.storeID)/handmade"))
        #expect(imported.diagnostics.isEmpty, "\(imported.diagnostics)")
        let attributes = try #require(imported.imported?.attributes)
        #expect(attributes["dimension"] == 3)
        #expect(attributes["metric"] == "cosine")
        #expect(attributes["index"] == "hnsw")
        #expect(attributes["hnsw"] == ["m": 8, "ef_construction": 32, "ef_search": 40])
        #expect(attributes["id"] == .string("\(f.storeID)/handmade"))
        #expect(try await f.reopen().query("handmade", [0.9, 0.1, 0], k: 1, ef: nil, where: nil).matches.first?.id == "a")
        let missing = try await f.provider.importResource(ImportRequest(type: "vector_collection", address: "vector_collection.x", id: "\(f.storeID)/nope"))
        #expect(missing.imported == nil)
        #expect(missing.diagnostics.first?.summary.contains("\(f.storeID)/nope") == true)
    }

    @Test func aPgvectorURLNeverShowsItsPassword() async throws {
        let f = try await StoreFixture.make(.pgvector)
        let secret = "s3cret-\(UUID().uuidString.prefix(6))"
        let wrong: [String: Value] = ["kind": "pgvector", "url": .string("postgres://mlinfra:\(secret)@127.0.0.1:\(f.server!.port)/\(f.database)?sslmode=disable")]
        let plan = try await f.provider.plan(PlanRequest(type: "vector_store", address: "vector_store.main", prior: nil, proposed: wrong))
        #expect(plan.planned["id"] == "pgvector:main")
        #expect(!"\(plan.planned["path"] ?? .null)".contains(secret), "path names the database without the password")
        let applied = try await f.provider.apply(ApplyRequest(
            type: "vector_store", address: "vector_store.main", action: .create, prior: nil, config: wrong, planned: plan.planned, context: f.context))
        let message = try #require(applied.diagnostics.first).summary
        #expect(message.contains("postgres://mlinfra@127.0.0.1:\(f.server!.port)/\(f.database)"), "\(message)")
        #expect(!message.contains(secret))

        let unreadable = try await f.provider.validate(ValidateRequest(
            type: "vector_store", address: "vector_store.main", config: ["kind": "pgvector", "url": .string("mysql://u:\(secret)@h/db")]))
        #expect(unreadable.diagnostics.map(\.attribute) == ["url"])
        #expect(!"\(unreadable.diagnostics)".contains(secret))
        let missing = try await f.provider.validate(ValidateRequest(type: "vector_store", address: "vector_store.main", config: ["kind": "pgvector"]))
        #expect(missing.diagnostics.first?.diagnostic.summary == "a pgvector store needs url")
        let stray = try await f.provider.validate(ValidateRequest(type: "vector_store", address: "vector_store.main", config: ["url": "postgres://u@h/db"]))
        #expect(stray.diagnostics.first?.diagnostic.summary == "url is for pgvector stores")
        let schema = try await f.provider.schema()
        #expect(schema.resourceTypes["vector_store"]?.attributes["url"]?.sensitive == true)
    }

    @Test func ivfflatIsForPgvectorAndQueriesLikeTheOthers() async throws {
        let local = try await StoreFixture.make(.local)
        _ = try await local.create("vector_store", "vector_store.main", [:])
        let refused = try await local.provider.plan(PlanRequest(
            type: "vector_collection", address: "vector_collection.ivf", prior: nil, proposed: ["store": "main", "dimension": 4, "index": "ivfflat"]))
        #expect(refused.diagnostics.map(\.attribute) == ["index"])

        let f = try await StoreFixture.make(.pgvector)
        let created = try await f.collection("ivf", ["dimension": 4, "index": "ivfflat", "ivfflat": ["lists": 4, "probes": 1]])
        #expect(created.attributes["ivfflat"] == ["lists": 4, "probes": 1])
        let store = try f.reopen()
        let records = Self.records(400, dimension: 4, seed: 23)
        try await store.upsert("ivf", records)
        // An IVFFlat index built on an empty table has poor lists; rebuild it over the rows (lists ⇒ rebuild).
        try await store.ensureCollection("ivf", config: CollectionConfig(dimension: 4, ivfflat: IVFFlatParameters(lists: 8, probes: 2)))
        #expect(try await store.info("ivf").config.ivfflat == IVFFlatParameters(lists: 8, probes: 2))
        let filter = try WhereFilter.parse(json: #"{"colour": {"$in": ["red", "blue"]}}"#)
        let found = try await store.query("ivf", [0.1, 0.2, 0.3, 0.4], k: 20, ef: nil, where: filter)
        #expect(found.matches.count == 20)
        #expect(found.matches.allSatisfy { filter.matches($0.metadata) })
    }

    func expectRefusal(field: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected a refusal naming \(field)")
        } catch let error as VectorError {
            #expect(error.field == field, "\(error)")
        } catch {
            Issue.record("expected a VectorError, got \(error)")
        }
    }
}
