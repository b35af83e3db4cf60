import EngineStorage
import Foundation
import GRDB

extension MonitorRun: FetchableRecord {
    public init(row: Row) throws {
        id = row["id"]
        monitor = row["monitor"]
        time = Date(timeIntervalSince1970: row["time"])
        trigger = Trigger(rawValue: row["trigger"]) ?? .manual
        verdict = row["verdict"]
        driftedCount = row["drifted"]
        featureCount = row["features"]
        alert = row["alert"]
        error = row["error"]
        slot = (row["slot"] as Double?).map(Date.init(timeIntervalSince1970:))
        if let json: String = row["report"] {
            report = try MonitorCoding.decoder.decode(DriftReport.self, from: Data(json.utf8))
        }
    }
}

/// A monitor row: the definition (without the token) plus the token in its own column.
struct MonitorRow: FetchableRecord {
    var definition: MonitorDefinition
    var created: Date
    var updated: Date

    init(row: Row) throws {
        let json: String = row["config"]
        definition = try MonitorCoding.decoder.decode(MonitorDefinition.self, from: Data(json.utf8))
        if let token: String = row["alert_token"] {
            if definition.alert == nil { definition.alert = AlertTarget() }
            definition.alert?.token = token
        }
        created = Date(timeIntervalSince1970: row["created"])
        updated = Date(timeIntervalSince1970: row["updated"])
    }
}

/// The one-machine monitor store: `<data_dir>/monitoring/monitoring.sqlite` (WAL) holds
/// monitors, reference profiles and the history of runs; sorted reference values live
/// in `<data_dir>/monitoring/profiles/<monitor>/*.f64`. One agent runs per data directory, so a
/// slot needs no lock beyond the check that it has not run.
public final class SQLiteMonitorStore: MonitorStore {
    public let directory: URL
    public var location: String { directory.appendingPathComponent("monitoring.sqlite").path }
    let pool: DatabasePool

    /// Opens (creating when needed) the store under `<dataDirectory>/monitoring/`.
    public init(dataDirectory: String) throws {
        directory = URL(fileURLWithPath: dataDirectory).appendingPathComponent("monitoring")
        let database = directory.appendingPathComponent("monitoring.sqlite").path
        do {
            try Self.makePrivate(directory: directory.path, database: database)
        } catch {
            throw DriftError.io("cannot create \(directory.path): \(error.localizedDescription)", remedy: "check the data_dir permissions")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        do {
            pool = try Self.migrator.openPool(path: database, configuration: config)
        } catch {
            throw DriftError.io("cannot open the monitoring database in \(directory.path): \(error)", remedy: "check the file is not damaged or locked")
        }
    }

    /// The database holds alert tokens: its directory is 0700 and its files 0600, whatever the
    /// umask, and tightened when an older version left them readable. SQLite gives the `-wal`
    /// and `-shm` files the mode of the database file.
    static func makePrivate(directory: String, database: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory)
        let fd = open(database, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: database]) }
        close(fd)
        for file in [database, database + "-wal", database + "-shm"] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "monitor") { t in
                t.primaryKey("name", .text)
                t.column("config", .text).notNull()
                t.column("alert_token", .text)
                t.column("created", .double).notNull()
                t.column("updated", .double).notNull()
            }
            try db.create(table: "profile") { t in
                t.primaryKey("monitor", .text).references("monitor", onDelete: .cascade)
                t.column("source", .text).notNull()
                t.column("sha256", .text).notNull()
                t.column("rows", .integer).notNull()
                t.column("created", .double).notNull()
                t.column("columns", .text).notNull()
                t.column("files", .text).notNull()
            }
            try db.create(table: "run") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("monitor", .text).notNull().indexed()
                t.column("time", .double).notNull()
                t.column("trigger", .text).notNull()
                t.column("verdict", .text).notNull()
                t.column("drifted", .integer).notNull()
                t.column("features", .integer).notNull()
                t.column("alert", .text).notNull()
                t.column("error", .text)
                t.column("report", .text)
            }
        }
        m.registerMigration("v2 reference performance") { db in
            try db.create(table: "reference_performance") { t in
                t.primaryKey("monitor", .text).references("monitor", onDelete: .cascade)
                t.column("key", .text).notNull()
                t.column("metrics", .text)
            }
        }
        m.registerMigration("v3 open alerts") { db in
            try db.create(table: "open_alert") { t in
                t.column("monitor", .text).notNull().references("monitor", onDelete: .cascade)
                t.column("key", .text).notNull()
                t.column("opened", .double).notNull()
                t.primaryKey(["monitor", "key"])
            }
            try db.create(table: "alert_sent") { t in
                t.primaryKey("monitor", .text).references("monitor", onDelete: .cascade)
                t.column("time", .double).notNull()
            }
        }
        m.registerMigration("v4 run slots") { db in
            // The scheduled time a run stands for; at most one run per monitor and slot.
            try db.alter(table: "run") { t in t.add(column: "slot", .double) }
            try db.create(index: "run_monitor_slot", on: "run", columns: ["monitor", "slot"], unique: true, condition: Column("slot") != nil)
        }
        return m
    }

    // MARK: Open alerts

    /// The problems a monitor has alerted on and that have not resolved since.
    public func openAlerts(_ monitor: String) throws -> Set<String> {
        try pool.read { db in Set(try String.fetchAll(db, sql: "SELECT key FROM open_alert WHERE monitor = ?", arguments: [monitor])) }
    }

    /// When the monitor last sent an alert of new problems.
    public func lastAlertTime(_ monitor: String) throws -> Date? {
        try pool.read { db in try Double.fetchOne(db, sql: "SELECT time FROM alert_sent WHERE monitor = ?", arguments: [monitor]) }
            .map { Date(timeIntervalSince1970: $0) }
    }

    /// Records that `opened` are now alerted on (at `time`, when an alert was sent) and `resolved` are over.
    public func updateAlerts(_ monitor: String, opened: Set<String>, resolved: Set<String>, sentAt time: Date?) throws {
        try pool.write { db in
            for key in opened {
                try db.execute(sql: "INSERT OR IGNORE INTO open_alert(monitor, key, opened) VALUES (?, ?, ?)",
                               arguments: [monitor, key, (time ?? Date()).timeIntervalSince1970])
            }
            for key in resolved { try db.execute(sql: "DELETE FROM open_alert WHERE monitor = ? AND key = ?", arguments: [monitor, key]) }
            if let time {
                try db.execute(sql: "INSERT OR REPLACE INTO alert_sent(monitor, time) VALUES (?, ?)", arguments: [monitor, time.timeIntervalSince1970])
            }
        }
    }

    // MARK: Reference performance

    /// The reference's metrics, with the key (reference hash and performance settings) they were computed for.
    public func referencePerformance(_ monitor: String) throws -> (key: String, metrics: MetricValues?)? {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT key, metrics FROM reference_performance WHERE monitor = ?", arguments: [monitor]) else {
                return nil
            }
            let json: String? = row["metrics"]
            return (row["key"], try json.map { try MonitorCoding.value(MetricValues.self, $0) })
        }
    }

    public func saveReferencePerformance(_ metrics: MetricValues?, key: String, for monitor: String) throws {
        let json = try metrics.map { try MonitorCoding.text($0) }
        try pool.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO reference_performance(monitor, key, metrics) VALUES (?, ?, ?)", arguments: [monitor, key, json])
        }
    }

    // MARK: Monitors

    public func upsert(_ definition: MonitorDefinition, now: Date) throws {
        let json = try MonitorCoding.text(definition)
        try pool.write { db in
            try db.execute(sql: """
                INSERT INTO monitor(name, config, alert_token, created, updated) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET config = excluded.config, alert_token = excluded.alert_token, updated = excluded.updated
                """, arguments: [definition.name, json, definition.alert?.token, now.timeIntervalSince1970, now.timeIntervalSince1970])
        }
    }

    public func monitor(_ name: String) throws -> MonitorDefinition? {
        try pool.read { db in try MonitorRow.fetchOne(db, sql: "SELECT * FROM monitor WHERE name = ?", arguments: [name])?.definition }
    }

    /// When the monitor was first stored.
    public func created(_ name: String) throws -> Date? {
        try pool.read { db in try MonitorRow.fetchOne(db, sql: "SELECT * FROM monitor WHERE name = ?", arguments: [name])?.created }
    }

    public func monitors() throws -> [MonitorDefinition] {
        try pool.read { db in try MonitorRow.fetchAll(db, sql: "SELECT * FROM monitor ORDER BY name").map(\.definition) }
    }

    /// Deletes the monitor, its profile and its history.
    public func delete(_ name: String) throws {
        try pool.write { db in
            try db.execute(sql: "DELETE FROM run WHERE monitor = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM reference_performance WHERE monitor = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM open_alert WHERE monitor = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM alert_sent WHERE monitor = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM profile WHERE monitor = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM monitor WHERE name = ?", arguments: [name])
        }
        try? FileManager.default.removeItem(at: profileDirectory(name))
    }

    // MARK: Profiles

    func profileDirectory(_ monitor: String) -> URL {
        let safe = String(monitor.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return directory.appendingPathComponent("profiles").appendingPathComponent(safe)
    }

    /// The stored profile's reference hash, without loading the values.
    public func profileHash(_ monitor: String) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT sha256 FROM profile WHERE monitor = ?", arguments: [monitor]) }
    }

    public func saveProfile(_ profile: ReferenceProfile, for monitor: String) throws {
        let dir = profileDirectory(monitor)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var files = [String: String]()
        let stamp = String(profile.sha256.prefix(12))
        for (i, name) in profile.sorted.keys.sorted().enumerated() {
            let file = "\(stamp)-\(i).f64"
            try Self.writeDoubles(profile.sorted[name]!, to: dir.appendingPathComponent(file))
            files[name] = file
        }
        let columns = try MonitorCoding.text(profile.columns)
        let filesJSON = try MonitorCoding.text(files)
        try pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO profile(monitor, source, sha256, rows, created, columns, files) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [monitor, profile.source, profile.sha256, profile.rowCount, profile.created.timeIntervalSince1970, columns, filesJSON])
        }
        // Remove value files of earlier profiles.
        let keep = Set(files.values)
        for f in (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? [] where !keep.contains(f) {
            try? FileManager.default.removeItem(at: dir.appendingPathComponent(f))
        }
    }

    public func loadProfile(_ monitor: String, columns wanted: Set<String>?) throws -> ReferenceProfile? {
        guard let row = try pool.read({ db in try Row.fetchOne(db, sql: "SELECT * FROM profile WHERE monitor = ?", arguments: [monitor]) }) else {
            return nil
        }
        let columns = try MonitorCoding.value([String: ColumnProfile].self, row["columns"] as String)
        let files = try MonitorCoding.value([String: String].self, row["files"] as String)
        var sorted = [String: [Double]]()
        let dir = profileDirectory(monitor)
        for (name, file) in files where wanted?.contains(name) ?? true {
            sorted[name] = try Self.readDoubles(dir.appendingPathComponent(file), count: columns[name]?.count ?? 0)
        }
        return ReferenceProfile(source: row["source"], sha256: row["sha256"], rowCount: row["rows"],
                                created: Date(timeIntervalSince1970: row["created"]), columns: columns, sorted: sorted)
    }

    static func writeDoubles(_ values: [Double], to url: URL) throws {
        let data = values.withUnsafeBufferPointer { Data(buffer: $0) }
        try data.write(to: url, options: .atomic)
    }

    static func readDoubles(_ url: URL, count: Int) throws -> [Double] {
        let bytes = try CSVReader.readAll(path: url.path)
        defer { bytes.deallocate() }
        guard bytes.count == count * 8 else {
            throw DriftError.io("profile file \(url.lastPathComponent) has \(bytes.count) bytes, expected \(count * 8)",
                                remedy: "re-profile the reference: run `mlinfra apply` again or delete \(url.deletingLastPathComponent().path)")
        }
        return [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(bytes))
            initialized = count
        }
    }

    // MARK: Runs

    @discardableResult
    public func recordRun(monitor: String, time: Date, trigger: MonitorRun.Trigger, slot: Date?, report: DriftReport?, alert: String, error: String?) throws -> MonitorRun {
        let json = try report.map { try MonitorCoding.text($0) }
        let verdict = report?.verdict ?? "error"
        let drifted = report?.driftedCount ?? 0, features = report?.features.count ?? 0
        let id: Int64
        do {
            id = try pool.write { db -> Int64 in
                try db.execute(sql: """
                    INSERT INTO run(monitor, time, trigger, slot, verdict, drifted, features, alert, error, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [monitor, time.timeIntervalSince1970, trigger.rawValue, slot?.timeIntervalSince1970, verdict, drifted, features, alert, error, json])
                return db.lastInsertedRowID
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
            throw DriftError.badData("a run of monitor \(monitor) for the slot \(slot.map { ISO8601DateFormatter().string(from: $0) } ?? "-") is recorded already",
                                     remedy: "a slot runs once; this is another run of one already made")
        }
        return MonitorRun(id: id, monitor: monitor, time: time, trigger: trigger, slot: slot, verdict: verdict, driftedCount: drifted,
                          featureCount: features, alert: alert, error: error, report: report)
    }

    /// Runs of a monitor, newest first.
    public func runs(_ monitor: String, limit: Int) throws -> [MonitorRun] {
        try pool.read { db in
            try MonitorRun.fetchAll(db, sql: "SELECT * FROM run WHERE monitor = ? ORDER BY time DESC, id DESC LIMIT ?", arguments: [monitor, limit])
        }
    }

    public func lastRun(_ monitor: String, trigger: MonitorRun.Trigger?) throws -> MonitorRun? {
        try pool.read { db in
            if let trigger {
                return try MonitorRun.fetchOne(db, sql: "SELECT * FROM run WHERE monitor = ? AND trigger = ? ORDER BY time DESC, id DESC LIMIT 1",
                                               arguments: [monitor, trigger.rawValue])
            }
            return try MonitorRun.fetchOne(db, sql: "SELECT * FROM run WHERE monitor = ? ORDER BY time DESC, id DESC LIMIT 1", arguments: [monitor])
        }
    }

    /// The last run that produced a report (did not fail).
    public func lastSuccessfulRun(_ monitor: String) throws -> MonitorRun? {
        try pool.read { db in
            try MonitorRun.fetchOne(db, sql: "SELECT * FROM run WHERE monitor = ? AND error IS NULL ORDER BY time DESC, id DESC LIMIT 1", arguments: [monitor])
        }
    }

    /// How many runs the monitor had, by verdict ("drift", "no drift", "error").
    public func runCounts(_ monitor: String) throws -> [(verdict: String, count: Int)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT verdict, COUNT(*) AS n FROM run WHERE monitor = ? GROUP BY verdict ORDER BY verdict", arguments: [monitor])
                .map { (verdict: $0["verdict"], count: $0["n"]) }
        }
    }

    /// The time of the last scheduled (or catch-up) run.
    public func lastScheduledRunTime(_ monitor: String) throws -> Date? {
        try pool.read { db in
            try Double.fetchOne(db, sql: "SELECT MAX(time) FROM run WHERE monitor = ? AND trigger IN ('schedule', 'catch-up')", arguments: [monitor])
        }.map { Date(timeIntervalSince1970: $0) }
    }

    public func hasRun(_ monitor: String, slot: Date) throws -> Bool {
        try pool.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM run WHERE monitor = ? AND slot = ?)", arguments: [monitor, slot.timeIntervalSince1970]) ?? false
        }
    }

    public func exclusively<T: Sendable>(monitor: String, slot: Date, _ body: () async throws -> T) async throws -> T {
        try await body()
    }
}
