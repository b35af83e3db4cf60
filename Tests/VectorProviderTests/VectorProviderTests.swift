import Foundation
import MLInfraCore
import Testing
import MLInfraJSON
import VectorIndex
@testable import VectorProvider

@Suite struct VectorProviderTests {
    let dir = NSTemporaryDirectory() + "vector-provider-\(UUID().uuidString)"
    let context = ApplyContext(actor: "test")

    func configured() async throws -> VectorProvider {
        let provider = VectorProvider()
        let response = try await provider.configure(ConfigureRequest(config: ["data_dir": .string("data")], workingDirectory: dir))
        #expect(response.diagnostics.isEmpty)
        return provider
    }

    func create(_ p: VectorProvider, _ type: String, _ address: String, _ config: [String: Value]) async throws -> ResourceObject {
        let plan = try await p.plan(PlanRequest(type: type, address: address, prior: nil, proposed: config))
        let applied = try await p.apply(ApplyRequest(type: type, address: address, action: .create, prior: nil, config: config, planned: plan.planned, context: context))
        #expect(applied.diagnostics.isEmpty)
        return try #require(applied.new)
    }

    @Test func schemaIsMergedUnderLocal() async throws {
        let schema = try await VectorProvider().schema()
        #expect(schema.name == "local")
        #expect(schema.version == MLInfraVersion.current)
        #expect(Set(schema.resourceTypes.keys) == ["vector_store", "vector_collection"])
        #expect(schema.resourceTypes["vector_collection"]?.attributes["dimension"]?.forceNew == true)
        #expect(schema.resourceTypes["vector_collection"]?.attributes["store"]?.referenceType == "vector_store")
    }

    @Test func createReadImportAndDelete() async throws {
        let p = try await configured()
        let store = try await create(p, "vector_store", "vector_store.main", [:])
        #expect(store.id == "main")
        #expect(store.attributes["path"] == .string(dir + "/data/vectors/main"))
        let plan = try await p.plan(PlanRequest(type: "vector_collection", address: "vector_collection.docs", prior: nil, proposed: ["store": "main", "dimension": 4]))
        #expect(plan.planned["id"] == .string("main/docs"), "the id is known at plan time")
        #expect(plan.planned["metric"] == .string("l2"))
        let collection = try await create(p, "vector_collection", "vector_collection.docs", ["store": "main", "dimension": 4, "metric": "cosine"])
        #expect(collection.id == "main/docs")

        let engineStore = try VectorStore(directory: dir + "/data/vectors/main")
        try engineStore.collection("docs").upsert([VectorRecord(id: "a", vector: [1, 0, 0, 0])])

        let read = try await p.read(ReadRequest(type: "vector_collection", address: "vector_collection.docs", id: "main/docs", prior: collection))
        #expect(read.current?.attributes == collection.attributes, "data written outside mlinfra is not drift")
        let imported = try await p.importResource(ImportRequest(type: "vector_collection", address: "vector_collection.x", id: "main/docs"))
        #expect(imported.imported?.attributes["dimension"] == .int(4))
        let missing = try await p.importResource(ImportRequest(type: "vector_collection", address: "vector_collection.x", id: "main/nope"))
        #expect(missing.imported == nil)
        #expect(missing.diagnostics.first?.summary.contains("main/nope") == true)

        _ = try await p.apply(ApplyRequest(type: "vector_collection", address: "vector_collection.docs", action: .delete, prior: collection, config: [:], planned: [:], context: context))
        let gone = try await p.read(ReadRequest(type: "vector_collection", address: "vector_collection.docs", id: "main/docs", prior: collection))
        #expect(gone.current == nil)
    }

    @Test func dimensionOrMetricChangeIsAReplaceThatWarnsAboutData() async throws {
        let p = try await configured()
        _ = try await create(p, "vector_store", "vector_store.main", [:])
        let prior = try await create(p, "vector_collection", "vector_collection.docs", ["store": "main", "dimension": 2])
        try VectorStore(directory: dir + "/data/vectors/main").collection("docs").upsert([
            VectorRecord(id: "a", vector: [1, 0]), VectorRecord(id: "b", vector: [0, 1]),
        ])
        let plan = try await p.plan(PlanRequest(type: "vector_collection", address: "vector_collection.docs", prior: prior, proposed: ["store": "main", "dimension": 3, "metric": "ip"]))
        #expect(plan.requiresReplace == ["dimension", "metric"])
        #expect(plan.diagnostics.count == 2)
        #expect(plan.diagnostics.allSatisfy { $0.diagnostic.severity == .warning })
        #expect(plan.diagnostics[0].diagnostic.summary == "changing dimension from 2 to 3 replaces vector collection main/docs: its 2 records will be dropped")
        #expect(plan.diagnostics[0].diagnostic.detail.contains("prevent_destroy"))
    }

    @Test func efSearchUpdatesInPlaceAndMRebuildsKeepingRecords() async throws {
        let p = try await configured()
        _ = try await create(p, "vector_store", "vector_store.main", [:])
        let prior = try await create(p, "vector_collection", "vector_collection.docs", ["store": "main", "dimension": 2])
        try VectorStore(directory: dir + "/data/vectors/main").collection("docs").upsert((0..<50).map { VectorRecord(id: "r\($0)", vector: [Float($0), 1]) })

        let ef: [String: Value] = ["store": "main", "dimension": 2, "hnsw": ["ef_search": 20]]
        let efPlan = try await p.plan(PlanRequest(type: "vector_collection", address: "vector_collection.docs", prior: prior, proposed: ef))
        #expect(efPlan.requiresReplace.isEmpty)
        #expect(efPlan.diagnostics.isEmpty, "ef_search changes quietly in place")
        #expect(efPlan.planned["hnsw"]?["ef_search"] == .int(20))

        let m: [String: Value] = ["store": "main", "dimension": 2, "hnsw": ["m": 8]]
        let mPlan = try await p.plan(PlanRequest(type: "vector_collection", address: "vector_collection.docs", prior: prior, proposed: m))
        #expect(mPlan.requiresReplace.isEmpty)
        #expect(mPlan.diagnostics.first?.diagnostic.summary == "vector collection main/docs will rebuild its index in place (50 records kept)")
        let applied = try await p.apply(ApplyRequest(type: "vector_collection", address: "vector_collection.docs", action: .update, prior: prior, config: m, planned: mPlan.planned, context: context))
        #expect(applied.diagnostics.isEmpty)
        let reopened = try VectorStore(directory: dir + "/data/vectors/main").collection("docs")
        #expect(reopened.count == 50)
        #expect(reopened.config.hnsw?.m == 8)
    }

    @Test func validationNamesEveryBadAttribute() async throws {
        let p = VectorProvider()
        let response = try await p.validate(ValidateRequest(type: "vector_collection", address: "vector_collection.docs", config: [
            "dimension": 0, "metric": "hamming", "hnsw": ["m": 1, "ef": 3], "colour": "red",
        ]))
        let attributes = Set(response.diagnostics.compactMap(\.attribute))
        #expect(attributes == ["dimension", "metric", "hnsw.m", "hnsw.ef", "colour", "store"])
        let unknownRef = try await p.validate(ValidateRequest(type: "vector_collection", address: "vector_collection.docs", config: ["store": .unknown, "dimension": .unknown]))
        #expect(unknownRef.diagnostics.isEmpty, "unknown values are checked later")
    }
}
