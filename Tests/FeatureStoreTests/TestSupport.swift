import Foundation
import MLInfraTesting
import Testing

@testable import FeatureStore

/// A fresh temporary directory, removed when the value is released.
final class TempDir: @unchecked Sendable {
    // @unchecked Sendable: the path never changes after init.
    let path: String

    init() {
        path = NSTemporaryDirectory() + "fs-test-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` to `name` inside the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let p = path + "/" + name
        FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    func file(_ name: String) -> String { path + "/" + name }

    func read(_ name: String) -> String {
        (try? String(contentsOfFile: path + "/" + name, encoding: .utf8)) ?? ""
    }
}

/// Seconds since the epoch of an ISO time, in microseconds.
func micros(_ iso: String) -> Int64 { Timestamp.parse(iso)! }

/// Splits simple CSV text (no quoted commas) into rows of cells.
func csvRows(_ text: String) -> [[String]] {
    text.split(separator: "\n", omittingEmptySubsequences: true).map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
}

let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/peers-seed42").path

/// A store with one entity `customer` (customer_id, int64 unless `keyType` says otherwise) and one view over `csv`.
func makeStore(
    _ dir: TempDir, csv: String, ttl: Int64 = 0, created: String? = "created_timestamp",
    features: [Feature] = [Feature(name: "total_spend", type: .float64), Feature(name: "txn_count", type: .int64), Feature(name: "avg_basket", type: .float64)],
    view: String = "customer_stats", keyType: ValueType = .int64, online: OnlineStoreSetting = .sqlite,
    clock: @escaping @Sendable () -> Int64 = Timestamp.now
) throws -> LocalFeatureStore {
    let store = try LocalFeatureStore(directory: dir.path + "/store", online: online, clock: clock)
    try store.apply(Entity(name: "customer", joinKeys: ["customer_id"], valueType: keyType))
    try store.apply(
        FeatureView(
            name: view, entities: ["customer"], source: .csv(csv, timestamp: "event_timestamp", createdTimestamp: created),
            features: features, ttlSeconds: ttl))
    return store
}

/// The online stores the online tests run against, each test on both: SQLite, and Redis on the
/// test process's private server (a fresh namespace per test, so tests never see each other's keys).
enum OnlineKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case redis

    var testDescription: String { rawValue }

    func setting() async throws -> OnlineStoreSetting {
        switch self {
        case .sqlite: return .sqlite
        case .redis: return .redis(try RedisURL(parsing: try await RedisTestServer.shared().url()), namespace: "test-" + UUID().uuidString)
        }
    }
}
