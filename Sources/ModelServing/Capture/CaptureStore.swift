import EngineStorage
import Foundation
import GRDB

/// One captured instance: what went in, what came out.
public struct CaptureRecord: Sendable, Hashable, Codable {
    public var endpoint: String
    public var version: String
    /// Unix seconds.
    public var time: Double
    /// JSON object, feature → value (null for missing).
    public var inputs: String
    /// JSON object, output name → value.
    public var outputs: String
    public var latencyMs: Double

    public init(endpoint: String, version: String, time: Double, inputs: String, outputs: String, latencyMs: Double) {
        self.endpoint = endpoint
        self.version = version
        self.time = time
        self.inputs = inputs
        self.outputs = outputs
        self.latencyMs = latencyMs
    }
}

/// The capture store the drift monitor reads: `<data_dir>/serving/capture.sqlite`, table
/// `capture(id, endpoint, version, time, inputs, outputs, latency_ms)`, one row per instance.
public final class CaptureStore: Sendable {
    public let path: String
    private let pool: DatabasePool

    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("capture.sqlite").path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "capture", ifNotExists: true) { t in
                t.column("id", .integer).primaryKey()
                t.column("endpoint", .text).notNull()
                t.column("version", .text).notNull()
                t.column("time", .double).notNull()
                t.column("inputs", .text).notNull()
                t.column("outputs", .text).notNull()
                t.column("latency_ms", .double).notNull()
            }
            try db.create(index: "capture_endpoint_time", on: "capture", columns: ["endpoint", "time"], ifNotExists: true)
        }
        pool = try migrator.openPool(path: path, configuration: configuration)
    }

    public func insert(_ records: [CaptureRecord]) throws {
        guard !records.isEmpty else { return }
        try pool.write { db in
            let statement = try db.makeStatement(
                sql: "INSERT INTO capture (endpoint, version, time, inputs, outputs, latency_ms) VALUES (?, ?, ?, ?, ?, ?)")
            for r in records {
                try statement.execute(arguments: [r.endpoint, r.version, r.time, r.inputs, r.outputs, r.latencyMs])
            }
        }
    }

    public func records(endpoint: String, limit: Int = 1000) throws -> [CaptureRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM capture WHERE endpoint = ? ORDER BY time, id LIMIT ?", arguments: [endpoint, limit]).map {
                CaptureRecord(endpoint: $0["endpoint"], version: $0["version"], time: $0["time"], inputs: $0["inputs"],
                              outputs: $0["outputs"], latencyMs: $0["latency_ms"])
            }
        }
    }

    public func count(endpoint: String) throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM capture WHERE endpoint = ?", arguments: [endpoint]) ?? 0 }
    }
}
