import Foundation

/// Where tracking records point their artifacts: MLflow's proxied-artifact scheme, which a
/// client resolves against the server it tracks to (`/api/2.0/mlflow-artifacts/artifacts/…`).
enum TrackingDefaults {
    static let scheme = "mlflow-artifacts:/"
    static let defaultExperimentLocation = scheme + "0"
}

/// An MLflow experiment: a named group of runs. Id 0 is MLflow's `Default`, made with the tables.
public struct Experiment: Sendable, Hashable {
    public var id: Int64
    public var name: String
    public var artifactLocation: String
    public var deleted: Bool
    public var tags: [String: String]
    /// Milliseconds since 1970, as MLflow counts.
    public var createdAt: Int64
    public var updatedAt: Int64
}

/// One point of a metric's history.
public struct MetricPoint: Sendable, Hashable {
    public var key: String
    public var value: Double
    /// Milliseconds since 1970.
    public var timestamp: Int64
    public var step: Int64

    public init(key: String, value: Double, timestamp: Int64, step: Int64) {
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.step = step
    }
}

/// An MLflow run: one execution of training code, with its params, metrics and tags.
public struct TrackedRun: Sendable, Hashable {
    public var id: String
    public var experimentID: Int64
    public var name: String
    public var userID: String
    /// RUNNING, SCHEDULED, FINISHED, FAILED or KILLED.
    public var status: String
    public var startTime: Int64
    public var endTime: Int64?
    public var deleted: Bool
    public var artifactURI: String
    public var params: [String: String]
    public var tags: [String: String]
    /// Each metric's latest point (highest step, then latest timestamp, then largest value, as MLflow picks it).
    public var latestMetrics: [MetricPoint]
    /// The logged models the run produced.
    public var outputs: [String]
}

/// An MLflow 3 logged model: a model's files and metadata, made by `log_model` before any registration.
public struct LoggedModel: Sendable, Hashable {
    public var id: String
    public var experimentID: Int64
    public var name: String
    public var sourceRunID: String?
    /// LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.
    public var status: String
    public var modelType: String
    public var artifactLocation: String
    public var params: [String: String]
    public var tags: [String: String]
    public var createdAt: Int64
    public var updatedAt: Int64
}

/// A tracked artifact file: its place in the `mlflow-artifacts:/` tree and its content.
public struct TrackedArtifact: Sendable, Hashable {
    public var path: String
    public var sha256: String
    public var size: Int64

    public init(path: String, sha256: String, size: Int64) {
        self.path = path
        self.sha256 = sha256
        self.size = size
    }
}

/// The run statuses MLflow knows.
public enum RunStatus {
    public static let all: Set<String> = ["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
}

extension ModelRegistry {
    // MARK: - Experiments

    /// Creates an experiment with the next free id; its artifacts go under `mlflow-artifacts:/ID`
    /// unless `artifactLocation` names another place.
    public func createExperiment(_ name: String, artifactLocation: String? = nil, tags: [String: String] = [:]) throws -> Experiment {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw RegistryError.invalid("name", "an experiment needs a name", remedy: "Pass a non-empty name.")
        }
        return try write { db in
            if try db.experiment(named: name) != nil {
                throw RegistryError(
                    .trackingExists, "experiment '\(name)' already exists", remedy: "Pick another name, or use the existing experiment.",
                    field: "name")
            }
            let id = (try db.experiments().map(\.id).max() ?? -1) + 1
            let t = millisNow()
            let record = ExperimentRecord(
                id: id, name: name, artifactLocation: artifactLocation ?? TrackingDefaults.scheme + String(id), lifecycleStage: "active",
                tags: tags, createdAt: t, updatedAt: t)
            try db.insert(record)
            return Experiment(record)
        }
    }

    public func experiment(id: Int64) throws -> Experiment? {
        try storage.read { db in try db.experiment(id: id).map(Experiment.init) }
    }

    public func experiment(named name: String) throws -> Experiment? {
        try storage.read { db in try db.experiment(named: name).map(Experiment.init) }
    }

    /// Every experiment, by id.
    public func experiments() throws -> [Experiment] {
        try storage.read { db in try db.experiments().map(Experiment.init) }
    }

    /// Renames, deletes or restores an experiment, or changes its tags; nil leaves a field as it is.
    @discardableResult
    public func updateExperiment(_ id: Int64, name: String? = nil, deleted: Bool? = nil, tags: [String: String]? = nil) throws -> Experiment {
        try write { db in
            var record = try requireExperiment(db, id)
            if let name, name != record.name {
                if try db.experiment(named: name) != nil {
                    throw RegistryError(.trackingExists, "experiment '\(name)' already exists", remedy: "Pick another name.", field: "new_name")
                }
                record.name = name
            }
            if let deleted {
                if deleted && id == 0 {
                    throw RegistryError.invalid("experiment_id", "the Default experiment (id 0) cannot be deleted")
                }
                record.lifecycleStage = deleted ? "deleted" : "active"
            }
            if let tags { record.tags = tags }
            record.updatedAt = millisNow()
            try db.update(record)
            return Experiment(record)
        }
    }

    // MARK: - Runs

    /// Starts a run in an active experiment; its artifacts go under the experiment's location.
    public func createRun(
        experimentID: Int64, name: String?, userID: String, startTime: Int64?, tags: [String: String] = [:]
    ) throws -> TrackedRun {
        try write { db in
            let experiment = try requireExperiment(db, experimentID)
            guard experiment.lifecycleStage == "active" else {
                throw RegistryError.invalid(
                    "experiment_id", "experiment \(experimentID) is deleted", remedy: "Restore it, or start the run in another experiment.")
            }
            let id = Self.newID()
            var tags = tags
            let runName = name.flatMap { $0.isEmpty ? nil : $0 } ?? tags["mlflow.runName"] ?? "run-\(id.prefix(8))"
            tags["mlflow.runName"] = runName
            let record = RunRecord(
                id: id, experimentId: experimentID, name: runName, userId: userID, status: "RUNNING",
                startTime: startTime ?? millisNow(), endTime: nil, lifecycleStage: "active",
                artifactUri: "\(experiment.artifactLocation)/\(id)/artifacts", params: [:], tags: tags, outputs: [])
            try db.save(record)
            return try loadRun(db, record)
        }
    }

    public func run(_ id: String) throws -> TrackedRun? {
        try storage.read { db in try db.run(id).map { try loadRun(db, $0) } }
    }

    /// The runs of the experiments, by start time.
    public func runs(inExperiments ids: [Int64]) throws -> [TrackedRun] {
        try storage.read { db in try db.runs(inExperiments: ids).map { try loadRun(db, $0) } }
    }

    /// Changes a run's status, end time, name or lifecycle; nil leaves a field as it is.
    @discardableResult
    public func updateRun(_ id: String, status: String? = nil, endTime: Int64? = nil, name: String? = nil, deleted: Bool? = nil) throws -> TrackedRun {
        if let status, !RunStatus.all.contains(status) {
            throw RegistryError.invalid("status", "unknown run status '\(status)'", remedy: "Use one of \(RunStatus.all.sorted().joined(separator: ", ")).")
        }
        return try write { db in
            var record = try requireRun(db, id)
            if let status { record.status = status }
            if let endTime { record.endTime = endTime }
            if let name, !name.isEmpty {
                record.name = name
                record.tags["mlflow.runName"] = name
            }
            if let deleted { record.lifecycleStage = deleted ? "deleted" : "active" }
            try db.save(record)
            return try loadRun(db, record)
        }
    }

    /// Logs metrics, params and tags to a run in one transaction. A param keeps its first value:
    /// logging another value for it is refused, as MLflow does.
    public func logBatch(
        run id: String, metrics: [MetricPoint] = [], params: [String: String] = [:], tags: [String: String] = [:],
        removingTags: [String] = []
    ) throws {
        for metric in metrics where !metric.value.isFinite {
            throw RegistryError.invalid(
                "metrics", "metric '\(metric.key)' has the value \(metric.value), which this registry does not store",
                remedy: "Log finite values (NaN and infinities are not kept).")
        }
        try write { db in
            var record = try requireRun(db, id)
            guard record.lifecycleStage == "active" else {
                throw RegistryError.invalid("run_id", "run \(id) is deleted", remedy: "Restore it before logging to it.")
            }
            for (key, value) in params {
                if let old = record.params[key], old != value {
                    throw RegistryError.invalid(
                        "params", "param '\(key)' of run \(id) is already '\(old)'; it cannot become '\(value)'",
                        remedy: "Params are logged once per run: start a new run, or log the value as a tag or metric.")
                }
                record.params[key] = value
            }
            record.tags.merge(tags) { _, new in new }
            if let name = tags["mlflow.runName"] { record.name = name }
            for key in removingTags {
                guard record.tags.removeValue(forKey: key) != nil else {
                    throw RegistryError(.trackingNotFound, "run \(id) has no tag '\(key)'", remedy: "Check the tag's key.", field: "key")
                }
            }
            try db.save(record)
            // A point already logged (same key, value, timestamp and step) is kept once, as MLflow
            // keeps it: `log_model` logs the run's latest metrics again to link them to the model.
            var known: [String: Set<MetricPoint>] = [:]
            var fresh: [MetricRecord] = []
            for metric in metrics {
                if known[metric.key] == nil {
                    known[metric.key] = Set(try db.metrics(of: id, key: metric.key).map {
                        MetricPoint(key: $0.key, value: $0.value, timestamp: $0.timestamp, step: $0.step)
                    })
                }
                guard known[metric.key]!.insert(metric).inserted else { continue }
                fresh.append(MetricRecord(id: nil, runId: id, key: metric.key, value: metric.value, timestamp: metric.timestamp, step: metric.step))
            }
            try db.append(fresh)
        }
    }

    /// Every logged point of a run's metric, in the order logged.
    public func metricHistory(run id: String, key: String) throws -> [MetricPoint] {
        try storage.read { db in
            _ = try requireRun(db, id)
            return try db.metrics(of: id, key: key).map { MetricPoint(key: $0.key, value: $0.value, timestamp: $0.timestamp, step: $0.step) }
        }
    }

    /// Records that a run produced these logged models.
    public func logOutputs(run id: String, models: [String]) throws {
        try write { db in
            var record = try requireRun(db, id)
            for model in models {
                guard try db.loggedModel(model) != nil else { throw Self.loggedModelNotFound(model) }
                if !record.outputs.contains(model) { record.outputs.append(model) }
            }
            try db.save(record)
        }
    }

    // MARK: - Logged models

    /// Creates a logged model (pending until finalized); its files go under
    /// `EXPERIMENT-LOCATION/models/ID/artifacts`.
    public func createLoggedModel(
        experimentID: Int64, name: String?, sourceRunID: String?, modelType: String = "", params: [String: String] = [:],
        tags: [String: String] = [:]
    ) throws -> LoggedModel {
        try write { db in
            let experiment = try requireExperiment(db, experimentID)
            if let sourceRunID { _ = try requireRun(db, sourceRunID) }
            let id = "m-" + Self.newID()
            let t = millisNow()
            let record = LoggedModelRecord(
                id: id, experimentId: experimentID, name: name.flatMap { $0.isEmpty ? nil : $0 } ?? "model", sourceRunId: sourceRunID,
                status: "LOGGED_MODEL_PENDING", modelType: modelType, artifactLocation: "\(experiment.artifactLocation)/models/\(id)/artifacts",
                params: params, tags: tags, createdAt: t, updatedAt: t)
            try db.save(record)
            return LoggedModel(record)
        }
    }

    public func loggedModel(_ id: String) throws -> LoggedModel? {
        try storage.read { db in try db.loggedModel(id).map(LoggedModel.init) }
    }

    public func loggedModels(inExperiments ids: [Int64]) throws -> [LoggedModel] {
        try storage.read { db in try db.loggedModels(inExperiments: ids).map(LoggedModel.init) }
    }

    /// Changes a logged model's status, tags or params; nil leaves a field as it is.
    @discardableResult
    public func updateLoggedModel(
        _ id: String, status: String? = nil, settingTags: [String: String] = [:], removingTag: String? = nil,
        settingParams: [String: String] = [:]
    ) throws -> LoggedModel {
        if let status, !["LOGGED_MODEL_PENDING", "LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"].contains(status) {
            throw RegistryError.invalid(
                "status", "unknown logged model status '\(status)'",
                remedy: "Use LOGGED_MODEL_PENDING, LOGGED_MODEL_READY or LOGGED_MODEL_UPLOAD_FAILED.")
        }
        return try write { db in
            guard var record = try db.loggedModel(id) else { throw Self.loggedModelNotFound(id) }
            if let status { record.status = status }
            record.tags.merge(settingTags) { _, new in new }
            if let removingTag { record.tags[removingTag] = nil }
            record.params.merge(settingParams) { _, new in new }
            record.updatedAt = millisNow()
            try db.save(record)
            return LoggedModel(record)
        }
    }

    // MARK: - Tracked artifacts

    /// Stores a file (copied in while hashed, bounded memory) at `path` of the `mlflow-artifacts:/`
    /// tree, replacing what was there.
    @discardableResult
    public func storeTrackedArtifact(_ path: String, file: URL) throws -> TrackedArtifact {
        try Self.checkArtifactPath(path)
        let (sha256, size) = try artifacts.ingest(file: file)
        try write { db in try db.save(TrackedArtifactRecord(path: path, sha256: sha256, size: size, createdAt: millisNow())) }
        return TrackedArtifact(path: path, sha256: sha256, size: size)
    }

    public func trackedArtifact(_ path: String) throws -> TrackedArtifact? {
        try storage.read { db in try db.trackedArtifact(path).map { TrackedArtifact(path: $0.path, sha256: $0.sha256, size: $0.size) } }
    }

    /// The files under `prefix` (every file when empty), by path.
    public func trackedArtifacts(under prefix: String) throws -> [TrackedArtifact] {
        try storage.read { db in
            try db.trackedArtifacts(under: prefix).map { TrackedArtifact(path: $0.path, sha256: $0.sha256, size: $0.size) }
        }
    }

    /// A local file holding the artifact's bytes, checked against its sha256 (for streaming out).
    public func verifiedFile(of artifact: TrackedArtifact) throws -> URL {
        try artifacts.verify(sha256: artifact.sha256, what: "artifact \(artifact.path)")
    }

    /// A version's files, by path relative to its folder (a file version is one file, named
    /// after its source). The manifest is checked here; each file when it is read (`verifiedFile`).
    public func files(of version: ModelVersion) throws -> [TrackedArtifact] {
        let what = "\(version.model) version \(version.version)"
        guard version.kind == .directory else {
            let name = version.source.split(separator: "/").last.map(String.init) ?? ""
            let safe = name.isEmpty || name == ".." || name == "." ? "artifact" : name
            return [TrackedArtifact(path: safe, sha256: version.sha256, size: version.size)]
        }
        let manifest = try artifacts.verify(sha256: version.sha256, what: what)
        return try DirectoryArtifact.parse(try Data(contentsOf: manifest), what: what).map {
            TrackedArtifact(path: $0.path, sha256: $0.sha256, size: $0.size)
        }
    }

    /// Registers the tracked files under `prefix` (an MLflow model folder) as a directory version:
    /// their manifest is made from the stored files, so nothing is copied again.
    public func registerTracked(
        model: String, prefix: String, source: String, format: String, runID: String?, description: String = "",
        tags: [String: String] = [:], context: ChangeContext
    ) throws -> ModelVersion {
        let files = try trackedArtifacts(under: prefix)
        guard !files.isEmpty else {
            throw RegistryError.invalid(
                "source", "source '\(source)' holds no artifact files", remedy: "Log the model's files first (log_model or log_artifacts).")
        }
        let entries = files.map { file in
            DirectoryArtifact.Entry(path: String(file.path.dropFirst(prefix.count + 1)), sha256: file.sha256, size: file.size, executable: false)
        }
        let (sha256, _) = try artifacts.ingest(data: DirectoryArtifact.manifest(entries))
        let request = RegistrationRequest(
            model: model, artifact: URL(fileURLWithPath: "/" + prefix), format: format, description: description, tags: tags,
            lineage: Lineage(runID: runID), source: source, createModelIfMissing: false)
        return try record(request, stored: (sha256, entries.reduce(0) { $0 + $1.size }), kind: .directory, context: context)
    }

    /// A path in the `mlflow-artifacts:/` tree: relative, without empty, `.` or `..` parts.
    static func checkArtifactPath(_ path: String) throws {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }), !path.contains("\n") else {
            throw RegistryError.invalid(
                "path", "'\(path)' is not an artifact path", remedy: "Use a relative path like 1/RUN_ID/artifacts/model/MLmodel, without '..'.")
        }
    }

    public static func loggedModelNotFound(_ id: String) -> RegistryError {
        RegistryError(.trackingNotFound, "logged model '\(id)' does not exist", remedy: "Check the model id (m-…).", field: "model_id")
    }

    // MARK: - Internals

    /// 32 lower-case hex digits, as MLflow's ids are.
    static func newID() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    func millisNow() -> Int64 { Int64((now().timeIntervalSince1970 * 1000).rounded()) }

    func requireExperiment(_ db: any RegistryRecords, _ id: Int64) throws -> ExperimentRecord {
        guard let record = try db.experiment(id: id) else {
            throw RegistryError(.trackingNotFound, "experiment \(id) does not exist", remedy: "Check the experiment id.", field: "experiment_id")
        }
        return record
    }

    func requireRun(_ db: any RegistryRecords, _ id: String) throws -> RunRecord {
        guard let record = try db.run(id) else {
            throw RegistryError(.trackingNotFound, "run '\(id)' does not exist", remedy: "Check the run id.", field: "run_id")
        }
        return record
    }

    private func loadRun(_ db: any RegistryRecords, _ r: RunRecord) throws -> TrackedRun {
        var latest: [String: MetricRecord] = [:]
        for m in try db.metrics(of: r.id, key: nil) {
            if let old = latest[m.key], (old.step, old.timestamp, old.value) > (m.step, m.timestamp, m.value) { continue }
            latest[m.key] = m
        }
        return TrackedRun(
            id: r.id, experimentID: r.experimentId, name: r.name, userID: r.userId, status: r.status, startTime: r.startTime,
            endTime: r.endTime, deleted: r.lifecycleStage == "deleted", artifactURI: r.artifactUri, params: r.params, tags: r.tags,
            latestMetrics: latest.keys.sorted().map { k in
                let m = latest[k]!
                return MetricPoint(key: m.key, value: m.value, timestamp: m.timestamp, step: m.step)
            },
            outputs: r.outputs)
    }
}

extension Experiment {
    init(_ r: ExperimentRecord) {
        self.init(
            id: r.id, name: r.name, artifactLocation: r.artifactLocation, deleted: r.lifecycleStage == "deleted", tags: r.tags,
            createdAt: r.createdAt, updatedAt: r.updatedAt)
    }
}

extension LoggedModel {
    init(_ r: LoggedModelRecord) {
        self.init(
            id: r.id, experimentID: r.experimentId, name: r.name, sourceRunID: r.sourceRunId, status: r.status, modelType: r.modelType,
            artifactLocation: r.artifactLocation, params: r.params, tags: r.tags, createdAt: r.createdAt, updatedAt: r.updatedAt)
    }
}
