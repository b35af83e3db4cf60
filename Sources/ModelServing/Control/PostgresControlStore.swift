import EnginePostgres
import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Synchronization

/// The team's control store: the tables of one schema (default `mlinfra_control`) in a
/// PostgreSQL database that `apply` (wherever it runs) and the agents of every serving host share.
///
/// A change to a desired config sends `NOTIFY <schema>_changed` in its transaction, and each
/// agent keeps one connection listening, so agents hear of a change at once. Leases expire by
/// the server's clock (`clock_timestamp()`), so the hosts' clocks need not agree.
public final class PostgresControlStore: ControlStore {
    public let client: BlockingPostgres
    public let schema: String
    public var location: String { "schema \(schema) of \(client.url)" }
    private var channel: String { schema + "_changed" }
    private let changes = ChangeSignal()
    private let listener = Mutex<Task<Void, Never>?>(nil)

    public static let defaultSchema = "mlinfra_control"

    static let migrations: [PostgresMigration] = [
        PostgresMigration(version: 1, name: "endpoints and load balancers, reports per host, scaling decisions, host leases") { s in
            ControlKind.allCases.flatMap { kind in
                [
                    """
                    CREATE TABLE \(s).\(kind.table) (
                        name text COLLATE "C" PRIMARY KEY,
                        config text NOT NULL,
                        generation bigint NOT NULL,
                        updated_at double precision NOT NULL)
                    """,
                    """
                    CREATE TABLE \(s).\(kind.statusTable) (
                        name text COLLATE "C" NOT NULL,
                        host text COLLATE "C" NOT NULL,
                        status text NOT NULL,
                        updated_at double precision NOT NULL,
                        PRIMARY KEY (name, host))
                    """,
                ]
            } + [
                """
                CREATE TABLE \(s).scaling_decision (
                    id bigserial PRIMARY KEY,
                    endpoint text NOT NULL,
                    time double precision NOT NULL,
                    decision text NOT NULL)
                """,
                "CREATE INDEX scaling_decision_endpoint_id ON \(s).scaling_decision (endpoint, id)",
                """
                CREATE TABLE \(s).host_lease (
                    host text COLLATE "C" PRIMARY KEY,
                    holder text NOT NULL,
                    advertise text,
                    port_offset integer NOT NULL,
                    expires_at double precision NOT NULL)
                """,
            ]
        }
    ]

    /// Opens (creating or migrating) the control tables in `schema`.
    public init(url: PostgresURL, schema: String = PostgresControlStore.defaultSchema) throws {
        guard PostgresMigrations.isPlainIdentifier(schema) else {
            throw ControlStoreError(message: "the control schema name `\(schema)` is not a plain SQL identifier",
                                    remedy: "use lower-case letters, digits and `_`, starting with a letter, e.g. mlinfra_control")
        }
        client = BlockingPostgres(url: url)
        self.schema = schema
        try failing("create or migrate the control tables") {
            try PostgresMigrations.apply(Self.migrations, schema: schema, table: "control_migrations", on: client)
        }
    }

    deinit {
        listener.withLock { $0?.cancel() }
        client.close()
    }

    /// Runs `body`, turning a driver failure into a `ControlStoreError` that names the server (never its password).
    private func failing<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as ControlStoreError {
            throw error
        } catch let error as HostLeaseTaken {
            throw error
        } catch {
            let failure = PostgresFailure(url: client.url, what: "cannot \(what) at \(client.url)", error)
            throw ControlStoreError(message: failure.message, remedy: failure.remedy)
        }
    }

    private func table(_ kind: ControlKind) -> String { "\(schema).\(kind.table)" }
    private func statusTable(_ kind: ControlKind) -> String { "\(schema).\(kind.statusTable)" }

    public func put(_ kind: ControlKind, name: String, text: String) throws -> Int {
        try failing("record \(kind.rawValue) \(name)") {
            try client.transaction { session in
                let rows = try session.query("SELECT config, generation FROM \(unescaped: table(kind)) WHERE name = \(name) FOR UPDATE")
                var previous: (text: String, generation: Int)?
                if let row = rows.first { previous = try row.decode((String, Int).self) }
                if let previous, previous.text == text { return previous.generation }
                let generation = (previous?.generation ?? 0) + 1
                try session.query(
                    """
                    INSERT INTO \(unescaped: table(kind)) (name, config, generation, updated_at)
                    VALUES (\(name), \(text), \(generation), \(Date().timeIntervalSince1970))
                    ON CONFLICT (name) DO UPDATE SET config = excluded.config, generation = excluded.generation, updated_at = excluded.updated_at
                    """)
                try session.query("SELECT pg_notify(\(channel), \(kind.rawValue + " " + name))")
                return generation
            }
        }
    }

    public func remove(_ kind: ControlKind, name: String) throws {
        try failing("remove \(kind.rawValue) \(name)") {
            try client.transaction { session in
                try session.query("DELETE FROM \(unescaped: table(kind)) WHERE name = \(name)")
                try session.query("SELECT pg_notify(\(channel), \(kind.rawValue + " " + name))")
            }
        }
    }

    public func documents(_ kind: ControlKind) throws -> [ControlDocument] {
        let rows = try failing("read the desired \(kind.rawValue)s") {
            try client.withSession { try $0.query("SELECT name, config, generation FROM \(unescaped: table(kind)) ORDER BY name") }
        }
        return try rows.map { row in
            let (name, text, generation) = try row.decode((String, String, Int).self)
            return ControlDocument(name: name, text: text, generation: generation)
        }
    }

    public func setReport(_ kind: ControlKind, name: String, host: String, text: String, updatedAt: Double) throws {
        try failing("report on \(kind.rawValue) \(name)") {
            try client.commitWithoutWaiting(
                """
                INSERT INTO \(unescaped: statusTable(kind)) (name, host, status, updated_at) VALUES (\(name), \(host), \(text), \(updatedAt))
                ON CONFLICT (name, host) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at
                """)
        }
    }

    public func removeReport(_ kind: ControlKind, name: String, host: String?) throws {
        _ = try failing("remove the reports on \(kind.rawValue) \(name)") {
            try client.withSession { session in
                if let host {
                    try session.query("DELETE FROM \(unescaped: statusTable(kind)) WHERE name = \(name) AND host = \(host)")
                } else {
                    try session.query("DELETE FROM \(unescaped: statusTable(kind)) WHERE name = \(name)")
                }
            }
        }
    }

    public func reports(_ kind: ControlKind) throws -> [String] {
        let rows = try failing("read the reports on \(kind.rawValue)s") {
            try client.withSession { try $0.query("SELECT status FROM \(unescaped: statusTable(kind)) ORDER BY name, host") }
        }
        return try rows.map { try $0.decode(String.self) }
    }

    public func record(_ decision: ScalingDecision) throws {
        let text = try ControlJSON.text(decision)
        try failing("record a scaling decision of endpoint \(decision.endpoint)") {
            try client.transaction(waitsForDisk: false, retryConflicts: false) { session in
                try session.query(
                    "INSERT INTO \(unescaped: schema).scaling_decision (endpoint, time, decision) VALUES (\(decision.endpoint), \(decision.time), \(text))")
                // Keep the log bounded: the last 1,000 decisions per endpoint.
                try session.query(
                    """
                    DELETE FROM \(unescaped: schema).scaling_decision WHERE endpoint = \(decision.endpoint) AND id <= (
                        SELECT id FROM \(unescaped: schema).scaling_decision WHERE endpoint = \(decision.endpoint) ORDER BY id DESC OFFSET 1000 LIMIT 1)
                    """)
            }
        }
    }

    public func decisions(endpoint: String, limit: Int) throws -> [ScalingDecision] {
        let rows = try failing("read the scaling decisions of endpoint \(endpoint)") {
            try client.withSession {
                try $0.query("SELECT decision FROM \(unescaped: schema).scaling_decision WHERE endpoint = \(endpoint) ORDER BY id DESC LIMIT \(limit)")
            }
        }
        return try rows.map { try ControlJSON.decode(ScalingDecision.self, try $0.decode(String.self)) }
    }

    public func renewLease(_ identity: HostIdentity, holder: String, seconds: Double) throws {
        try failing("renew the lease of host \(identity.name)") {
            try client.transaction { session in
                let rows = try session.query(
                    """
                    SELECT holder, expires_at > extract(epoch FROM clock_timestamp()) AS live
                    FROM \(unescaped: schema).host_lease WHERE host = \(identity.name) FOR UPDATE
                    """)
                var current: (holder: String, live: Bool)?
                if let row = rows.first { current = try row.decode((String, Bool).self) }
                if let current, current.holder != holder, current.live { throw HostLeaseTaken(host: identity.name) }
                try session.query(
                    """
                    INSERT INTO \(unescaped: schema).host_lease (host, holder, advertise, port_offset, expires_at)
                    VALUES (\(identity.name), \(holder), \(identity.advertise), \(identity.portOffset), extract(epoch FROM clock_timestamp()) + \(seconds))
                    ON CONFLICT (host) DO UPDATE SET holder = excluded.holder, advertise = excluded.advertise,
                        port_offset = excluded.port_offset, expires_at = excluded.expires_at
                    """)
                // A host that joins (or comes back) changes where endpoints run: every agent re-places at once.
                if current?.holder != holder { try session.query("SELECT pg_notify(\(channel), \("host " + identity.name))") }
            }
        }
    }

    public func releaseLease(host: String, holder: String) throws {
        try failing("give up the lease of host \(host)") {
            try client.transaction { session in
                try session.query("DELETE FROM \(unescaped: schema).host_lease WHERE host = \(host) AND holder = \(holder)")
                try session.query("SELECT pg_notify(\(channel), \("host " + host))")
            }
        }
    }

    public func liveHosts() throws -> [HostLease] {
        let rows = try failing("read the live hosts") {
            try client.withSession {
                try $0.query(
                    """
                    SELECT host, advertise, port_offset, expires_at FROM \(unescaped: schema).host_lease
                    WHERE expires_at > extract(epoch FROM clock_timestamp()) ORDER BY host
                    """)
            }
        }
        return try rows.map { row in
            let (host, advertise, portOffset, expiresAt) = try row.decode((String, String?, Int, Double).self)
            return HostLease(host: host, advertise: advertise, portOffset: portOffset, expiresAt: expiresAt)
        }
    }

    /// Returns at the next `NOTIFY` on the schema's channel, or after `timeout`. The first call
    /// starts the listening connection, which reconnects (waking its waiters) after a failure.
    public func waitForChange(timeout: Double) async {
        startListening()
        await changes.wait(timeout: timeout)
    }

    private func startListening() {
        listener.withLock { task in
            guard task == nil else { return }
            let (url, channel, changes) = (client.url, channel, changes)
            task = Task.detached {
                let logger = Logger(label: "mlinfra.control.listen", factory: { _ in SwiftLogNoOpLogHandler() })
                while !Task.isCancelled {
                    do {
                        let connection = try await PostgresConnection.connect(
                            on: NIOSingletons.posixEventLoopGroup.next(), configuration: try url.configuration(), id: 1, logger: logger)
                        // What changed while no one listened is picked up by the wake-up.
                        changes.fire()
                        do {
                            try await connection.listen(on: channel) { notifications in
                                for try await _ in notifications { changes.fire() }
                            }
                        } catch {}
                        try? await connection.close()
                    } catch {}
                    try? await Task.sleep(nanoseconds: 1_000_000_000)
                }
            }
        }
    }
}

/// Wakes every task waiting for a change.
final class ChangeSignal: Sendable {
    private struct State {
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var next = 0
    }
    private let state = Mutex(State())

    func fire() {
        let waiters = state.withLock { s in
            defer { s.waiters.removeAll() }
            return Array(s.waiters.values)
        }
        for w in waiters { w.resume() }
    }

    /// Returns at the next `fire()`, or after `timeout` seconds.
    func wait(timeout: Double) async {
        let id = state.withLock { s in
            defer { s.next += 1 }
            return s.next
        }
        await withCheckedContinuation { continuation in
            state.withLock { $0.waiters[id] = continuation }
            // Started once the waiter is in place; a late timer finds it gone and does nothing.
            Task {
                try? await Task.sleep(nanoseconds: UInt64(max(0, timeout) * 1e9))
                self.resume(id)
            }
        }
    }

    private func resume(_ id: Int) {
        let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
        waiter?.resume()
    }
}

/// A control store that cannot be opened or read, with how to fix it; never shows a password.
public struct ControlStoreError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var remedy: String
    public init(message: String, remedy: String) {
        self.message = message
        self.remedy = remedy
    }
    public var description: String { "\(message); \(remedy)" }
}
