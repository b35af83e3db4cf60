import EngineStorage
import Foundation
import GRDB

/// The registry's records in `registry.sqlite` (WAL), the default storage.
///
/// Several processes may open the same file at once: every change runs in one `BEGIN
/// IMMEDIATE` transaction, which takes SQLite's write lock at its start, so writers never
/// interleave and a body never needs to run twice.
final class SQLiteRegistryStorage: RegistryStorage {
    let path: String
    private let db: DatabasePool

    init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in
            // WAL with NORMAL sync: a commit never corrupts the database; the last commits may be
            // lost on power failure (not on a process crash).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            db = try RegistrySchema.migrator.openPool(path: path, configuration: config)
        } catch let error as DatabaseError {
            throw RegistryError(
                .invalidArgument, "cannot open the registry database \(path): \(error.message ?? "\(error)")",
                remedy: "Check that the directory is writable and holds an mlinfra registry.")
        }
    }

    func read<T>(_ body: (any RegistryRecords) throws -> T) throws -> T {
        try db.read { db in try body(SQLiteRecords(db: db)) }
    }

    func write<T>(_ body: (any RegistryRecordWriter) throws -> T) throws -> T {
        try db.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(SQLiteRecords(db: db))
                return .commit
            }
            return result!
        }
    }
}

/// The records of one SQLite transaction.
private struct SQLiteRecords: RegistryRecordWriter {
    let db: Database

    func model(_ name: String) throws -> ModelRecord? { try ModelRecord.fetchOne(db, key: name) }

    func models() throws -> [ModelRecord] { try ModelRecord.order(Column("name")).fetchAll(db) }

    func version(_ model: String, _ number: Int) throws -> VersionRecord? {
        try VersionRecord.fetchOne(db, key: ["model": model, "version": number])
    }

    func versions(of model: String?) throws -> [VersionRecord] {
        var request = VersionRecord.order(Column("model"), Column("version"))
        if let model { request = request.filter(Column("model") == model) }
        return try request.fetchAll(db)
    }

    func versionCount(of model: String) throws -> Int {
        try VersionRecord.filter(Column("model") == model).fetchCount(db)
    }

    func version(of model: String, creationKey: String) throws -> VersionRecord? {
        try VersionRecord.filter(Column("model") == model && Column("creation_key") == creationKey).fetchOne(db)
    }

    func newestVersion(of model: String, sha256: String?, stage: String?) throws -> VersionRecord? {
        var request = VersionRecord.filter(Column("model") == model)
        if let sha256 { request = request.filter(Column("sha256") == sha256) }
        if let stage { request = request.filter(Column("stage") == stage) }
        return try request.order(Column("version").desc).fetchOne(db)
    }

    func versions(of model: String, inStage stage: String, excluding: Int) throws -> [VersionRecord] {
        try VersionRecord.filter(Column("model") == model && Column("stage") == stage && Column("version") != excluding)
            .order(Column("version")).fetchAll(db)
    }

    func alias(_ model: String, _ alias: String) throws -> AliasRecord? {
        try AliasRecord.fetchOne(db, key: ["model": model, "alias": alias])
    }

    func aliases(of model: String?, version: Int?) throws -> [AliasRecord] {
        var request = AliasRecord.order(Column("alias"))
        if let model { request = request.filter(Column("model") == model) }
        if let version { request = request.filter(Column("version") == version) }
        return try request.fetchAll(db)
    }

    func audit(of model: String?) throws -> [AuditRecord] {
        var request = AuditRecord.order(Column("id"))
        if let model { request = request.filter(Column("model") == model) }
        return try request.fetchAll(db)
    }

    func insert(_ model: ModelRecord) throws { try model.insert(db) }

    func update(_ model: ModelRecord) throws { try model.update(db) }

    func deleteModel(_ name: String) throws {
        try AliasRecord.filter(Column("model") == name).deleteAll(db)
        try VersionRecord.filter(Column("model") == name).deleteAll(db)
        _ = try ModelRecord.deleteOne(db, key: name)
    }

    func takeVersionNumber(of model: String, at time: Double) throws -> Int? {
        try Int.fetchOne(
            db.cachedStatement(sql: "UPDATE model SET last_version = last_version + 1, updated_at = ? WHERE name = ? RETURNING last_version"),
            arguments: [time, model])
    }

    func insert(_ version: VersionRecord) throws { try version.insert(db) }

    func update(_ version: VersionRecord) throws { try version.update(db) }

    func deleteVersion(_ model: String, _ number: Int) throws {
        _ = try VersionRecord.deleteOne(db, key: ["model": model, "version": number])
    }

    func save(_ alias: AliasRecord) throws { try alias.save(db) }

    func deleteAlias(_ model: String, _ alias: String) throws {
        _ = try AliasRecord.deleteOne(db, key: ["model": model, "alias": alias])
    }

    func append(_ entry: AuditRecord) throws { try entry.insert(db) }
}

extension SQLiteRecords {
    func experiment(id: Int64) throws -> ExperimentRecord? { try ExperimentRecord.fetchOne(db, key: id) }

    func experiment(named name: String) throws -> ExperimentRecord? {
        try ExperimentRecord.filter(Column("name") == name).fetchOne(db)
    }

    func experiments() throws -> [ExperimentRecord] { try ExperimentRecord.order(Column("id")).fetchAll(db) }

    func run(_ id: String) throws -> RunRecord? { try RunRecord.fetchOne(db, key: id) }

    func runs(inExperiments ids: [Int64]) throws -> [RunRecord] {
        try RunRecord.filter(ids.contains(Column("experiment_id"))).order(Column("start_time"), Column("id")).fetchAll(db)
    }

    func metrics(of run: String, key: String?) throws -> [MetricRecord] {
        var request = MetricRecord.filter(Column("run_id") == run)
        if let key { request = request.filter(Column("key") == key) }
        return try request.order(Column("id")).fetchAll(db)
    }

    func loggedModel(_ id: String) throws -> LoggedModelRecord? { try LoggedModelRecord.fetchOne(db, key: id) }

    func loggedModels(inExperiments ids: [Int64]) throws -> [LoggedModelRecord] {
        try LoggedModelRecord.filter(ids.contains(Column("experiment_id"))).order(Column("created_at"), Column("id")).fetchAll(db)
    }

    func trackedArtifact(_ path: String) throws -> TrackedArtifactRecord? { try TrackedArtifactRecord.fetchOne(db, key: path) }

    func trackedArtifacts(under prefix: String) throws -> [TrackedArtifactRecord] {
        var request = TrackedArtifactRecord.order(Column("path"))
        if !prefix.isEmpty {
            // Byte order: every path under `prefix/` sorts between `prefix/` and `prefix0`.
            request = request.filter(Column("path") >= prefix + "/" && Column("path") < prefix + "0")
        }
        return try request.fetchAll(db)
    }

    func insert(_ experiment: ExperimentRecord) throws { try experiment.insert(db) }

    func update(_ experiment: ExperimentRecord) throws { try experiment.update(db) }

    func save(_ run: RunRecord) throws { try run.save(db) }

    func append(_ metrics: [MetricRecord]) throws {
        for metric in metrics { try metric.insert(db) }
    }

    func save(_ model: LoggedModelRecord) throws { try model.save(db) }

    func save(_ artifact: TrackedArtifactRecord) throws { try artifact.save(db) }
}
