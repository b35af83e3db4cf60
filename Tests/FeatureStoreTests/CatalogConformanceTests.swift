import Foundation
import MLInfraTesting
import Testing

@testable import FeatureStore

/// What every catalog (definitions and the materialization log) must do, on SQLite (the default)
/// and on PostgreSQL alike: the same calls, the same answers. What only a shared catalog does
/// (two machines) is in `SharedCatalogTests`.
@Suite struct CatalogConformanceTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case sqlite, postgres
        var testDescription: String { rawValue }

        /// A store in a new directory on this kind of catalog (a new database for postgres).
        func store(in dir: TempDir) async throws -> (LocalFeatureStore, reopen: () throws -> LocalFeatureStore) {
            let setting: CatalogSetting
            switch self {
            case .sqlite: setting = .sqlite
            case .postgres: setting = .postgres(url: try await SharedCatalogTests.database(), schema: "mlinfra_features")
            }
            let path = dir.path + "/main"
            return (try LocalFeatureStore(directory: path, storage: setting), { try LocalFeatureStore(directory: path) })
        }
    }

    static let service = FeatureService(name: "scoring", features: [FeatureReference(view: "stats", feature: "txn_count")])

    @Test(arguments: Kind.allCases)
    func definitionsAreKeptChangedAndRemovedAndSurviveAReopen(_ kind: Kind) async throws {
        let dir = TempDir()
        let csv = dir.write("stats.csv", SharedCatalogTests.rows)
        let (store, reopen) = try await kind.store(in: dir)
        try store.apply(SharedCatalogTests.entity)
        try store.apply(SharedCatalogTests.view(csv, ttl: 86_400))
        try store.apply(Self.service)
        let applied = try store.definitions()
        #expect(applied.entities.keys.sorted() == ["customer"])
        #expect(applied.views["stats"]?.features.map(\.name) == ["total_spend", "txn_count"])
        #expect(applied.views["stats"]?.ttlSeconds == 86_400)
        #expect(applied.services["scoring"]?.features == Self.service.features)
        #expect(try reopen().definitions() == applied, "a store opened again (its setting saved) reads the same definitions")

        var wider = SharedCatalogTests.view(csv, ttl: 3_600)
        wider.features.append(Feature(name: "avg", type: .float64))
        try store.apply(wider)
        #expect(try store.definitions().views["stats"]?.features.count == 3)
        #expect(try store.definitions().views["stats"]?.ttlSeconds == 3_600)

        #expect(try store.remove(.service, named: "scoring"))
        #expect(try !store.remove(.service, named: "scoring"), "removing what is not there says so")
        #expect(try store.remove(.view, named: "stats"))
        let left = try reopen().definitions()
        #expect(left.views.isEmpty && left.services.isEmpty)
        #expect(left.entities.keys.sorted() == ["customer"])
    }

    @Test(arguments: Kind.allCases)
    func theMaterializationLogKeepsEveryRunAndIncrementalRunsStartAtTheWatermark(_ kind: Kind) async throws {
        let dir = TempDir()
        let csv = dir.write("stats.csv", SharedCatalogTests.rows)
        let (store, reopen) = try await kind.store(in: dir)
        try store.apply(SharedCatalogTests.entity)
        try store.apply(SharedCatalogTests.view(csv))
        #expect(try store.lastMaterialized(view: "stats") == nil)

        let first = try store.materialize(start: 0, end: micros("2024-01-03T00:00:00Z"))
        #expect(first.views.map(\.entities) == [2])
        #expect(try store.lastMaterialized(view: "stats") == micros("2024-01-03T00:00:00Z"))

        let second = try reopen().materializeIncremental(end: micros("2024-01-06T00:00:00Z"))
        #expect(second.views.first?.start == micros("2024-01-03T00:00:00Z"), "the incremental run starts where the last one ended")
        #expect(second.views.first?.entities == 1, "only customer 2 has a row after the watermark")

        let runs = try store.materializations(view: "stats")
        #expect(runs.map(\.start) == [0, micros("2024-01-03T00:00:00Z")])
        #expect(runs.map(\.end) == [micros("2024-01-03T00:00:00Z"), micros("2024-01-06T00:00:00Z")])
        #expect(runs.map(\.rows) == [2, 1])
        #expect(try store.lastMaterialized(view: "stats") == micros("2024-01-06T00:00:00Z"))

        // The online values are the newest rows, whichever catalog logged the runs.
        let values = try store.onlineFeatures(
            features: [FeatureReference(view: "stats", feature: "txn_count")], entities: EntityKeys("customer_id", [.int(1), .int(2), .int(3)]))
        let column = try #require(values.column("txn_count"))
        #expect(column.statuses == [.present, .present, .notFound])
        #expect(Array(column.values.prefix(2)) == [.int(3), .int(4)])

        #expect(try store.remove(.view, named: "stats"))
        #expect(try store.materializations(view: "stats").isEmpty, "a removed view's run history goes with it")
        #expect(try store.lastMaterialized(view: "stats") == nil)
    }
}
