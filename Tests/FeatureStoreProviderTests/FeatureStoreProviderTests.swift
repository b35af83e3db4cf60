import FeatureStore
import Foundation
import MLInfraCore
import Testing

@testable import FeatureStoreProvider

final class Workspace: @unchecked Sendable {
    // @unchecked Sendable: the path never changes after init.
    let path: String
    init() {
        path = NSTemporaryDirectory() + "fsp-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path + "/data", withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: path + "/data/stats.csv",
            contents: Data("customer_id,event_timestamp,total_spend,txn_count\n1,2024-01-01T00:00:00Z,5.5,2\n".utf8))
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct FeatureStoreProviderTests {
    static let view: [String: Value] = [
        "store": "main",
        "entities": ["main/customer"],
        "source": ["csv": "data/stats.csv", "timestamp": "event_timestamp"],
        "features": ["total_spend": "float64", "txn_count": "int64"],
        "ttl": "2d",
    ]

    static func provider(_ ws: Workspace) async throws -> FeatureStoreProvider {
        let p = FeatureStoreProvider()
        _ = try await p.configure(ConfigureRequest(config: ["data_dir": "state-data"], workingDirectory: ws.path))
        return p
    }

    static func create(_ p: FeatureStoreProvider, _ type: String, _ address: String, _ config: [String: Value]) async throws -> ResourceObject {
        let planned = try await p.plan(PlanRequest(type: type, address: address, prior: nil, proposed: config))
        let r = try await p.apply(
            ApplyRequest(type: type, address: address, action: .create, prior: nil, config: config, planned: planned.planned, context: ApplyContext(actor: "test")))
        #expect(r.diagnostics.isEmpty, "\(r.diagnostics)")
        return try #require(r.new)
    }

    static func setUp(_ ws: Workspace) async throws -> (FeatureStoreProvider, ResourceObject) {
        let p = try await provider(ws)
        _ = try await create(p, "feature_store", "feature_store.main", ["online": ["kind": "sqlite"]])
        _ = try await create(p, "entity", "entity.customer", ["store": "main", "join_keys": ["customer_id"]])
        let view = try await create(p, "feature_view", "feature_view.customer_stats", view)
        return (p, view)
    }

    @Test func schemaDeclaresTheFourTypesUnderLocal() async throws {
        let s = try await FeatureStoreProvider().schema()
        #expect(s.name == "local")
        #expect(s.version == MLInfraVersion.current)
        #expect(Set(s.resourceTypes.keys) == ["feature_store", "entity", "feature_view", "feature_service"])
        let v = s.resourceTypes["feature_view"]!.attributes
        #expect(v["source"]!.forceNew && v["entities"]!.forceNew && v["store"]!.forceNew)
        #expect(!v["ttl"]!.forceNew && !v["features"]!.forceNew && !v["description"]!.forceNew)
    }

    @Test func planKnowsIdsBeforeApply() async throws {
        let p = FeatureStoreProvider()
        let store = try await p.plan(PlanRequest(type: "feature_store", address: "feature_store.main", prior: nil, proposed: [:]))
        #expect(store.planned["id"] == "main")
        let view = try await p.plan(PlanRequest(type: "feature_view", address: "feature_view.customer_stats", prior: nil, proposed: Self.view))
        #expect(view.planned["id"] == "main/customer_stats")
        let unknownStore = try await p.plan(
            PlanRequest(type: "entity", address: "entity.customer", prior: nil, proposed: ["store": .unknown, "join_keys": ["id"]]))
        #expect(unknownStore.planned["id"] == .unknown)
    }

    @Test(arguments: [
        ("features", Value.map(["total_spend": "float32", "txn_count": "int64"]), ["features.total_spend"]),
        ("features", Value.map(["total_spend": "float64", "txn_count": "int64", "avg_basket": "float64"]), []),
        ("features", Value.map(["total_spend": "double", "txn_count": "int64"]), []),
        ("ttl", Value.string("30d"), []),
        ("description", Value.string("spend"), []),
    ])
    func changingAFeatureTypeReplacesOtherChangesUpdate(attribute: String, value: Value, replace: [String]) async throws {
        let p = FeatureStoreProvider()
        var proposed = Self.view
        proposed[attribute] = value
        let prior = ResourceObject(id: "main/customer_stats", attributes: Self.view.merging(["name": "customer_stats", "id": "main/customer_stats"]) { $1 })
        let plan = try await p.plan(PlanRequest(type: "feature_view", address: "feature_view.customer_stats", prior: prior, proposed: proposed))
        #expect(plan.requiresReplace == replace)
    }

    @Test func applyWritesTheEngineAndReadSeesNoDrift() async throws {
        let ws = Workspace()
        let (p, view) = try await Self.setUp(ws)
        #expect(view.id == "main/customer_stats")
        let store = try LocalFeatureStore(directory: ws.path + "/state-data/features/main")
        let defs = try store.definitions()
        #expect(defs.views["customer_stats"]?.source.path == ws.path + "/data/stats.csv")
        #expect(defs.views["customer_stats"]?.ttlSeconds == 172_800)
        #expect(defs.views["customer_stats"]?.entities == ["customer"])
        let read = try await p.read(ReadRequest(type: "feature_view", address: "feature_view.customer_stats", id: view.id, prior: view))
        #expect(read.current == view)
    }

    @Test func refreshDetectsOutOfBandChangesAndRemovals() async throws {
        let ws = Workspace()
        let (p, view) = try await Self.setUp(ws)
        let store = try LocalFeatureStore(directory: ws.path + "/state-data/features/main")
        var changed = try store.definitions().views["customer_stats"]!
        changed.ttlSeconds = 3600
        try store.apply(changed)
        let drifted = try await p.read(ReadRequest(type: "feature_view", address: "feature_view.customer_stats", id: view.id, prior: view))
        #expect(drifted.current?.attributes["ttl"] == "1h")
        #expect(drifted.current?.attributes["source"]?["csv"] == "data/stats.csv")
        try store.remove(.view, named: "customer_stats")
        let gone = try await p.read(ReadRequest(type: "feature_view", address: "feature_view.customer_stats", id: view.id, prior: view))
        #expect(gone.current == nil)
    }

    @Test func updateInPlaceAndDelete() async throws {
        let ws = Workspace()
        let (p, view) = try await Self.setUp(ws)
        var config = Self.view
        config["features"] = ["total_spend": "float64", "txn_count": "int64", "extra": "string"]
        config["ttl"] = "30d"
        let updated = try await p.apply(
            ApplyRequest(
                type: "feature_view", address: "feature_view.customer_stats", action: .update, prior: view, config: config, planned: config,
                context: ApplyContext(actor: "test")))
        #expect(updated.new?.id == "main/customer_stats")
        let store = try LocalFeatureStore(directory: ws.path + "/state-data/features/main")
        #expect(try store.definitions().views["customer_stats"]?.features.map(\.name) == ["extra", "total_spend", "txn_count"])
        let deleted = try await p.apply(
            ApplyRequest(
                type: "feature_view", address: "feature_view.customer_stats", action: .delete, prior: updated.new, config: [:], planned: [:],
                context: ApplyContext(actor: "test")))
        #expect(deleted.new == nil)
        #expect(try store.definitions().views.isEmpty)
    }

    @Test func serviceNeedsKnownFeaturesAndImportFindsIt() async throws {
        let ws = Workspace()
        let (p, _) = try await Self.setUp(ws)
        let bad = try await p.apply(
            ApplyRequest(
                type: "feature_service", address: "feature_service.fraud", action: .create, prior: nil,
                config: ["store": "main", "features": ["customer_stats:nope"]], planned: [:], context: ApplyContext(actor: "t")))
        #expect(bad.new == nil)
        #expect(bad.diagnostics.first?.detail.contains("nope") == true)
        _ = try await Self.create(p, "feature_service", "feature_service.fraud", ["store": "main", "features": ["customer_stats:total_spend"]])
        let imported = try await p.importResource(ImportRequest(type: "feature_service", address: "feature_service.fraud", id: "main/fraud"))
        #expect(imported.imported?.attributes["features"] == ["customer_stats:total_spend"])
        let missing = try await p.importResource(ImportRequest(type: "feature_service", address: "feature_service.x", id: "main/x"))
        #expect(missing.imported == nil)
        #expect(!missing.diagnostics.isEmpty)
    }

    @Test func validateReportsEachBadAttribute() async throws {
        let p = FeatureStoreProvider()
        let r = try await p.validate(
            ValidateRequest(
                type: "feature_view", address: "feature_view.v",
                config: ["store": "main", "entities": ["main/c"], "source": ["parquet": "x"], "features": ["a": "decimal"], "ttl": "soon"]))
        #expect(Set(r.diagnostics.compactMap(\.attribute)) == ["source.parquet", "features.a", "ttl"])
        for (online, attribute) in [
            (["kind": "memcached"], "online.kind"), (["kind": "redis"], "online.url"), (["kind": "redis", "url": "http://:pw-1@h"], "online.url"),
            (["kind": "sqlite", "url": "redis://h"], "online.url"), (["kind": "redis", "url": "redis://h", "namespace": ""], "online.namespace"),
        ] as [(Value, String)] {
            let store = try await p.validate(ValidateRequest(type: "feature_store", address: "feature_store.main", config: ["online": online]))
            #expect(store.diagnostics.map(\.attribute) == [attribute], "\(online)")
            #expect(!"\(store.diagnostics)".contains("pw-1"))
        }
        let fine = try await p.validate(
            ValidateRequest(type: "feature_store", address: "feature_store.main", config: ["online": ["kind": "redis", "url": "redis://:pw@h:1/2"]]))
        #expect(fine.diagnostics.isEmpty)
    }
}

@Suite struct FeaturesCommandTests {
    @Test func historicalMaterializeAndGetFromTheCommandLine() async throws {
        let ws = Workspace()
        _ = try await FeatureStoreProviderTests.setUp(ws)
        let data = ws.path + "/state-data"
        FileManager.default.createFile(atPath: ws.path + "/e.csv", contents: Data("customer_id,event_timestamp\n1,2024-01-02T00:00:00Z\n".utf8))
        var historical = try FeaturesCommand.parseAsRoot([
            "historical", "--data-dir", data, "--entities", ws.path + "/e.csv", "--features", "customer_stats:total_spend,customer_stats:txn_count",
            "--out", ws.path + "/out.jsonl", "--format", "jsonl",
        ])
        try historical.run()
        let out = try String(contentsOfFile: ws.path + "/out.jsonl", encoding: .utf8)
        #expect(out == #"{"customer_id":1,"event_timestamp":"2024-01-02T00:00:00Z","total_spend":5.5,"txn_count":2}"# + "\n")
        var materialize = try FeaturesCommand.parseAsRoot(["materialize", "--data-dir", data, "2023-12-31", "2024-01-02"])
        try materialize.run()
        let store = try LocalFeatureStore(directory: data + "/features/main")
        #expect(try store.lastMaterialized(view: "customer_stats") == Timestamp.parse("2024-01-02"))
        #expect(throws: Error.self) {
            var bad = try FeaturesCommand.parseAsRoot(["materialize", "--data-dir", data, "yesterday", "now"])
            try bad.run()
        }
        #expect(throws: Error.self) { _ = try FeaturesCommand.parseAsRoot(["get", "--data-dir", data, "--entity", "customer_id=1"]) }
    }
}
