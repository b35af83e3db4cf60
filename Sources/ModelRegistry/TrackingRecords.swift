import Foundation
import GRDB

/// What a storage reads of the tracking records (experiments, runs, metrics, logged models and
/// the index of tracked artifacts), inside a transaction. Lists come back in a fixed order:
/// experiments by id, runs by start time then id, metrics as they were logged, logged models by
/// creation time then id, artifacts by path.
protocol TrackingRecords {
    func experiment(id: Int64) throws -> ExperimentRecord?
    func experiment(named name: String) throws -> ExperimentRecord?
    func experiments() throws -> [ExperimentRecord]
    /// The run; in a write it holds the run's row until the transaction ends.
    func run(_ id: String) throws -> RunRecord?
    func runs(inExperiments ids: [Int64]) throws -> [RunRecord]
    /// The run's metric points of `key` (of every key when nil).
    func metrics(of run: String, key: String?) throws -> [MetricRecord]
    /// The logged model; in a write it holds its row until the transaction ends.
    func loggedModel(_ id: String) throws -> LoggedModelRecord?
    func loggedModels(inExperiments ids: [Int64]) throws -> [LoggedModelRecord]
    func trackedArtifact(_ path: String) throws -> TrackedArtifactRecord?
    /// The artifacts whose path starts with `prefix` followed by `/` (all when `prefix` is empty).
    func trackedArtifacts(under prefix: String) throws -> [TrackedArtifactRecord]
}

/// What a storage changes of the tracking records.
protocol TrackingRecordWriter: TrackingRecords {
    /// Inserts a new experiment; an id or a name already taken is an error of the storage.
    func insert(_ experiment: ExperimentRecord) throws
    func update(_ experiment: ExperimentRecord) throws
    /// Inserts or replaces the run.
    func save(_ run: RunRecord) throws
    func append(_ metrics: [MetricRecord]) throws
    /// Inserts or replaces the logged model.
    func save(_ model: LoggedModelRecord) throws
    /// Inserts or replaces the artifact at its path.
    func save(_ artifact: TrackedArtifactRecord) throws
}

struct ExperimentRecord: Codable, SnakeCaseRecord, Equatable {
    static let databaseTableName = "experiment"

    var id: Int64
    var name: String
    var artifactLocation: String
    /// `active` or `deleted`.
    var lifecycleStage: String
    var tags: [String: String]
    /// Milliseconds since 1970, as MLflow counts.
    var createdAt: Int64
    var updatedAt: Int64
}

struct RunRecord: Codable, SnakeCaseRecord, Equatable {
    static let databaseTableName = "run"

    var id: String
    var experimentId: Int64
    var name: String
    var userId: String
    var status: String
    var startTime: Int64
    var endTime: Int64?
    var lifecycleStage: String
    var artifactUri: String
    var params: [String: String]
    var tags: [String: String]
    /// The ids of the logged models the run produced.
    var outputs: [String]
}

struct MetricRecord: Codable, SnakeCaseRecord, Equatable {
    static let databaseTableName = "metric"

    var id: Int64?
    var runId: String
    var key: String
    var value: Double
    var timestamp: Int64
    var step: Int64
}

struct LoggedModelRecord: Codable, SnakeCaseRecord, Equatable {
    static let databaseTableName = "logged_model"

    var id: String
    var experimentId: Int64
    var name: String
    var sourceRunId: String?
    var status: String
    var modelType: String
    var artifactLocation: String
    var params: [String: String]
    var tags: [String: String]
    var createdAt: Int64
    var updatedAt: Int64
}

/// One file of the tracked artifacts (a run's or a logged model's), kept in the content-addressed
/// store under its sha256; `path` is its place in the `mlflow-artifacts:/` tree.
struct TrackedArtifactRecord: Codable, SnakeCaseRecord, Equatable {
    static let databaseTableName = "tracked_artifact"

    var path: String
    var sha256: String
    var size: Int64
    var createdAt: Int64
}
