import Foundation
import MLInfraTesting
import Testing

@testable import FeatureStore

/// Definitions and the materialization log in PostgreSQL, shared by two stores in separate
/// directories (two machines): what one applies the other serves, and an incremental run on one
/// continues from where the other's ended. A private PostgreSQL server, one database per test.
@Suite struct SharedCatalogTests {
    static let rows = """
        customer_id,event_timestamp,total_spend,txn_count
        1,2024-01-01T00:00:00Z,5.5,2
        1,2024-01-02T00:00:00Z,7.5,3
        2,2024-01-02T00:00:00Z,1.25,1
        2,2024-01-05T00:00:00Z,9.0,4

        """

    static let entity = Entity(name: "customer", joinKeys: ["customer_id"])

    static func view(_ csv: String, ttl: Int64 = 0) -> FeatureView {
        FeatureView(
            name: "stats", entities: ["customer"], source: .csv(csv, timestamp: "event_timestamp"),
            features: [Feature(name: "total_spend", type: .float64), Feature(name: "txn_count", type: .int64)], ttlSeconds: ttl)
    }

    /// A fresh database's URL on the shared private server.
    static func database() async throws -> String {
        let server = try await PostgresTestServer.shared()
        let name = "features_" + UUID().uuidString.prefix(8).lowercased()
        try await server.createDatabase(name)
        return server.url(database: name)
    }

    @Test func whatOneMachineAppliesTheOtherServesAndItsRemovalReachesItToo() async throws {
        let url = try await Self.database()
        let a = TempDir(), b = TempDir()
        let csv = a.write("stats.csv", Self.rows)
        let storeA = try LocalFeatureStore(directory: a.path + "/main", storage: .postgres(url: url, schema: "team_features"))
        try storeA.apply(Self.entity)
        try storeA.apply(Self.view(csv))
        _ = try storeA.materialize(start: 0, end: micros("2024-01-03T00:00:00Z"))

        // Machine B has applied nothing: its directory is new.
        let storeB = try LocalFeatureStore(directory: b.path + "/main", storage: .postgres(url: url, schema: "team_features"))
        #expect(try storeB.definitions().views.keys.sorted() == ["stats"])
        #expect(try storeB.definitions().entities["customer"]?.joinKeys == ["customer_id"])
        // The watermark and the run history are the shared ones.
        #expect(try storeB.lastMaterialized(view: "stats") == micros("2024-01-03T00:00:00Z"))
        let history = try storeB.materializations(view: "stats")
        #expect(history.map(\.rows) == [2])
        #expect(history.first?.host == ProcessInfo.processInfo.hostName)

        // A second feature applied on A reaches B's online read path (which reads the local mirror).
        var wider = Self.view(csv)
        wider.features.append(Feature(name: "txn_count_copy", type: .int64))
        try storeA.apply(wider)
        #expect(try storeB.definitions().views["stats"]?.features.count == 3)

        try storeA.remove(.view, named: "stats")
        #expect(try storeB.definitions().views.isEmpty)
        #expect(try storeB.materializations(view: "stats").isEmpty, "a removed view's run history goes with it")
    }

    @Test func anIncrementalRunOnOneMachineContinuesFromTheOthersWatermark() async throws {
        let url = try await Self.database()
        let a = TempDir(), b = TempDir()
        let csvA = a.write("stats.csv", Self.rows)
        _ = b.write("stats.csv", Self.rows)
        let storeA = try LocalFeatureStore(directory: a.path + "/main", storage: .postgres(url: url, schema: "mlinfra_features"))
        try storeA.apply(Self.entity)
        try storeA.apply(Self.view(csvA))
        let first = try storeA.materializeIncremental(end: micros("2024-01-03T00:00:00Z"))
        #expect(first.views.map(\.entities) == [2])

        let storeB = try LocalFeatureStore(directory: b.path + "/main", storage: .postgres(url: url, schema: "mlinfra_features"))
        let second = try storeB.materializeIncremental(end: micros("2024-01-06T00:00:00Z"))
        #expect(second.views.first?.start == micros("2024-01-03T00:00:00Z"), "B starts where A's run ended")
        #expect(second.views.first?.entities == 1, "only customer 2 has a row after the watermark")
        #expect(try storeA.materializations(view: "stats").map(\.end) == [micros("2024-01-03T00:00:00Z"), micros("2024-01-06T00:00:00Z")])
    }

    @Test func aServingMachineFollowsDefinitionsAppliedAfterItOpened() async throws {
        let url = try await Self.database()
        let a = TempDir(), b = TempDir()
        let csv = a.write("stats.csv", Self.rows)
        let storeB = try LocalFeatureStore(directory: b.path + "/main", storage: .postgres(url: url, schema: "mlinfra_features"))
        storeB.followSharedDefinitions(every: .milliseconds(50))
        let refs = [FeatureReference(view: "stats", feature: "txn_count")]
        let keys = EntityKeys("customer_id", [.int(1), .int(2)])
        #expect(throws: FeatureStoreError.self) { try storeB.onlineFeatures(features: refs, entities: keys) }

        let storeA = try LocalFeatureStore(directory: a.path + "/main", storage: .postgres(url: url, schema: "mlinfra_features"))
        try storeA.apply(Self.entity)
        try storeA.apply(Self.view(csv))
        _ = try storeA.materialize(start: 0, end: micros("2024-01-03T00:00:00Z"))
        // Both use the online table of their own store.sqlite here, so B answers NOT_FOUND for
        // values A wrote; what matters is that B's read path knows the view without a call of its own.
        var known = false
        for _ in 0..<100 where !known {
            known = (try? storeB.onlineFeatures(features: refs, entities: keys)) != nil
            if !known { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(known, "B's online read path never learnt the view A applied")
    }

    @Test func anUnchangedDefinitionKeepsTheGenerationSoNoMirrorReloads() async throws {
        let url = try await Self.database()
        let a = TempDir()
        let csv = a.write("stats.csv", Self.rows)
        let store = try LocalFeatureStore(directory: a.path + "/main", storage: .postgres(url: url, schema: "mlinfra_features"))
        try store.apply(Self.entity)
        try store.apply(Self.view(csv))
        let before = try #require(try store.shared?.definitions(unless: nil)).generation
        try store.apply(Self.entity)
        try store.apply(Self.view(csv))
        #expect(try store.shared?.definitions(unless: nil)?.generation == before)
    }

    @Test func aBadSchemaNameAndAnUnreachableServerAreExplainedWithoutThePassword() async throws {
        let a = TempDir()
        #expect {
            try LocalFeatureStore(directory: a.path + "/x", storage: .postgres(url: "postgres://u:pw@127.0.0.1:1/db", schema: "Bad-Name"))
        } throws: { "\($0)".contains("not a plain SQL identifier") }
        let secret = "hunter2-" + UUID().uuidString
        let closedPort = 1
        #expect {
            try LocalFeatureStore(directory: a.path + "/y", storage: .postgres(url: "postgres://u:\(secret)@127.0.0.1:\(closedPort)/db", schema: "s"))
        } throws: { error in
            let text = "\(error)"
            return text.contains("postgres://u@127.0.0.1:1/db") && !text.contains(secret)
        }
        // The setting is kept owner-only in the directory, as the online setting is.
        let url = try await Self.database()
        let store = try LocalFeatureStore(directory: a.path + "/z", storage: .postgres(url: url, schema: "s"))
        let mode = try FileManager.default.attributesOfItem(atPath: store.directory + "/catalog.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try LocalFeatureStore(directory: a.path + "/z").catalogSetting == .postgres(url: url, schema: "s"))
    }
}
