import Foundation

/// Where a registry keeps its records: models, versions, aliases and the audit log.
///
/// `ModelRegistry` holds the rules (numbering, protected aliases, archive-existing, what the
/// audit log says); a storage only keeps records and runs each change as one transaction.
/// Two implementations pass one conformance suite: `SQLiteRegistryStorage` (a file beside the
/// artifacts, the default) and `PostgresRegistryStorage` (a schema of a shared database).
///
/// The rules every implementation keeps:
/// - `write` runs its body as one transaction: all of it is stored, or none of it.
/// - Changes to one model are serialised: in a `write`, `model(_:)` and `takeVersionNumber`
///   hold that model's row until the transaction ends, so two writers (threads, processes or
///   hosts) never interleave changes to one model, and version numbers are taken one at a time.
/// - A body may run more than once when two writers collided (it must only read and write
///   through the records it is given); the storage decides, the result is the same.
/// - The audit log is append-only in the database itself: an UPDATE or DELETE of it fails.
/// - Lists come back in a fixed order: models by name, versions by model then number, aliases
///   by name, audit entries by id.
protocol RegistryStorage: Sendable {
    func read<T>(_ body: (any RegistryRecords) throws -> T) throws -> T
    func write<T>(_ body: (any RegistryRecordWriter) throws -> T) throws -> T
    /// A registration's common case in one step, for a storage that can do it faster than a
    /// `write` can: takes `model`'s next number, inserts the version `new(number)` makes and
    /// appends the audit entry it makes, all in one transaction, and runs `beforeCommit` before
    /// that commits. `new` must make its records from the number alone, as text that holds it
    /// (a storage may call it more than once, and fill the number in on the server).
    /// Returns nil, having changed nothing, when the model does not exist or a version of it
    /// already has `creationKey`, or when the storage has no such step: the caller then takes
    /// the general `write` way, which handles those cases. `beforeCommit` may run either way.
    func recordNextVersion(
        of model: String, creationKey: String?, at time: Double, _ new: (Int) -> (VersionRecord, AuditRecord),
        beforeCommit: () throws -> Void
    ) throws -> VersionRecord?
}

extension RegistryStorage {
    /// No one-step registration: SQLite's `write` is already one local transaction.
    func recordNextVersion(
        of model: String, creationKey: String?, at time: Double, _ new: (Int) -> (VersionRecord, AuditRecord),
        beforeCommit: () throws -> Void
    ) throws -> VersionRecord? {
        nil
    }
}

/// What a storage reads, inside a transaction.
protocol RegistryRecords: TrackingRecords {
    func model(_ name: String) throws -> ModelRecord?
    func models() throws -> [ModelRecord]
    func version(_ model: String, _ number: Int) throws -> VersionRecord?
    /// Every version of `model`, or of all models when nil.
    func versions(of model: String?) throws -> [VersionRecord]
    func versionCount(of model: String) throws -> Int
    func version(of model: String, creationKey: String) throws -> VersionRecord?
    /// The highest-numbered version of `model` matching the filter (nil filters match all).
    func newestVersion(of model: String, sha256: String?, stage: String?) throws -> VersionRecord?
    /// The versions of `model` in `stage`, besides version `excluding`.
    func versions(of model: String, inStage stage: String, excluding: Int) throws -> [VersionRecord]
    func alias(_ model: String, _ alias: String) throws -> AliasRecord?
    /// The aliases of `model` (of all models when nil), optionally only those pointing to `version`.
    func aliases(of model: String?, version: Int?) throws -> [AliasRecord]
    func audit(of model: String?) throws -> [AuditRecord]
    /// What moving an alias reads: the model (its row held in a write), version `number` and the
    /// alias's record, each nil when missing. A storage may fetch the three in one round trip, as
    /// long as the version and the alias are read after the model's row is held.
    func aliasMove(_ model: String, _ alias: String, version number: Int) throws -> (ModelRecord?, VersionRecord?, AliasRecord?)
}

extension RegistryRecords {
    func aliasMove(_ model: String, _ alias: String, version number: Int) throws -> (ModelRecord?, VersionRecord?, AliasRecord?) {
        guard let record = try self.model(model) else { return (nil, nil, nil) }
        return (record, try version(model, number), try self.alias(model, alias))
    }
}

/// What a storage changes, inside the one transaction of a `write`.
protocol RegistryRecordWriter: RegistryRecords, TrackingRecordWriter {
    func insert(_ model: ModelRecord) throws
    func update(_ model: ModelRecord) throws
    /// Deletes the model with its versions and aliases.
    func deleteModel(_ name: String) throws
    /// Takes the model's next version number (raising `last_version`), or nil when there is no such model.
    func takeVersionNumber(of model: String, at time: Double) throws -> Int?
    func insert(_ version: VersionRecord) throws
    func update(_ version: VersionRecord) throws
    func deleteVersion(_ model: String, _ number: Int) throws
    /// Inserts or replaces the alias.
    func save(_ alias: AliasRecord) throws
    func deleteAlias(_ model: String, _ alias: String) throws
    func append(_ entry: AuditRecord) throws
}
