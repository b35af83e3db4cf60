import CaptureStorage
import Crypto
import Foundation
import Logging
import Synchronization

/// The drift-monitoring engine: stores monitors, profiles their references once, runs
/// checks against captured traffic or a dataset, records every result and sends alerts.
public final class DriftMonitorEngine: Sendable {
    public let dataDirectory: String
    public let store: any MonitorStore
    /// Where endpoints' captured traffic is read: the local store under the data directory by
    /// default, or the PostgreSQL store the serving hosts share.
    public let capture: CaptureStoreLocation
    let alerts: AlertDispatcher
    let logger: Logger
    /// Whether runs refresh `<data_dir>/monitoring/metrics.prom` (an agent's scheduler does; a
    /// command run on an operator's machine against a shared store does not).
    let writesMetricsFile: Bool
    /// The capture store, opened at the first run that needs it.
    private let captureStore = Mutex<(any CaptureStore)?>(nil)

    public convenience init(dataDirectory: String, capture: CaptureStoreLocation? = nil, alerts: AlertDispatcher = AlertDispatcher(),
                            logger: Logger = Logger(label: "mlinfra.monitoring")) throws {
        try self.init(store: SQLiteMonitorStore(dataDirectory: dataDirectory), dataDirectory: dataDirectory, capture: capture, alerts: alerts, logger: logger)
    }

    /// An engine over `store`; `dataDirectory` is where its metrics file goes (and, unless
    /// `capture` says otherwise, whose capture store it reads). `opened` is a capture store the
    /// caller has opened already (a serving host's agent, which knows its capture database by a
    /// parsed URL); it stands for `capture`.
    public init(store: any MonitorStore, dataDirectory: String, capture: CaptureStoreLocation? = nil, opened: (any CaptureStore)? = nil,
                alerts: AlertDispatcher = AlertDispatcher(), logger: Logger = Logger(label: "mlinfra.monitoring"), writesMetricsFile: Bool = true) {
        self.dataDirectory = dataDirectory
        self.writesMetricsFile = writesMetricsFile
        self.store = store
        self.capture = capture ?? .local(dataDirectory: dataDirectory)
        self.alerts = alerts
        self.logger = logger
        captureStore.withLock { $0 = opened }
    }

    func openCapture() throws -> any CaptureStore {
        try captureStore.withLock { cached in
            if let cached { return cached }
            do {
                let opened = try capture.open(create: false)
                cached = opened
                return opened
            } catch let error as CaptureStoreError {
                throw DriftError(error)
            }
        }
    }

    /// Checks a definition without storing anything; returns every problem found.
    public static func problems(in definition: MonitorDefinition) -> [String] {
        var out = [String]()
        if let s = definition.schedule {
            do { _ = try CronExpression(s) } catch { out.append(String(describing: error)) }
        }
        if !(definition.window > 0) { out.append("window must be a positive duration such as 1h or 1d") }
        if !(definition.driftShare > 0 && definition.driftShare <= 1) { out.append("drift_share must be in (0, 1]") }
        var seen = Set<String>()
        for c in definition.checks {
            if !seen.insert(c.feature).inserted { out.append("feature \"\(c.feature)\" is checked twice; keep one check per feature") }
            if let t = c.threshold, !(t.isFinite && t >= 0) { out.append("threshold of \"\(c.feature)\" must be a non-negative number") }
        }
        if let p = definition.performance {
            out += p.problems
            if case .dataset = definition.source { out.append("performance monitoring needs an endpoint source: labels join its captured predictions") }
        }
        if let hook = definition.alert?.webhook {
            if let url = URL(string: hook), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil {} else {
                out.append("alert webhook \(AlertTarget.redact(hook)) is not an http(s) URL")
            }
        }
        return out
    }

    /// Stores a monitor, profiling its reference when it is new or has changed.
    /// Returns whether a new profile was computed.
    @discardableResult
    public func apply(_ definition: MonitorDefinition, now: Date = Date()) throws -> Bool {
        let problems = Self.problems(in: definition)
        if !problems.isEmpty {
            throw DriftError.badConfig("monitor \(definition.name): \(problems.joined(separator: "; "))", remedy: "fix the monitor's settings")
        }
        let hash = try Self.sha256(ofFile: definition.reference)
        var profiled = false
        if try store.profileHash(definition.name) != hash {
            let table = try CSVReader.read(path: definition.reference)
            let profile = try ReferenceProfile.build(from: table, source: definition.reference, sha256: hash, created: now)
            for c in definition.checks where profile.columns[c.feature] == nil {
                throw DriftError.badConfig("monitor \(definition.name): feature \"\(c.feature)\" is not a column of \(definition.reference)",
                                           remedy: "reference columns: \(profile.columns.keys.sorted().joined(separator: ", "))")
            }
            try store.upsert(definition, now: now)
            try store.saveProfile(profile, for: definition.name)
            profiled = true
        } else {
            if let profile = try store.loadProfile(definition.name, columns: []) {
                for c in definition.checks where profile.columns[c.feature] == nil {
                    throw DriftError.badConfig("monitor \(definition.name): feature \"\(c.feature)\" is not a column of \(definition.reference)",
                                               remedy: "reference columns: \(profile.columns.keys.sorted().joined(separator: ", "))")
                }
            }
            try store.upsert(definition, now: now)
        }
        try profilePerformance(definition, referenceHash: hash)
        return profiled
    }

    /// Computes the reference's metrics when the reference or the performance settings changed.
    func profilePerformance(_ definition: MonitorDefinition, referenceHash: String) throws {
        guard let spec = definition.performance else { return }
        let key = try referenceHash + " " + MonitorCoding.text(spec)
        if try store.referencePerformance(definition.name)?.key == key { return }
        let table = try CSVReader.read(path: definition.reference, columns: [spec.label, spec.prediction])
        let metrics = try PerformanceEvaluator.reference(spec: spec, table: table, source: definition.reference)
        try store.saveReferencePerformance(metrics, key: key, for: definition.name)
    }

    /// Removes a monitor with its runs; its series leave `monitoring/metrics.prom` with it.
    public func remove(_ name: String) throws {
        try store.delete(name)
        writeMetrics()
    }

    public func monitor(_ name: String) throws -> MonitorDefinition {
        guard let m = try store.monitor(name) else {
            let known = (try? store.monitors().map(\.name)) ?? []
            throw DriftError.notFound("no monitor named \"\(name)\" in \(dataDirectory)",
                                      remedy: known.isEmpty ? "create one with a monitor resource and `mlinfra apply`" : "known monitors: \(known.joined(separator: ", "))")
        }
        return m
    }

    /// Computes a drift report now, without storing it.
    public func evaluate(_ definition: MonitorDefinition, at now: Date) throws -> DriftReport {
        let features = definition.checks.isEmpty ? nil : Set(definition.checks.map(\.feature))
        let output = definition.performance?.prediction
        guard let profile = try store.loadProfile(definition.name, columns: features.map { $0.union(output.map { [$0] } ?? []) }) else {
            throw DriftError.notFound("monitor \(definition.name) has no reference profile", remedy: "run `mlinfra apply` to profile its reference")
        }
        let current: DataTable
        var performance: PerformanceReport?
        var predictionDrift: FeatureDrift?
        switch definition.source {
        case .dataset(let path):
            // Without checks every shared column is compared, so read them all.
            current = try CSVReader.read(path: path, columns: features)
        case .endpoint(let endpoint):
            let capture = try openCapture()
            let start = now.addingTimeInterval(-definition.window)
            let records = try CaptureReader.records(store: capture, endpoint: endpoint, from: start, to: now)
            if records.isEmpty { throw try Self.emptyWindow(endpoint: endpoint, store: capture, from: start, to: now) }
            current = try CaptureReader.table(records, endpoint: endpoint, features: features)
            if let spec = definition.performance {
                performance = try evaluatePerformance(spec, monitor: definition.name, endpoint: endpoint, records: records,
                                                      capture: capture, from: start, to: now)
                predictionDrift = try Self.predictionDrift(spec.prediction, records: records, profile: profile)
            }
        }
        let label: String
        switch definition.source {
        case .dataset(let path): label = path
        case .endpoint(let e): label = "endpoint \(e), capture over the last \(Self.formatWindow(definition.window))"
        }
        var report = try DriftEvaluator.evaluate(monitor: definition.name, profile: profile, current: current, currentSource: label,
                                                 checks: definition.checks, driftShare: definition.driftShare,
                                                 correction: definition.correction, time: now)
        report.performance = performance
        report.predictionDrift = predictionDrift
        return report
    }

    /// The drift of a model output over the window's captures, by the same default rule as a feature.
    static func predictionDrift(_ output: String, records: [CaptureRecord], profile: ReferenceProfile) throws -> FeatureDrift {
        guard let column = profile.columns[output] else {
            throw DriftError.badConfig("the reference \(profile.source) has no column \"\(output)\" for the model's output",
                                       remedy: "add the model's output on the reference rows, or set performance.prediction")
        }
        var values = [Double](), missing = 0
        for r in records {
            let outputs = (try? JSONSerialization.jsonObject(with: Data(r.outputs.utf8))) as? [String: Any]
            if let n = outputs?[output] as? NSNumber, n.doubleValue.isFinite { values.append(n.doubleValue) } else { missing += 1 }
        }
        let current: ColumnValues = column.kind == .numerical ? .numerical(values) : .categorical(values.map(DriftStatistics.formatNumber))
        var drift = try DriftEvaluator.evaluate(check: DriftCheck(feature: output), column: column, sortedReference: profile.sorted[output], current: current)
        drift.missing = MissingValues(referenceMissing: column.missing ?? 0, referenceRows: profile.rowCount, currentMissing: missing, currentRows: records.count)
        return drift
    }

    /// Joins the window's captured predictions with the labels received since the window began
    /// (posted to the endpoint's `/feedback`, and the spec's labels CSV) and measures each version.
    func evaluatePerformance(_ spec: PerformanceSpec, monitor: String, endpoint: String, records: [CaptureRecord],
                             capture: any CaptureStore, from start: Date, to end: Date) throws -> PerformanceReport {
        var labels: [LabelRecord]
        do {
            labels = try capture.labels(endpoint: endpoint, receivedAfter: start.timeIntervalSince1970, through: end.timeIntervalSince1970)
        } catch let error as CaptureStoreError {
            throw DriftError(error)
        }
        if let path = spec.labels { labels += try Self.labels(csv: path, endpoint: endpoint, label: spec.label, entityKeys: Self.entityKeys(records)) }
        let reference = try store.referencePerformance(monitor)?.metrics
        return try PerformanceEvaluator.evaluate(spec: spec, reference: reference, captures: records, labels: labels)
    }

    /// The time columns a labels CSV by entity may name, in order of preference.
    static let labelTimeColumns = ["event_timestamp", "time"]

    /// A labels CSV, read whole at each run, its labels counted as received before any window. Either
    /// `request_id` and the label column, or the entity's join key columns, a time column
    /// (`event_timestamp` or `time`: ISO 8601 or Unix seconds) and the label column. The join keys
    /// are the columns besides time and label; when the window holds entity predictions, they must
    /// be the keys those were made with (`entityKeys`), so a mistyped column is refused, not unmatched.
    static func labels(csv path: String, endpoint: String, label: String, entityKeys: Set<String> = []) throws -> [LabelRecord] {
        let header = try CSVReader.header(path: path)
        let found = header.map { "\"\($0)\"" }.joined(separator: ", ")
        let timeColumn = labelTimeColumns.first(where: header.contains)
        let keyColumns = header.filter { $0 != label && $0 != timeColumn }
        func refuse(_ problem: String) -> DriftError {
            var expected = "request_id,\(label) (the x-mlinfra-request-id of each prediction), or the entity's join key columns"
            if !entityKeys.isEmpty { expected += " (\(entityKeys.sorted().joined(separator: ", ")))" }
            expected += ", event_timestamp or time (ISO 8601 or Unix seconds) and \(label)"
            return DriftError.badData("labels \(path): \(problem); its columns are \(found)", remedy: "write \(expected)")
        }
        guard header.contains(label) else { throw refuse("no label column \"\(label)\"") }
        let byRequest = header.contains("request_id")
        if !byRequest {
            guard let timeColumn else { throw refuse("neither request_id nor a time column") }
            guard !keyColumns.isEmpty else { throw refuse("a time column \"\(timeColumn)\" but no entity join key column") }
            if !entityKeys.isEmpty && Set(keyColumns) != entityKeys {
                throw refuse("join key columns \(keyColumns.joined(separator: ", ")) where the window's predictions were made by \(entityKeys.sorted().joined(separator: ", "))")
            }
        }
        let wanted: Set<String> = byRequest ? ["request_id", label] : Set(keyColumns + [timeColumn!, label])
        let table = try CSVReader.read(path: path, columns: wanted)
        guard case .numerical(let values) = table.columns[label], table.missingCount(label) == 0 else {
            throw DriftError.badData("labels \(path): column \"\(label)\" must hold a number in every row", remedy: "labels are 0/1 or numbers")
        }
        func strings(_ column: String, _ remedy: String) throws -> [String] {
            let s: [String]
            switch table.columns[column] {
            case .categorical(let v): s = v
            case .numerical(let n): s = n.map(DriftStatistics.formatNumber)
            case nil: s = []
            }
            guard s.count == values.count else { throw DriftError.badData("labels \(path): every row needs a \(column)", remedy: remedy) }
            return s
        }
        if byRequest {
            let ids = try strings("request_id", "give the x-mlinfra-request-id of each labelled prediction")
            return zip(ids, values).map { LabelRecord(endpoint: endpoint, requestID: $0, label: $1, received: -.greatestFiniteMagnitude) }
        }
        var keys = [String: [String]]()
        for k in keyColumns { keys[k] = try strings(k, "give the entity's \(k) on each row") }
        let times: [Double]
        switch table.columns[timeColumn!] {
        case .numerical(let n) where n.count == values.count: times = n
        case .categorical(let text) where text.count == values.count:
            let iso = ISO8601DateFormatter(), fractional = ISO8601DateFormatter()
            fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            times = try text.enumerated().map { i, t in
                guard let d = iso.date(from: t) ?? fractional.date(from: t) ?? Double(t).flatMap({ $0.isFinite ? Date(timeIntervalSince1970: $0) : nil }) else {
                    throw DriftError.badData("labels \(path): row \(i + 1) has \(timeColumn!) \"\(t)\", not a time",
                                             remedy: "write when the prediction was acted on: ISO 8601 (2026-12-01T10:00:00Z) or Unix seconds")
                }
                return d.timeIntervalSince1970
            }
        default:
            throw DriftError.badData("labels \(path): every row needs a \(timeColumn!)", remedy: "write when the prediction was acted on: ISO 8601 or Unix seconds")
        }
        return values.indices.map { r in
            LabelRecord(endpoint: endpoint, entity: CaptureRecord.entityKey(keys.mapValues { $0[r] }), time: times[r],
                        label: values[r], received: -.greatestFiniteMagnitude)
        }
    }

    /// The join key names of the entity predictions among `records`.
    static func entityKeys(_ records: [CaptureRecord]) -> Set<String> {
        var out = Set<String>(), seen = Set<String>()
        for r in records {
            guard let e = r.entity, seen.insert(e).inserted else { continue }
            if let keys = (try? JSONSerialization.jsonObject(with: Data(e.utf8))) as? [String: Any] { out.formUnion(keys.keys) }
        }
        return out
    }

    /// Runs a monitor: evaluates, stores the result (or the error) with its time, and alerts on
    /// drift — and on a failed run, which would otherwise leave the monitor silently dead.
    /// Runs a scheduled slot of a monitor unless it has run: while holding the slot against every
    /// other agent sharing the store, so each due time runs (and alerts) once. Returns nil when
    /// another agent ran it.
    /// The agents that find the slot run refresh their metrics file all the same, so each host's
    /// exposition shows the shared store's latest run.
    public func runScheduled(_ name: String, slot: Date, at now: Date, trigger: MonitorRun.Trigger) async throws -> MonitorRun? {
        let ran = try await store.exclusively(monitor: name, slot: slot) { () async throws -> MonitorRun? in
            if try store.hasRun(name, slot: slot) { return nil }
            return try await run(name, at: now, trigger: trigger, slot: slot)
        }
        if ran == nil { writeMetrics() }
        return ran
    }

    @discardableResult
    public func run(_ name: String, at now: Date = Date(), trigger: MonitorRun.Trigger = .manual, slot: Date? = nil) async throws -> MonitorRun {
        let definition = try monitor(name)
        let report: DriftReport
        do {
            report = try evaluate(definition, at: now)
        } catch {
            let message = String(describing: error)
            let alertStatus = try await notify(definition, keys: ["run failed"], at: now) { target in
                await alerts.send(failure: message, monitor: name, time: now, target: target, logger: logger)
            }
            try store.recordRun(monitor: name, time: now, trigger: trigger, slot: slot, report: nil, alert: alertStatus, error: message)
            writeMetrics()
            throw error
        }
        logger.info("monitor \(name): \(report.verdict) (\(report.driftedCount)/\(report.features.count) features drifted)")
        let alertStatus = try await notify(definition, keys: report.alertKeys, at: now) { target in
            await alerts.send(report: report, target: target, logger: logger)
        }
        let run = try store.recordRun(monitor: name, time: now, trigger: trigger, slot: slot, report: report, alert: alertStatus, error: nil)
        writeMetrics()
        return run
    }

    /// Refreshes `monitoring/metrics.prom` after a run; a file that cannot be written is logged,
    /// never a reason to fail the run that was stored.
    func writeMetrics() {
        guard writesMetricsFile else { return }
        do { try MonitorMetrics.write(store, dataDirectory: dataDirectory) } catch {
            logger.warning("monitor metrics not written to \(MonitorMetrics.file(dataDirectory: dataDirectory).path): \(error)")
        }
    }

    /// Alert hygiene: one open alert per monitor and problem (`keys`) until it resolves. Problems
    /// already open send nothing; new ones send `alert` unless the monitor's cooldown since its
    /// last alert has not passed (then they wait for a later run); problems that were open and are
    /// gone send one signed "resolved" notification. Returns the run's alert status.
    func notify(_ definition: MonitorDefinition, keys: Set<String>, at now: Date,
                alert: (AlertTarget?) async -> String) async throws -> String {
        let name = definition.name
        let open = try store.openAlerts(name)
        let resolved = open.subtracting(keys), new = keys.subtracting(open)
        var status = keys.isEmpty ? "not needed" : "already open"
        if !new.isEmpty {
            let cooldown = definition.alert?.cooldown ?? 0
            if let last = try store.lastAlertTime(name), now.timeIntervalSince(last) < cooldown {
                status = "held: cooldown until \(ISO8601DateFormatter().string(from: last.addingTimeInterval(cooldown)))"
                try store.updateAlerts(name, opened: [], resolved: resolved, sentAt: nil)
            } else {
                status = await alert(definition.alert)
                try store.updateAlerts(name, opened: new, resolved: resolved, sentAt: now)
            }
        } else {
            try store.updateAlerts(name, opened: [], resolved: resolved, sentAt: nil)
        }
        if !resolved.isEmpty {
            let sent = await alerts.send(resolved: resolved.sorted(), monitor: name, time: now, target: definition.alert, logger: logger)
            status += "; resolved \(resolved.sorted().joined(separator: ", ")): \(sent)"
        }
        return status
    }

    /// Why a window of captured traffic is empty, as far as the store can tell.
    static func emptyWindow(endpoint: String, store: any CaptureStore, from start: Date, to end: Date) throws -> DriftError {
        let iso = ISO8601DateFormatter()
        let window = "(\(iso.string(from: start)), \(iso.string(from: end))]"
        let timing = "captured requests reach the store within 0.25 s of their answer; with capture.sample_percent P the first request "
            + "and then one in 100/P are captured"
        guard let latest = try store.latestTime(endpoint: endpoint) else {
            return DriftError.badData("endpoint \(endpoint) has no captured request in \(store.location)",
                                      remedy: "check that capture is on (capture: { sample_percent: N }) and the endpoint got traffic; \(timing)")
        }
        return DriftError.badData("endpoint \(endpoint) has no captured request in the window \(window); its latest is at \(iso.string(from: Date(timeIntervalSince1970: latest)))",
                                  remedy: "widen the monitor's window or send the endpoint traffic; \(timing)")
    }

    static func formatWindow(_ seconds: TimeInterval) -> String {
        let s = Int(seconds)
        for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60)] where s % size == 0 && s >= size { return "\(s / size)\(unit)" }
        return "\(s)s"
    }

    /// Hex SHA-256 of a file, read in 4 MiB pieces.
    public static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DriftError.io("cannot open reference \(path)", remedy: "check the path (relative paths are relative to the spec directory)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while true {
            let chunk = handle.readData(ofLength: 1 << 22)
            if chunk.isEmpty { break }
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
