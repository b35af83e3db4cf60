import EngineStorage
import Foundation
import GRDB

/// What the agent reports about one endpoint.
public struct EndpointStatus: Sendable, Codable, Hashable {
    public struct Replica: Sendable, Codable, Hashable {
        public enum State: String, Sendable, Codable, Hashable {
            case starting, ready, draining, restarting
        }
        public var pid: Int32
        public var port: Int
        public var state: State
        public var restarts: Int
        public init(pid: Int32, port: Int, state: State, restarts: Int) {
            self.pid = pid
            self.port = port
            self.state = state
            self.restarts = restarts
        }
    }

    public struct Version: Sendable, Codable, Hashable {
        /// The model version id, e.g. `fraud/3`.
        public var version: String
        /// `primary` or `canary`.
        public var role: String
        /// The share of traffic it gets, 0–100.
        public var percent: Double
        public var desiredReplicas: Int
        public var replicas: [Replica]
        public init(version: String, role: String, percent: Double, desiredReplicas: Int, replicas: [Replica]) {
            self.version = version
            self.role = role
            self.percent = percent
            self.desiredReplicas = desiredReplicas
            self.replicas = replicas
        }
        public var readyReplicas: Int { replicas.filter { $0.state == .ready }.count }
    }

    public var name: String
    public var url: String
    /// The config generation this status reflects.
    public var generation: Int
    /// True when every version of the generation has its replicas ready and the router listens.
    public var ready: Bool
    /// What is not ready, or the error that keeps the endpoint from serving.
    public var message: String?
    public var versions: [Version]
    public var updatedAt: Double

    public init(name: String, url: String, generation: Int, ready: Bool, message: String?, versions: [Version], updatedAt: Double) {
        self.name = name
        self.url = url
        self.generation = generation
        self.ready = ready
        self.message = message
        self.versions = versions
        self.updatedAt = updatedAt
    }

    public var readyReplicas: Int { versions.reduce(0) { $0 + $1.readyReplicas } }
    /// The version that gets the main share of traffic.
    public var servedVersion: String? { versions.first { $0.role == "primary" }?.version }
}

/// One autoscaler decision with its inputs.
public struct ScalingDecision: Sendable, Codable, Hashable {
    public var endpoint: String
    public var time: Double
    public var current: Int
    public var desired: Int
    public var metric: String
    /// The measured per-replica value of the metric.
    public var value: Double
    public var target: Double
    /// The recommendation before stabilization and clamping.
    public var recommended: Int
    public var reason: String

    public init(endpoint: String, time: Double, current: Int, desired: Int, metric: String, value: Double, target: Double, recommended: Int, reason: String) {
        self.endpoint = endpoint
        self.time = time
        self.current = current
        self.desired = desired
        self.metric = metric
        self.value = value
        self.target = target
        self.recommended = recommended
        self.reason = reason
    }
}

/// The serving engine's control store, `<data_dir>/serving/control.sqlite`: desired endpoint
/// configs (written by `apply`), their status and the autoscaler's decisions (written by the agent).
public final class ControlStore: Sendable {
    public let path: String
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
        pool = try migrator.openPool(path: path, configuration: configuration)
    }

    private static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// Stores the desired config; returns its generation (bumped only when the config changed).
    @discardableResult
    public func putEndpoint(_ config: EndpointConfig) throws -> Int {
        let text = String(decoding: try Self.encoder.encode(config), as: UTF8.self)
        return try pool.write { db in
            let row = try Row.fetchOne(db, sql: "SELECT config, generation FROM endpoint WHERE name = ?", arguments: [config.name])
            if let row, (row["config"] as String) == text { return row["generation"] as Int }
            let generation = ((row?["generation"] as Int?) ?? 0) + 1
            try db.execute(
                sql: "INSERT OR REPLACE INTO endpoint (name, config, generation, updated_at) VALUES (?, ?, ?, ?)",
                arguments: [config.name, text, generation, Date().timeIntervalSince1970])
            return generation
        }
    }

    public func removeEndpoint(_ name: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM endpoint WHERE name = ?", arguments: [name]) }
    }

    /// The desired configs with their generations.
    public func endpoints() throws -> [(config: EndpointConfig, generation: Int)] {
        let rows = try pool.read { db in try Row.fetchAll(db, sql: "SELECT config, generation FROM endpoint ORDER BY name") }
        return try rows.map { row in
            (try JSONDecoder().decode(EndpointConfig.self, from: Data((row["config"] as String).utf8)), row["generation"] as Int)
        }
    }

    public func endpoint(_ name: String) throws -> (config: EndpointConfig, generation: Int)? {
        try endpoints().first { $0.config.name == name }
    }

    public func setStatus(_ status: EndpointStatus) throws {
        let text = String(decoding: try Self.encoder.encode(status), as: UTF8.self)
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO endpoint_status (name, status, updated_at) VALUES (?, ?, ?)",
                           arguments: [status.name, text, status.updatedAt])
        }
    }

    public func removeStatus(_ name: String) throws {
        try pool.write { db in try db.execute(sql: "DELETE FROM endpoint_status WHERE name = ?", arguments: [name]) }
    }

    public func status(_ name: String) throws -> EndpointStatus? {
        let text = try pool.read { db in try String.fetchOne(db, sql: "SELECT status FROM endpoint_status WHERE name = ?", arguments: [name]) }
        return try text.map { try JSONDecoder().decode(EndpointStatus.self, from: Data($0.utf8)) }
    }

    public func statuses() throws -> [EndpointStatus] {
        let texts = try pool.read { db in try String.fetchAll(db, sql: "SELECT status FROM endpoint_status ORDER BY name") }
        return try texts.map { try JSONDecoder().decode(EndpointStatus.self, from: Data($0.utf8)) }
    }

    public func record(_ decision: ScalingDecision) throws {
        let text = String(decoding: try Self.encoder.encode(decision), as: UTF8.self)
        try pool.write { db in
            try db.execute(sql: "INSERT INTO scaling_decision (endpoint, time, decision) VALUES (?, ?, ?)",
                           arguments: [decision.endpoint, decision.time, text])
            // Keep the log bounded: the last 1,000 decisions per endpoint.
            try db.execute(
                sql: "DELETE FROM scaling_decision WHERE endpoint = ? AND id <= (SELECT id FROM scaling_decision WHERE endpoint = ? ORDER BY id DESC LIMIT 1 OFFSET 1000)",
                arguments: [decision.endpoint, decision.endpoint])
        }
    }

    /// The most recent decisions for an endpoint, newest first.
    public func decisions(endpoint: String, limit: Int = 20) throws -> [ScalingDecision] {
        let texts = try pool.read { db in
            try String.fetchAll(db, sql: "SELECT decision FROM scaling_decision WHERE endpoint = ? ORDER BY id DESC LIMIT ?",
                                arguments: [endpoint, limit])
        }
        return try texts.map { try JSONDecoder().decode(ScalingDecision.self, from: Data($0.utf8)) }
    }
}
