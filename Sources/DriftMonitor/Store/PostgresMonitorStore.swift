import EnginePostgres
import Foundation
import NIOCore
import PostgresNIO

/// Monitors in a schema of a PostgreSQL database (by default the control store's), shared by
/// `apply` (which stores definitions and profiles them) and the agents of every serving host
/// (whose schedulers run them). A profile's sorted values are `bytea` rows, so no host needs
/// the reference file; the alert token is a column of its own, as in the SQLite store.
///
/// A slot runs under a session-level advisory lock keyed on the schema, the monitor and the
/// slot's time, and is skipped when a run of it is recorded: two agents never run (or alert
/// on) one due time twice, and an agent that dies holding a slot frees it with its connection.
/// (An agent killed after its webhook was answered but before its run was recorded leaves the
/// slot to the next agent, which alerts again: at least once, never silently lost.)
public final class PostgresMonitorStore: MonitorStore {
    let client: BlockingPostgres
    public let schema: String

    public init(url: PostgresURL, schema: String) throws {
        guard PostgresMigrations.isPlainIdentifier(schema) else {
            throw DriftError.badConfig("the monitor schema name `\(schema)` is not a plain SQL identifier",
                                       remedy: "use lower-case letters, digits and `_`, starting with a letter, e.g. mlinfra_control")
        }
        client = BlockingPostgres(url: url)
        self.schema = schema
        try failing("create or migrate the monitor tables") {
            try PostgresMigrations.apply(Self.migrations, schema: schema, table: "monitor_migrations", on: client)
        }
    }

    public var location: String { "\(client.url) schema \(schema)" }

    static let migrations = [
        PostgresMigration(version: 1, name: "monitors") { s in
            [
                """
                CREATE TABLE \(s).monitor (
                    name text PRIMARY KEY, config text NOT NULL, alert_token text,
                    created double precision NOT NULL, updated double precision NOT NULL)
                """,
                """
                CREATE TABLE \(s).monitor_profile (
                    monitor text PRIMARY KEY REFERENCES \(s).monitor ON DELETE CASCADE, source text NOT NULL, sha256 text NOT NULL,
                    rows bigint NOT NULL, created double precision NOT NULL, columns text NOT NULL)
                """,
                """
                CREATE TABLE \(s).monitor_profile_values (
                    monitor text NOT NULL REFERENCES \(s).monitor_profile ON DELETE CASCADE, column_name text NOT NULL, sorted bytea NOT NULL,
                    PRIMARY KEY (monitor, column_name))
                """,
                """
                CREATE TABLE \(s).monitor_run (
                    id bigserial PRIMARY KEY, monitor text NOT NULL, time double precision NOT NULL, trigger text NOT NULL,
                    slot double precision, verdict text NOT NULL, drifted bigint NOT NULL, features bigint NOT NULL,
                    alert text NOT NULL, error text, report text)
                """,
                "CREATE INDEX monitor_run_monitor_time ON \(s).monitor_run (monitor, time)",
                "CREATE UNIQUE INDEX monitor_run_slot ON \(s).monitor_run (monitor, slot) WHERE slot IS NOT NULL",
                """
                CREATE TABLE \(s).monitor_reference_performance (
                    monitor text PRIMARY KEY REFERENCES \(s).monitor ON DELETE CASCADE, key text NOT NULL, metrics text)
                """,
                """
                CREATE TABLE \(s).monitor_open_alert (
                    monitor text NOT NULL REFERENCES \(s).monitor ON DELETE CASCADE, key text NOT NULL, opened double precision NOT NULL,
                    PRIMARY KEY (monitor, key))
                """,
                """
                CREATE TABLE \(s).monitor_alert_sent (
                    monitor text PRIMARY KEY REFERENCES \(s).monitor ON DELETE CASCADE, time double precision NOT NULL)
                """,
            ]
        },
    ]

    // MARK: Monitors

    public func upsert(_ definition: MonitorDefinition, now: Date) throws {
        let json = try MonitorCoding.text(definition), token = definition.alert?.token, time = now.timeIntervalSince1970
        try failing("store monitor \(definition.name)") {
            try client.withSession { session in
                try session.query("""
                    INSERT INTO \(unescaped: schema).monitor (name, config, alert_token, created, updated) VALUES (\(definition.name), \(json), \(token), \(time), \(time))
                    ON CONFLICT (name) DO UPDATE SET config = excluded.config, alert_token = excluded.alert_token, updated = excluded.updated
                    """)
            }
        }
    }

    /// The stored definition with its token put back, and when it was first stored.
    private func row(_ name: String) throws -> (MonitorDefinition, created: Date)? {
        try failing("read monitor \(name)") {
            try client.withSession { session in
                let rows = try session.query("SELECT config, alert_token, created FROM \(unescaped: schema).monitor WHERE name = \(name)")
                for row in rows {
                    let (config, token, created) = try row.decode((String, String?, Double).self)
                    return (try Self.definition(config, token: token), Date(timeIntervalSince1970: created))
                }
                return nil
            }
        }
    }

    static func definition(_ config: String, token: String?) throws -> MonitorDefinition {
        var definition = try MonitorCoding.value(MonitorDefinition.self, config)
        if let token {
            if definition.alert == nil { definition.alert = AlertTarget() }
            definition.alert?.token = token
        }
        return definition
    }

    public func monitor(_ name: String) throws -> MonitorDefinition? { try row(name)?.0 }

    public func created(_ name: String) throws -> Date? { try row(name)?.created }

    public func monitors() throws -> [MonitorDefinition] {
        try failing("read the monitors") {
            try client.withSession { session in
                try session.query("SELECT config, alert_token FROM \(unescaped: schema).monitor ORDER BY name").map { row in
                    let (config, token) = try row.decode((String, String?).self)
                    return try Self.definition(config, token: token)
                }
            }
        }
    }

    public func delete(_ name: String) throws {
        try failing("delete monitor \(name)") {
            try client.transaction { session in
                // The profile, alert state and reference metrics go with the monitor row (ON DELETE CASCADE).
                try session.query("DELETE FROM \(unescaped: schema).monitor_run WHERE monitor = \(name)")
                try session.query("DELETE FROM \(unescaped: schema).monitor WHERE name = \(name)")
            }
        }
    }

    // MARK: Profiles

    public func profileHash(_ monitor: String) throws -> String? {
        try failing("read the profile of \(monitor)") {
            try client.withSession { session in
                try session.query("SELECT sha256 FROM \(unescaped: schema).monitor_profile WHERE monitor = \(monitor)")
                    .map { try $0.decode(String.self) }.first
            }
        }
    }

    public func saveProfile(_ profile: ReferenceProfile, for monitor: String) throws {
        let columns = try MonitorCoding.text(profile.columns)
        try failing("store the profile of \(monitor)") {
            try client.transaction { session in
                try session.query("DELETE FROM \(unescaped: schema).monitor_profile WHERE monitor = \(monitor)")
                try session.query("""
                    INSERT INTO \(unescaped: schema).monitor_profile (monitor, source, sha256, rows, created, columns)
                    VALUES (\(monitor), \(profile.source), \(profile.sha256), \(Int64(profile.rowCount)), \(profile.created.timeIntervalSince1970), \(columns))
                    """)
                for (name, values) in profile.sorted {
                    let bytes = values.withUnsafeBytes { ByteBuffer(bytes: $0) }
                    try session.query("INSERT INTO \(unescaped: schema).monitor_profile_values (monitor, column_name, sorted) VALUES (\(monitor), \(name), \(bytes))")
                }
            }
        }
    }

    public func loadProfile(_ monitor: String, columns wanted: Set<String>?) throws -> ReferenceProfile? {
        try failing("read the profile of \(monitor)") {
            try client.transaction(readOnly: true) { session -> ReferenceProfile? in
                guard let row = try session.query("""
                    SELECT source, sha256, rows, created, columns FROM \(unescaped: schema).monitor_profile WHERE monitor = \(monitor)
                    """).first else { return nil }
                let (source, sha256, rows, created, columnsJSON) = try row.decode((String, String, Int64, Double, String).self)
                let columns = try MonitorCoding.value([String: ColumnProfile].self, columnsJSON)
                var sorted = [String: [Double]]()
                for row in try session.query("SELECT column_name, sorted FROM \(unescaped: schema).monitor_profile_values WHERE monitor = \(monitor)") {
                    let (name, bytes) = try row.decode((String, ByteBuffer).self)
                    guard wanted?.contains(name) ?? true else { continue }
                    let count = columns[name]?.count ?? 0
                    guard bytes.readableBytes == count * 8 else {
                        throw DriftError.io("the stored profile of \(monitor) has \(bytes.readableBytes) bytes for column \(name), expected \(count * 8)",
                                            remedy: "re-profile the reference: run `mlinfra apply` again")
                    }
                    sorted[name] = bytes.withUnsafeReadableBytes { raw in
                        [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
                            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                            initialized = count
                        }
                    }
                }
                return ReferenceProfile(source: source, sha256: sha256, rowCount: Int(rows), created: Date(timeIntervalSince1970: created),
                                        columns: columns, sorted: sorted)
            }
        }
    }

    // MARK: Reference performance

    public func referencePerformance(_ monitor: String) throws -> (key: String, metrics: MetricValues?)? {
        try failing("read the reference metrics of \(monitor)") {
            try client.withSession { session in
                for row in try session.query("SELECT key, metrics FROM \(unescaped: schema).monitor_reference_performance WHERE monitor = \(monitor)") {
                    let (key, json) = try row.decode((String, String?).self)
                    return (key, try json.map { try MonitorCoding.value(MetricValues.self, $0) })
                }
                return nil
            }
        }
    }

    public func saveReferencePerformance(_ metrics: MetricValues?, key: String, for monitor: String) throws {
        let json = try metrics.map { try MonitorCoding.text($0) }
        try failing("store the reference metrics of \(monitor)") {
            try client.withSession { session in
                try session.query("""
                    INSERT INTO \(unescaped: schema).monitor_reference_performance (monitor, key, metrics) VALUES (\(monitor), \(key), \(json))
                    ON CONFLICT (monitor) DO UPDATE SET key = excluded.key, metrics = excluded.metrics
                    """)
            }
        }
    }

    // MARK: Open alerts

    public func openAlerts(_ monitor: String) throws -> Set<String> {
        try failing("read the open alerts of \(monitor)") {
            try client.withSession { session in
                Set(try session.query("SELECT key FROM \(unescaped: schema).monitor_open_alert WHERE monitor = \(monitor)").map { try $0.decode(String.self) })
            }
        }
    }

    public func lastAlertTime(_ monitor: String) throws -> Date? {
        try failing("read the alert time of \(monitor)") {
            try client.withSession { session in
                try session.query("SELECT time FROM \(unescaped: schema).monitor_alert_sent WHERE monitor = \(monitor)")
                    .map { Date(timeIntervalSince1970: try $0.decode(Double.self)) }.first
            }
        }
    }

    public func updateAlerts(_ monitor: String, opened: Set<String>, resolved: Set<String>, sentAt time: Date?) throws {
        let openedAt = (time ?? Date()).timeIntervalSince1970
        try failing("store the open alerts of \(monitor)") {
            try client.transaction { session in
                for key in opened {
                    try session.query("""
                        INSERT INTO \(unescaped: schema).monitor_open_alert (monitor, key, opened) VALUES (\(monitor), \(key), \(openedAt)) ON CONFLICT DO NOTHING
                        """)
                }
                for key in resolved {
                    try session.query("DELETE FROM \(unescaped: schema).monitor_open_alert WHERE monitor = \(monitor) AND key = \(key)")
                }
                if let time {
                    try session.query("""
                        INSERT INTO \(unescaped: schema).monitor_alert_sent (monitor, time) VALUES (\(monitor), \(time.timeIntervalSince1970))
                        ON CONFLICT (monitor) DO UPDATE SET time = excluded.time
                        """)
                }
            }
        }
    }

    // MARK: Runs

    static let runColumns = "id, monitor, time, trigger, slot, verdict, drifted, features, alert, error, report"

    static func run(_ row: PostgresRow) throws -> MonitorRun {
        let (id, monitor, time, trigger, slot, verdict, drifted, features, alert, error, report) =
            try row.decode((Int64, String, Double, String, Double?, String, Int64, Int64, String, String?, String?).self)
        return MonitorRun(id: id, monitor: monitor, time: Date(timeIntervalSince1970: time), trigger: MonitorRun.Trigger(rawValue: trigger) ?? .manual,
                          slot: slot.map(Date.init(timeIntervalSince1970:)), verdict: verdict, driftedCount: Int(drifted), featureCount: Int(features),
                          alert: alert, error: error, report: try report.map { try MonitorCoding.value(DriftReport.self, $0) })
    }

    @discardableResult
    public func recordRun(monitor: String, time: Date, trigger: MonitorRun.Trigger, slot: Date?, report: DriftReport?, alert: String, error: String?) throws -> MonitorRun {
        let json = try report.map { try MonitorCoding.text($0) }
        let verdict = report?.verdict ?? "error"
        let drifted = Int64(report?.driftedCount ?? 0), features = Int64(report?.features.count ?? 0)
        let id = try failing("record a run of \(monitor)") {
            try client.withSession { session in
                try session.query("""
                    INSERT INTO \(unescaped: schema).monitor_run (monitor, time, trigger, slot, verdict, drifted, features, alert, error, report)
                    VALUES (\(monitor), \(time.timeIntervalSince1970), \(trigger.rawValue), \(slot?.timeIntervalSince1970), \(verdict), \(drifted), \(features),
                            \(alert), \(error), \(json))
                    RETURNING id
                    """).map { try $0.decode(Int64.self) }.first ?? 0
            }
        }
        return MonitorRun(id: id, monitor: monitor, time: time, trigger: trigger, slot: slot, verdict: verdict, driftedCount: Int(drifted),
                          featureCount: Int(features), alert: alert, error: error, report: report)
    }

    /// Runs newest first; only those of `trigger` when given, only those that did not fail with `succeeded`.
    private func fetchRuns(_ monitor: String, trigger: MonitorRun.Trigger? = nil, succeeded: Bool = false, limit: Int) throws -> [MonitorRun] {
        try failing("read the runs of \(monitor)") {
            try client.withSession { session in
                try session.query("""
                    SELECT \(unescaped: Self.runColumns) FROM \(unescaped: schema).monitor_run
                    WHERE monitor = \(monitor) AND (\(trigger?.rawValue)::text IS NULL OR trigger = \(trigger?.rawValue)) AND (NOT \(succeeded) OR error IS NULL)
                    ORDER BY time DESC, id DESC LIMIT \(Int64(limit))
                    """).map(Self.run)
            }
        }
    }

    public func runs(_ monitor: String, limit: Int) throws -> [MonitorRun] { try fetchRuns(monitor, limit: limit) }

    public func lastRun(_ monitor: String, trigger: MonitorRun.Trigger?) throws -> MonitorRun? {
        try fetchRuns(monitor, trigger: trigger, limit: 1).first
    }

    public func lastSuccessfulRun(_ monitor: String) throws -> MonitorRun? {
        try fetchRuns(monitor, succeeded: true, limit: 1).first
    }

    public func runCounts(_ monitor: String) throws -> [(verdict: String, count: Int)] {
        try failing("count the runs of \(monitor)") {
            try client.withSession { session in
                try session.query("""
                    SELECT verdict, count(*) FROM \(unescaped: schema).monitor_run WHERE monitor = \(monitor) GROUP BY verdict ORDER BY verdict
                    """).map { row in
                    let (verdict, count) = try row.decode((String, Int64).self)
                    return (verdict: verdict, count: Int(count))
                }
            }
        }
    }

    public func lastScheduledRunTime(_ monitor: String) throws -> Date? {
        try failing("read the runs of \(monitor)") {
            try client.withSession { session in
                try session.query("""
                    SELECT max(time) FROM \(unescaped: schema).monitor_run WHERE monitor = \(monitor) AND trigger IN ('schedule', 'catch-up')
                    """).compactMap { try $0.decode(Double?.self) }.first.map(Date.init(timeIntervalSince1970:))
            }
        }
    }

    public func hasRun(_ monitor: String, slot: Date) throws -> Bool {
        try failing("read the runs of \(monitor)") {
            try client.withSession { session in
                try session.query("""
                    SELECT EXISTS (SELECT 1 FROM \(unescaped: schema).monitor_run WHERE monitor = \(monitor) AND slot = \(slot.timeIntervalSince1970))
                    """).map { try $0.decode(Bool.self) }.first ?? false
            }
        }
    }

    public func exclusively<T: Sendable>(monitor: String, slot: Date, _ body: () async throws -> T) async throws -> T {
        let key = PostgresMigrations.advisoryKey(["mlinfra-monitor-slot", schema, monitor, String(slot.timeIntervalSince1970)])
        // The body's own errors pass through as they are; only the lock's are the database's.
        let outcome: Result<T, any Error>
        do {
            outcome = try await client.withAdvisoryLock(key) { () async -> Result<T, any Error> in
                do { return .success(try await body()) } catch { return .failure(error) }
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw Self.failure(client.url, "hold the slot of \(monitor) due \(ISO8601DateFormatter().string(from: slot))", error)
        }
        return try outcome.get()
    }

    static func failure(_ url: PostgresURL, _ what: String, _ error: any Error) -> DriftError {
        let failure = PostgresFailure(url: url, what: "cannot \(what) at \(url)", error)
        return DriftError.io(failure.message, remedy: failure.remedy)
    }

    private func failing<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DriftError { throw error } catch {
            throw Self.failure(client.url, what, error)
        }
    }
}
