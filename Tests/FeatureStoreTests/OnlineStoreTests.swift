import Foundation
import MLInfraTesting
import Testing

@testable import FeatureStore
import Synchronization

/// What the online stores must do alike (the online tests run on both; these compare them and
/// race them), and what only the Redis store has: its URL, its saved setting, its keys.
@Suite struct OnlineStoreTests {
    static let header = MaterializationTests.header

    /// Rows over three days for customers 1–5: fresh, stale, null and tied values; customer 6 never appears.
    static let rows = header + """
        1,2024-01-09T12:00:00Z,,1.5,10,2.5
        2,2024-01-09T12:00:00Z,,2.5,20,
        3,2024-01-01T00:00:00Z,,3.5,30,3
        4,2024-01-09T08:00:00Z,2024-01-09T08:00:00Z,4.0,40,4
        4,2024-01-09T08:00:00Z,2024-01-09T09:00:00Z,4.5,41,4
        5,2024-01-07T00:00:00Z,,5.5,50,5
        5,2024-01-09T23:00:00Z,,5.75,51,5

        """

    @Test func bothStoresGiveTheSameAnswers() async throws {
        let clock = ManualClock("2024-01-10T00:00:00Z")
        var answers: [OnlineKind: [OnlineResponse]] = [:]
        for kind in OnlineKind.allCases {
            let dir = TempDir()
            let store = try makeStore(dir, csv: dir.write("f.csv", Self.rows), ttl: 86_400, online: try await kind.setting(), clock: clock.read)
            try store.apply(FeatureService(name: "svc", features: [MaterializationTests.refs[2], MaterializationTests.refs[0]]))
            _ = try store.materialize(start: micros("2024-01-01T00:00:00Z"), end: micros("2024-01-09T00:00:00Z"))
            _ = try store.materialize(start: micros("2024-01-08T00:00:00Z"), end: micros("2024-01-10T00:00:00Z"))
            let entities = EntityKeys("customer_id", [1, 2, 3, 4, 5, 6].map { .int($0) })
            var got: [OnlineResponse] = []
            for at in ["2024-01-10T00:00:00Z", "2024-01-10T12:00:00Z", "2024-01-10T12:00:01Z", "2024-01-11T00:00:00Z"] {
                clock.set(at)
                got.append(try store.onlineFeatures(features: MaterializationTests.refs, entities: entities))
                got.append(try store.onlineFeatures(service: "svc", entities: entities, fullFeatureNames: true))
            }
            answers[kind] = got
        }
        #expect(answers[.sqlite] == answers[.redis])
        let first = try #require(answers[.redis]?.first)
        #expect(first.column("avg_basket")!.statuses == [.present, .nullValue, .outsideMaxAge, .present, .present, .notFound])
        #expect(first.column("txn_count")!.values == [.int(10), .int(20), .null, .int(41), .int(51), .null])
    }

    /// Four materializations at once over overlapping windows, each from its own handle: only the
    /// newest row of each entity (day 6, from the last window) may remain.
    @Test(arguments: OnlineKind.allCases) func concurrentMaterializationsNeverLeaveAnOlderValue(_ kind: OnlineKind) async throws {
        let dir = TempDir()
        let entities = 3000
        var csv = Self.header
        for day in 0..<7 {
            for k in 0..<entities { csv += "\(k),2024-01-0\(day + 1)T00:00:00Z,,\(day * 10_000 + k),\(day),1\n" }
        }
        let online = try await kind.setting()
        let store = try makeStore(dir, csv: dir.write("f.csv", csv), online: online)
        let handles = try (0..<4).map { _ in try LocalFeatureStore(directory: store.directory) }
        for round in 0..<3 {
            if round > 0 { try store.removeOnlineValues() }
            // Window i: days i … i+3; the last one holds day 6, the others only older days.
            let failures = FailureBox()
            DispatchQueue.concurrentPerform(iterations: 4) { i in
                do {
                    _ = try handles[i].materialize(
                        start: micros("2024-01-0\(i + 1)T00:00:00Z"), end: micros("2024-01-0\(i + 4)T00:00:00Z"))
                } catch {
                    failures.add("\(error)")
                }
            }
            #expect(failures.all.isEmpty)
            let r = try store.onlineFeatures(
                features: [MaterializationTests.refs[1]], entities: EntityKeys("customer_id", (0..<entities).map { .int(Int64($0)) }))
            let days = r.column("txn_count")!.values
            #expect(days.allSatisfy { $0 == .int(6) }, "round \(round): \(days.filter { $0 != .int(6) }.count) entities hold an older day")
        }
    }

    static func view(csv: String) -> FeatureView? {
        FeatureView(
            name: "customer_stats", entities: ["customer"], source: .csv(csv, timestamp: "event_timestamp", createdTimestamp: "created_timestamp"),
            features: [Feature(name: "total_spend", type: .float64), Feature(name: "txn_count", type: .int64), Feature(name: "avg_basket", type: .float64)])
    }

    final class FailureBox: Sendable {
        private let items = Mutex<[String]>([])
        func add(_ s: String) { items.withLock { $0.append(s) } }
        var all: [String] { items.withLock { $0 } }
    }

    // MARK: Redis only

    @Test func theRedisSettingIsSavedForLaterOpensReadableByTheOwnerOnly() async throws {
        let dir = TempDir()
        let online = try await OnlineKind.redis.setting()
        let store = try makeStore(dir, csv: dir.write("f.csv", Self.rows), online: online)
        _ = try store.materialize(start: 0, end: micros("2024-01-10T00:00:00Z"))
        let path = OnlineStoreSetting.file(in: store.directory)
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let reopened = try LocalFeatureStore(directory: store.directory)
        #expect(reopened.onlineSetting == online)
        let r = try reopened.onlineFeatures(features: [MaterializationTests.refs[1]], entities: EntityKeys("customer_id", [.int(4)]))
        #expect(r.columns[1].values == [.int(41)])
        // Back to SQLite: the file goes, and the SQLite table (never written) has nothing.
        let local = try LocalFeatureStore(directory: store.directory, online: .sqlite)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try local.onlineFeatures(features: [MaterializationTests.refs[1]], entities: EntityKeys("customer_id", [.int(4)])).columns[1].statuses == [.notFound])
    }

    @Test func removingAViewOrTheStoreRemovesItsKeys() async throws {
        let server = try await RedisTestServer.shared()
        let dir = TempDir()
        let online = try await OnlineKind.redis.setting()
        guard case .redis(let url, let namespace) = online else { return }
        let store = try makeStore(dir, csv: dir.write("f.csv", Self.rows), online: online)
        try store.apply(Self.view(csv: dir.file("f.csv"))!.renamed("other"))
        _ = try store.materialize(start: 0, end: micros("2024-01-10T00:00:00Z"))
        let connection = try RedisConnection(try RedisURL(parsing: server.url()))
        func keys() throws -> [String] {
            guard case .array(let parts) = try connection.command(["KEYS", RedisOnlineStore.globEscape("mlinfra:\(namespace):") + "*"]) else { return [] }
            return parts.compactMap { if case .string(let b) = $0 { String(decoding: b, as: UTF8.self) } else { nil } }.sorted()
        }
        #expect(try keys().count == 2 * 6)  // 5 entities and a layout hash per view
        try store.remove(.view, named: "customer_stats")
        #expect(try keys().allSatisfy { $0.hasPrefix("mlinfra:\(namespace):other") })
        #expect(try keys().count == 6)
        try store.removeOnlineValues()
        #expect(try keys().isEmpty)
        #expect(url.description == "redis://127.0.0.1:\(server.port)/0")
    }

    @Test func errorsNameTheServerButNeverThePassword() async throws {
        let server = try await RedisTestServer.shared()
        let wrong = try RedisURL(parsing: "redis://:not-the-password-x9@127.0.0.1:\(server.port)/0")
        #expect(wrong.description == "redis://127.0.0.1:\(server.port)/0")
        let refused = #expect(throws: FeatureStoreError.self) { _ = try RedisConnection(wrong) }
        #expect(refused.map { "\($0)".contains("refused the password") && !"\($0)".contains("not-the-password-x9") } == true)
        let unreachable = #expect(throws: FeatureStoreError.self) {
            _ = try RedisConnection(try RedisURL(parsing: "redis://:secret-pw-77@127.0.0.1:1/0"))
        }
        #expect(unreachable.map { "\($0)".contains("redis://127.0.0.1:1/0") && !"\($0)".contains("secret-pw-77") } == true)
        for bad in ["http://:pw-123@x:1", "redis://:pw-123@/0", "redis://:pw-123@h:1/x", "redis://:pw-123@h:1/0?ssl=1"] {
            let error = #expect(throws: FeatureStoreError.self) { _ = try RedisURL(parsing: bad) }
            #expect(error.map { "\($0)".hasPrefix("online.url: the Redis URL") && !"\($0)".contains("pw-123") } == true, "\(bad)")
        }
    }

    @Test func keyNamesCannotCollide() {
        #expect(RedisOnlineStore.escape("a:b%c") == "a%3Ab%25c")
        let store = RedisOnlineStore(url: try! RedisURL(parsing: "redis://127.0.0.1"), namespace: "n:s")
        #expect(store.layoutKey("v:1") == "mlinfra:n%3As:v%3A1")
        #expect(String(decoding: store.rowPrefix("v"), as: UTF8.self) == "mlinfra:n%3As:v:")
        #expect(RedisOnlineStore.globEscape("a*b?[c]\\") == "a\\*b\\?\\[c\\]\\\\")
        // Byte order of the stored times is time order, across the sign.
        let times: [Int64] = [.min, -5, -1, 0, 1, 1_704_067_200_000_000, .max]
        let encoded = times.map { t -> [UInt8] in
            var out: [UInt8] = []
            RedisOnlineStore.appendOrdered(t, to: &out)
            return out
        }
        #expect(encoded == encoded.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(encoded.map { $0.withUnsafeBytes { RedisOnlineStore.readOrdered($0, at: 0) } } == times)
    }
}

extension FeatureView {
    func renamed(_ name: String) -> FeatureView {
        var copy = self
        copy.name = name
        return copy
    }
}
