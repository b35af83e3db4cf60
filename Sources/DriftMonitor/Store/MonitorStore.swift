import Foundation

/// One stored run of a monitor.
public struct MonitorRun: Sendable, Codable, Hashable {
    public enum Trigger: String, Sendable, Codable { case manual, schedule, catchUp = "catch-up" }
    public var id: Int64
    public var monitor: String
    public var time: Date
    public var trigger: Trigger
    /// The scheduled time the run stands for (its due time, or for a catch-up run the first slot
    /// it makes up for); nil for a manual run. A monitor runs at most once per slot.
    public var slot: Date?
    /// "drift", "no drift", or "error".
    public var verdict: String
    public var driftedCount: Int
    public var featureCount: Int
    /// What happened to the alert: "not needed", "sent", "failed: …".
    public var alert: String
    public var error: String?
    public var report: DriftReport?
}

/// Where monitors, their reference profiles, their alert state and their run history are kept:
/// a data directory's SQLite file (`SQLiteMonitorStore`, one machine) or a PostgreSQL schema
/// that the agents of several serving hosts share (`PostgresMonitorStore`).
///
/// The scheduler of every agent that shares a store plans the same due times; `exclusively`
/// and `hasRun` make each slot run once: the first agent to hold a slot runs it and records it,
/// and the others find it recorded.
public protocol MonitorStore: Sendable {
    /// Where the store is, for messages (never a password).
    var location: String { get }

    func upsert(_ definition: MonitorDefinition, now: Date) throws
    func monitor(_ name: String) throws -> MonitorDefinition?
    /// When the monitor was first stored.
    func created(_ name: String) throws -> Date?
    func monitors() throws -> [MonitorDefinition]
    /// Deletes the monitor, its profile, its alert state and its history.
    func delete(_ name: String) throws

    /// The stored profile's reference hash, without loading the values.
    func profileHash(_ monitor: String) throws -> String?
    func saveProfile(_ profile: ReferenceProfile, for monitor: String) throws
    func loadProfile(_ monitor: String, columns wanted: Set<String>?) throws -> ReferenceProfile?

    /// The reference's metrics, with the key (reference hash and performance settings) they were computed for.
    func referencePerformance(_ monitor: String) throws -> (key: String, metrics: MetricValues?)?
    func saveReferencePerformance(_ metrics: MetricValues?, key: String, for monitor: String) throws

    /// The problems a monitor has alerted on and that have not resolved since.
    func openAlerts(_ monitor: String) throws -> Set<String>
    /// When the monitor last sent an alert of new problems.
    func lastAlertTime(_ monitor: String) throws -> Date?
    /// Records that `opened` are now alerted on (at `time`, when an alert was sent) and `resolved` are over.
    func updateAlerts(_ monitor: String, opened: Set<String>, resolved: Set<String>, sentAt time: Date?) throws

    @discardableResult
    func recordRun(monitor: String, time: Date, trigger: MonitorRun.Trigger, slot: Date?, report: DriftReport?, alert: String, error: String?) throws -> MonitorRun
    /// Runs of a monitor, newest first.
    func runs(_ monitor: String, limit: Int) throws -> [MonitorRun]
    func lastRun(_ monitor: String, trigger: MonitorRun.Trigger?) throws -> MonitorRun?
    /// The last run that produced a report (did not fail).
    func lastSuccessfulRun(_ monitor: String) throws -> MonitorRun?
    /// How many runs the monitor had, by verdict ("drift", "no drift", "error").
    func runCounts(_ monitor: String) throws -> [(verdict: String, count: Int)]
    /// The time of the last scheduled (or catch-up) run.
    func lastScheduledRunTime(_ monitor: String) throws -> Date?

    /// Whether a run of `monitor` for `slot` is recorded.
    func hasRun(_ monitor: String, slot: Date) throws -> Bool
    /// Runs `body` while no other process sharing the store runs `monitor`'s `slot`; a process
    /// that dies holding it lets it go.
    func exclusively<T: Sendable>(monitor: String, slot: Date, _ body: () async throws -> T) async throws -> T
}

extension MonitorStore {
    public func upsert(_ definition: MonitorDefinition) throws { try upsert(definition, now: Date()) }
    public func loadProfile(_ monitor: String) throws -> ReferenceProfile? { try loadProfile(monitor, columns: nil) }
    public func runs(_ monitor: String) throws -> [MonitorRun] { try runs(monitor, limit: 50) }
    public func lastRun(_ monitor: String) throws -> MonitorRun? { try lastRun(monitor, trigger: nil) }

    @discardableResult
    public func recordRun(monitor: String, time: Date, trigger: MonitorRun.Trigger, report: DriftReport?, alert: String, error: String?) throws -> MonitorRun {
        try recordRun(monitor: monitor, time: time, trigger: trigger, slot: nil, report: report, alert: alert, error: error)
    }
}

/// How the stores write definitions, reports and profiles' column summaries as JSON.
enum MonitorCoding {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .secondsSince1970
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .secondsSince1970
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return d
    }()

    static func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func value<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try decoder.decode(type, from: Data(text.utf8))
    }
}
