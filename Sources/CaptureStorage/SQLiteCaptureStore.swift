import EngineStorage
import Foundation
import GRDB

/// The one-machine capture store: `<directory>/capture.sqlite` (WAL), table
/// `capture(id, endpoint, version, time, request_id, entity, inputs, outputs, latency_ms)`, one row per instance.
public final class SQLiteCaptureStore: CaptureStore {
    public let path: String
    private let pool: DatabasePool

    /// Opens the store, creating it when `create` (the writer); a reader gets `notFound` for a
    /// store that does not exist yet.
    public init(directory: String, create: Bool = true) throws {
        path = URL(fileURLWithPath: directory).appendingPathComponent("capture.sqlite").path
        if !create && !FileManager.default.fileExists(atPath: path) {
            throw CaptureStoreError(.notFound, "no capture store at \(path)",
                                    remedy: "enable capture on the endpoint (capture: { sample_percent: N }) and send it traffic")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            pool = try Self.migrator.openPool(path: path, configuration: configuration)
        } catch {
            throw CaptureStoreError(.unavailable, "cannot open the capture store \(path): \(error)", remedy: "check the file and its directory's permissions")
        }
    }

    public var location: String { path }

    static var migrator: DatabaseMigrator {
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
        migrator.registerMigration("v2 request id and entity") { db in
            try db.alter(table: "capture") { t in
                t.add(column: "request_id", .text)
                t.add(column: "entity", .text)
            }
        }
        migrator.registerMigration("v3 labels") { db in
            try db.create(table: "label") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("endpoint", .text).notNull()
                t.column("request_id", .text)
                t.column("entity", .text)
                t.column("time", .double)
                t.column("label", .double).notNull()
                t.column("received", .double).notNull()
            }
            try db.create(index: "label_endpoint_received", on: "label", columns: ["endpoint", "received"])
        }
        return migrator
    }

    public func append(_ records: [CaptureRecord]) throws {
        guard !records.isEmpty else { return }
        try failing("write to") {
            try pool.write { db in
                let statement = try db.makeStatement(
                    sql: "INSERT INTO capture (endpoint, version, time, request_id, entity, inputs, outputs, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
                for r in records {
                    try statement.execute(arguments: [r.endpoint, r.version, r.time, r.requestID, r.entity, r.inputs, r.outputs, r.latencyMs])
                }
            }
        }
    }

    public func records(endpoint: String, after start: Double, through end: Double, limit: Int?) throws -> [CaptureRecord] {
        try failing("read") {
            try pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT id, endpoint, version, time, request_id, entity, inputs, outputs, latency_ms FROM capture
                    WHERE endpoint = ? AND time > ? AND time <= ? ORDER BY time, id LIMIT ?
                    """, arguments: [endpoint, start, end, limit ?? -1]).map {
                    CaptureRecord(id: $0["id"], endpoint: $0["endpoint"], version: $0["version"], time: $0["time"], requestID: $0["request_id"],
                                  entity: $0["entity"], inputs: $0["inputs"], outputs: $0["outputs"], latencyMs: $0["latency_ms"])
                }
            }
        }
    }

    public func appendLabels(_ labels: [LabelRecord]) throws {
        guard !labels.isEmpty else { return }
        try failing("write labels to") {
            try pool.write { db in
                let statement = try db.makeStatement(
                    sql: "INSERT INTO label (endpoint, request_id, entity, time, label, received) VALUES (?, ?, ?, ?, ?, ?)")
                for l in labels { try statement.execute(arguments: [l.endpoint, l.requestID, l.entity, l.time, l.label, l.received]) }
            }
        }
    }

    public func labels(endpoint: String, receivedAfter start: Double, through end: Double) throws -> [LabelRecord] {
        try failing("read labels from") {
            try pool.read { db in
                try Row.fetchAll(db, sql: """
                    SELECT endpoint, request_id, entity, time, label, received FROM label
                    WHERE endpoint = ? AND received > ? AND received <= ? ORDER BY received, id
                    """, arguments: [endpoint, start, end]).map {
                    LabelRecord(endpoint: $0["endpoint"], requestID: $0["request_id"], entity: $0["entity"], time: $0["time"],
                                label: $0["label"], received: $0["received"])
                }
            }
        }
    }

    public func latestTime(endpoint: String) throws -> Double? {
        try failing("read") {
            try pool.read { db in try Double.fetchOne(db, sql: "SELECT MAX(time) FROM capture WHERE endpoint = ?", arguments: [endpoint]) }
        }
    }

    public func count(endpoint: String) throws -> Int {
        try failing("read") {
            try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM capture WHERE endpoint = ?", arguments: [endpoint]) ?? 0 }
        }
    }

    private func failing<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch {
            throw CaptureStoreError(.unavailable, "cannot \(what) the capture store \(path): \(error)", remedy: "check that the file is not damaged or locked")
        }
    }
}
