import Foundation
import Synchronization
import Testing

@testable import FeatureStore

/// A clock tests set by hand.
final class ManualClock: Sendable {
    let now: Mutex<Int64>
    init(_ iso: String) { now = Mutex(micros(iso)) }
    func set(_ iso: String) { now.withLock { $0 = micros(iso) } }
    var read: @Sendable () -> Int64 { { self.now.withLock { $0 } } }
}

@Suite struct MaterializationTests {
    static let header = "customer_id,event_timestamp,created_timestamp,total_spend,txn_count,avg_basket\n"
    static let refs = ["total_spend", "txn_count", "avg_basket"].map { FeatureReference(view: "customer_stats", feature: $0) }

    static func spend(_ store: LocalFeatureStore, _ ids: [Int64]) throws -> [FeatureValue] {
        try store.onlineFeatures(features: [refs[0]], entities: EntityKeys("customer_id", ids.map { .int($0) })).column("total_spend")!.values
    }

    @Test(arguments: OnlineKind.allCases) func onlyRowsInsideTheWindowCountAndTheLatestWins(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let store = try makeStore(
            dir,
            csv: dir.write(
                "f.csv",
                Self.header + """
                    1,2024-01-01T00:00:00Z,,1,1,1
                    1,2024-01-05T00:00:00Z,,5,1,1
                    1,2024-01-09T00:00:00Z,,9,1,1
                    2,2024-01-09T00:00:00Z,,20,1,1
                    3,2024-01-02T00:00:00Z,2024-01-02T00:00:00Z,30,1,1
                    3,2024-01-02T00:00:00Z,2024-01-02T01:00:00Z,31,1,1
                    """), online: online)
        let summary = try store.materialize(start: micros("2024-01-01T00:00:00Z"), end: micros("2024-01-05T00:00:00Z"))
        #expect(summary.views.map(\.entities) == [2])
        #expect(try Self.spend(store, [1, 2, 3]) == [.double(5), .null, .double(31)])
    }

    @Test(arguments: OnlineKind.allCases) func incrementalRunsContinueFromTheLastEndAndNeverWriteOlderOverNewer(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let clock = ManualClock("2024-01-10T00:00:00Z")
        let path = dir.write("f.csv", Self.header + "1,2024-01-08T00:00:00Z,,8,1,1\n1,2024-01-09T12:00:00Z,,9,1,1\n2,2024-01-01T00:00:00Z,,2,1,1\n")
        let store = try makeStore(dir, csv: path, ttl: 3 * 86_400, online: online, clock: clock.read)
        // First run: no history, so it starts at now − ttl = 2024-01-07; customer 2's row is older.
        let first = try store.materializeIncremental(end: micros("2024-01-09T00:00:00Z"))
        #expect(first.views[0].start == micros("2024-01-07T00:00:00Z"))
        #expect(try Self.spend(store, [1, 2]) == [.double(8), .null])
        // Second run picks up where the first ended.
        clock.set("2024-01-10T00:00:00Z")
        let second = try store.materializeIncremental(end: micros("2024-01-10T00:00:00Z"))
        #expect(second.views[0].start == micros("2024-01-09T00:00:00Z"))
        #expect(try Self.spend(store, [1]) == [.double(9)])
        // A backfill of an old window does not overwrite the newer value.
        let backfill = try store.materialize(start: micros("2024-01-01T00:00:00Z"), end: micros("2024-01-08T12:00:00Z"))
        #expect(backfill.views[0].entities == 2)
        #expect(backfill.views[0].written == 1)  // only customer 2 is new
        // Customer 2's row is now stored, but older than the 3-day ttl: not served.
        let r = try store.onlineFeatures(features: [Self.refs[0]], entities: EntityKeys("customer_id", [.int(1), .int(2)]))
        #expect(r.columns[1].values == [.double(9), .null])
        #expect(r.columns[1].statuses == [.present, .outsideMaxAge])
        #expect(try store.lastMaterialized(view: "customer_stats") == micros("2024-01-10T00:00:00Z"))
    }

    @Test(arguments: OnlineKind.allCases) func materializingTwiceChangesNothing(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let store = try makeStore(dir, csv: dir.write("f.csv", Self.header + "1,2024-01-08T00:00:00Z,,8,1,1\n2,2024-01-08T00:00:00Z,,7,1,\n"), online: online)
        let a = try store.materialize(start: 0, end: micros("2024-02-01T00:00:00Z"))
        let b = try store.materialize(start: 0, end: micros("2024-02-01T00:00:00Z"))
        #expect(a.views[0].written == 2)
        #expect(b.views[0].written == 0)
        #expect(try Self.spend(store, [1, 2]) == [.double(8), .double(7)])
    }

    @Test(arguments: OnlineKind.allCases) func aNewerCreatedTimestampForTheSameEventTimeReplaces(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let path = dir.write("f.csv", Self.header + "1,2024-01-08T00:00:00Z,2024-01-08T00:00:00Z,8,1,1\n")
        let store = try makeStore(dir, csv: path, online: online)
        _ = try store.materialize(start: 0, end: micros("2024-02-01T00:00:00Z"))
        dir.write("f.csv", Self.header + "1,2024-01-08T00:00:00Z,2024-01-08T05:00:00Z,80,1,1\n")
        _ = try store.materialize(start: 0, end: micros("2024-02-01T00:00:00Z"))
        #expect(try Self.spend(store, [1]) == [.double(80)])
        dir.write("f.csv", Self.header + "1,2024-01-08T00:00:00Z,2024-01-08T01:00:00Z,70,1,1\n")
        _ = try store.materialize(start: 0, end: micros("2024-02-01T00:00:00Z"))
        #expect(try Self.spend(store, [1]) == [.double(80)])
    }

    @Test func startAfterEndIsRefused() throws {
        let dir = TempDir()
        let store = try makeStore(dir, csv: dir.write("f.csv", Self.header))
        #expect(throws: FeatureStoreError.self) { try store.materialize(start: 10, end: 5) }
    }
}

@Suite struct OnlineTests {
    static let header = MaterializationTests.header

    /// Customers: 1 fresh, 2 with a null avg_basket, 3 stale (older than the 1-day ttl); 4 never seen.
    static func store(_ dir: TempDir, online: OnlineStoreSetting = .sqlite, clock: ManualClock) throws -> LocalFeatureStore {
        let store = try makeStore(
            dir,
            csv: dir.write(
                "f.csv",
                Self.header + "1,2024-01-09T12:00:00Z,,1.5,10,2.5\n2,2024-01-09T12:00:00Z,,2.5,20,\n3,2024-01-01T00:00:00Z,,3.5,30,3\n"),
            ttl: 86_400, online: online, clock: clock.read)
        _ = try store.materialize(start: 0, end: micros("2024-01-10T00:00:00Z"))
        return store
    }

    @Test(arguments: OnlineKind.allCases) func everyStatus(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let clock = ManualClock("2024-01-10T00:00:00Z")
        let store = try Self.store(dir, online: online, clock: clock)
        let r = try store.onlineFeatures(
            features: MaterializationTests.refs, entities: EntityKeys("customer_id", [1, 2, 3, 4].map { .int($0) }))
        #expect(r.featureNames == ["customer_id", "total_spend", "txn_count", "avg_basket"])
        #expect(r.columns[0].values == [.int(1), .int(2), .int(3), .int(4)])
        #expect(r.columns[0].statuses == [.present, .present, .present, .present])
        let basket = r.column("avg_basket")!
        #expect(basket.statuses == [.present, .nullValue, .outsideMaxAge, .notFound])
        #expect(basket.values == [.double(2.5), .null, .null, .null])
        #expect(basket.eventTimestamps == [micros("2024-01-09T12:00:00Z"), micros("2024-01-09T12:00:00Z"), micros("2024-01-01T00:00:00Z"), 0])
        #expect(r.column("txn_count")!.values == [.int(10), .int(20), .null, .null])
        // Later, the fresh values age out too.
        clock.set("2024-01-10T12:00:01Z")
        let later = try store.onlineFeatures(features: MaterializationTests.refs, entities: EntityKeys("customer_id", [.int(1)]))
        #expect(later.column("total_spend")!.statuses == [.outsideMaxAge])
        // Exactly ttl old is still inside (inclusive, as in historical retrieval).
        clock.set("2024-01-10T12:00:00Z")
        let edge = try store.onlineFeatures(features: MaterializationTests.refs, entities: EntityKeys("customer_id", [.int(1)]))
        #expect(edge.column("total_spend")!.statuses == [.present])
    }

    @Test(arguments: OnlineKind.allCases) func keysAsStringsAndFullNamesAndServices(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let store = try Self.store(dir, online: online, clock: ManualClock("2024-01-10T00:00:00Z"))
        try store.apply(FeatureService(name: "fraud", features: [MaterializationTests.refs[1]]))
        let r = try store.onlineFeatures(service: "fraud", entities: EntityKeys("customer_id", [.string("2")]), fullFeatureNames: true)
        #expect(r.featureNames == ["customer_id", "customer_stats__txn_count"])
        #expect(r.columns[1].values == [.int(20)])
    }

    @Test(arguments: OnlineKind.allCases) func aFeatureAddedAfterMaterializationIsNotFoundUntilMaterializedAgain(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let clock = ManualClock("2024-01-10T00:00:00Z")
        let store = try makeStore(
            dir, csv: dir.write("f.csv", Self.header + "1,2024-01-09T12:00:00Z,,1.5,10,2.5\n"),
            features: [Feature(name: "total_spend", type: .float64)], online: online, clock: clock.read)
        _ = try store.materialize(start: 0, end: micros("2024-01-10T00:00:00Z"))
        var view = try store.definitions().views["customer_stats"]!
        view.features.append(Feature(name: "txn_count", type: .int64))
        try store.apply(view)
        let refs = [FeatureReference(view: "customer_stats", feature: "total_spend"), FeatureReference(view: "customer_stats", feature: "txn_count")]
        let before = try store.onlineFeatures(features: refs, entities: EntityKeys("customer_id", [.int(1)]))
        #expect(before.columns[1].statuses == [.present])
        #expect(before.columns[2].statuses == [.notFound])
        _ = try store.materialize(start: 0, end: micros("2024-01-10T00:00:00Z"))
        let after = try store.onlineFeatures(features: refs, entities: EntityKeys("customer_id", [.int(1)]))
        #expect(after.columns[2].values == [.int(10)])
    }

    @Test(arguments: OnlineKind.allCases) func definitionsWrittenByAnotherInstanceAreSeen(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let clock = ManualClock("2024-01-10T00:00:00Z")
        let a = try Self.store(dir, online: online, clock: clock)
        _ = try a.onlineFeatures(features: MaterializationTests.refs, entities: EntityKeys("customer_id", [.int(1)]))
        let b = try LocalFeatureStore(directory: a.directory)
        try b.remove(.view, named: "customer_stats")
        #expect(throws: FeatureStoreError.self) {
            _ = try a.onlineFeatures(features: MaterializationTests.refs, entities: EntityKeys("customer_id", [.int(1)]))
        }
    }

    @Test(arguments: OnlineKind.allCases) func badRequestsNameTheField(_ kind: OnlineKind) async throws {
        let online = try await kind.setting()
        let dir = TempDir()
        let store = try Self.store(dir, online: online, clock: ManualClock("2024-01-10T00:00:00Z"))
        #expect(throws: FeatureStoreError.badRequest(field: "entities", message: "feature view 'customer_stats' needs the join key 'customer_id'; add it to entities")) {
            _ = try store.onlineFeatures(features: MaterializationTests.refs, entities: EntityKeys("driver_id", [.int(1)]))
        }
        #expect(throws: FeatureStoreError.badRequest(field: "entities.customer_id", message: "'abc' is not an integer key")) {
            _ = try store.onlineFeatures(features: MaterializationTests.refs, entities: EntityKeys("customer_id", [.string("abc")]))
        }
    }

    @Test func payloadRoundTrips() {
        let values: [FeatureValue] = [.null, .int(-5), .double(1.25), .string("héllo"), .bool(true), .bool(false)]
        let data = Payload.encode(values)
        let back = data.withUnsafeBytes { Payload.decode($0, count: values.count) }
        #expect(back == values)
        #expect(data.withUnsafeBytes { Payload.decode(UnsafeRawBufferPointer(rebasing: $0[0..<3]), count: values.count) } == nil)
    }
}
