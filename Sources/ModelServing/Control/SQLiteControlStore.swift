import EngineStorage
import Foundation
import GRDB

/// The one-machine control store, `<data_dir>/serving/control.sqlite`: desired documents
/// (written by `apply`), the reports and the autoscaler's decisions (written by the agent of the
/// same data directory), and that agent's lease.
public final class SQLiteControlStore: ControlStore {
    public let path: String
    public var location: String { path }
    private let pool: DatabasePool

    public init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        path = directory.appendingPathComponent("control.sqlite").path
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "endpoint") { t in
                t.primaryKey("name", .text)
                t.column("config", .text).notNull()
                t.column("generation", .integer).notNull()
                t.column("updated_at", .double).notNull()
            }
            try db.create(table: "endpoint_status") { t in
                t.primaryKey("name", .text)
                t.column("status", .text).notNull()
                t.column("updated_at", .double).notNull()
            }
            try db.create(table: "scaling_decision") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("endpoint", .text).notNull()
                t.column("time", .double).notNull()
                t.column("decision", .text).notNull()
            }
            try db.create(index: "scaling_decision_endpoint_time", on: "scaling_decision", columns: ["endpoint", "time"])
        }
        // Reports per host, load balancers, and the agents' leases. The old statuses are dropped:
        // the agent rewrites its own within seconds.
        migrator.registerMigration("v2 hosts") { db in
            try db.drop(table: "endpoint_status")
            try db.create(table: ControlKind.loadBalancer.table) { t in
                t.primaryKey("name", .text)
                t.column("config", .text).notNull()
                t.column("generation", .integer).notNull()
                t.column("updated_at", .double).notNull()
            }
            for kind in ControlKind.allCases {
                try db.create(table: kind.statusTable) { t in
                    t.column("name", .text).notNull()
                    t.column("host", .text).notNull()
                    t.column("status", .text).notNull()
                    t.column("updated_at", .double).notNull()
                    t.primaryKey(["name", "host"])
                }
            }
            try db.create(table: "host_lease") { t in
                t.primaryKey("host", .text)
                t.column("holder", .text).notNull()
                t.column("advertise", .text)
                t.column("port_offset", .integer).notNull()
                t.column("expires_at", .double).notNull()
            }
        }
        pool = try migrator.openPool(path: path, configuration: configuration)
    }

    public func put(_ kind: ControlKind, name: String, text: String) throws -> Int {
        try pool.write { db in
            let row = try Row.fetchOne(db, sql: "SELECT config, generation FROM \(kind.table) WHERE name = ?", arguments: [name])
            if let row, (row["config"] as String) == text { return row["generation"] as Int }
            let generation = ((row?["generation"] as Int?) ?? 0) + 1
            try db.execute(
                sql: "INSERT OR REPLACE INTO \(kind.table) (name, config, generation, updated_at) VALUES (?, ?, ?, ?)",
                arguments: [name, text, generation, Date().timeIntervalSince1970])
            return generation
        }
    }

    public func remove(_ kind: ControlKind, name: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM \(kind.table) WHERE name = ?", arguments: [name]) }
    }

    public func documents(_ kind: ControlKind) throws -> [ControlDocument] {
        let rows = try pool.read { db in try Row.fetchAll(db, sql: "SELECT name, config, generation FROM \(kind.table) ORDER BY name") }
        return rows.map { ControlDocument(name: $0["name"], text: $0["config"], generation: $0["generation"]) }
    }

    public func setReport(_ kind: ControlKind, name: String, host: String, text: String, updatedAt: Double) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO \(kind.statusTable) (name, host, status, updated_at) VALUES (?, ?, ?, ?)",
                           arguments: [name, host, text, updatedAt])
        }
    }

    public func removeReport(_ kind: ControlKind, name: String, host: String?) throws {
        try pool.write { db in
            if let host {
                try db.execute(sql: "DELETE FROM \(kind.statusTable) WHERE name = ? AND host = ?", arguments: [name, host])
            } else {
                try db.execute(sql: "DELETE FROM \(kind.statusTable) WHERE name = ?", arguments: [name])
            }
        }
    }

    public func reports(_ kind: ControlKind) throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "SELECT status FROM \(kind.statusTable) ORDER BY name, host") }
    }

    public func record(_ decision: ScalingDecision) throws {
        let text = try ControlJSON.text(decision)
        try pool.write { db in
            try db.execute(sql: "INSERT INTO scaling_decision (endpoint, time, decision) VALUES (?, ?, ?)",
                           arguments: [decision.endpoint, decision.time, text])
            // Keep the log bounded: the last 1,000 decisions per endpoint.
            try db.execute(
                sql: "DELETE FROM scaling_decision WHERE endpoint = ? AND id <= (SELECT id FROM scaling_decision WHERE endpoint = ? ORDER BY id DESC LIMIT 1 OFFSET 1000)",
                arguments: [decision.endpoint, decision.endpoint])
        }
    }

    public func decisions(endpoint: String, limit: Int) throws -> [ScalingDecision] {
        let texts = try pool.read { db in
            try String.fetchAll(db, sql: "SELECT decision FROM scaling_decision WHERE endpoint = ? ORDER BY id DESC LIMIT ?",
                                arguments: [endpoint, limit])
        }
        return try texts.map { try ControlJSON.decode(ScalingDecision.self, $0) }
    }

    public func renewLease(_ identity: HostIdentity, holder: String, seconds: Double) throws {
        let now = Date().timeIntervalSince1970
        try pool.write { db in
            let current = try Row.fetchOne(db, sql: "SELECT holder, expires_at FROM host_lease WHERE host = ?", arguments: [identity.name])
            if let current, (current["holder"] as String) != holder, (current["expires_at"] as Double) > now {
                throw HostLeaseTaken(host: identity.name)
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO host_lease (host, holder, advertise, port_offset, expires_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [identity.name, holder, identity.advertise, identity.portOffset, now + seconds])
        }
    }

    public func releaseLease(host: String, holder: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM host_lease WHERE host = ? AND holder = ?", arguments: [host, holder]) }
    }

    public func liveHosts() throws -> [HostLease] {
        let rows = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT host, advertise, port_offset, expires_at FROM host_lease WHERE expires_at > ? ORDER BY host",
                             arguments: [Date().timeIntervalSince1970])
        }
        return rows.map { HostLease(host: $0["host"], advertise: $0["advertise"], portOffset: $0["port_offset"], expiresAt: $0["expires_at"]) }
    }

    /// Polls the desired documents and leases every 100 ms: one machine, one file, no server to notify.
    public func waitForChange(timeout: Double) async {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(timeout)
        let before = try? revision()
        while clock.now < deadline, !Task.isCancelled {
            try? await clock.sleep(for: min(.milliseconds(100), max(.zero, clock.now.duration(to: deadline))))
            if (try? revision()) != before { return }
        }
    }

    /// Changes with every put and remove of a desired document, and every lease taken or given up.
    private func revision() throws -> [String] {
        try pool.read { db in
            var parts: [String] = []
            for kind in ControlKind.allCases {
                parts += try String.fetchAll(db, sql: "SELECT name || ':' || generation FROM \(kind.table) ORDER BY name")
            }
            return parts + (try String.fetchAll(db, sql: "SELECT host || ':' || holder FROM host_lease ORDER BY host"))
        }
    }
}
