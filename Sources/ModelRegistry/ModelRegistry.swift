import EngineStorage
import Foundation
import GRDB

/// A model registry kept in one directory: `registry.sqlite` (WAL) and a content-addressed `artifacts/` store.
///
/// Several processes may open the same directory at once: every change runs in
/// one `BEGIN IMMEDIATE` transaction, so concurrent registrations get distinct
/// version numbers, and every change appends to the audit log in that same transaction.
public final class ModelRegistry: Sendable {
    public let directory: URL
    let db: DatabasePool
    let artifacts: ArtifactStore
    let now: @Sendable () -> Date

    /// Opens (creating if needed) the registry in `directory`.
    public init(
        directory: URL, durability: ArtifactDurability = .synced, now: @escaping @Sendable () -> Date = Date.init
    ) throws {
        self.directory = directory
        self.now = now
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var config = Configuration()
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in
            // WAL with NORMAL sync: a commit never corrupts the database; the last commits may be
            // lost on power failure (not on a process crash).
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            db = try RegistrySchema.migrator.openPool(path: directory.appendingPathComponent("registry.sqlite").path, configuration: config)
        } catch let error as DatabaseError {
            throw RegistryError(
                .invalidArgument, "cannot open the registry database in \(directory.path): \(error.message ?? "\(error)")",
                hint: "Check that the directory is writable and holds an mlinfra registry.")
        }
        artifacts = try ArtifactStore(root: directory.appendingPathComponent("artifacts"), durability: durability)
    }

    // MARK: - Models

    /// Creates a registered model; fails when one of that name exists.
    @discardableResult
    public func createModel(
        _ name: String, description: String = "", tags: [String: String] = [:], protectedAliases: [String] = [],
        context: ChangeContext
    ) throws -> RegisteredModel {
        try Naming.checkModelName(name)
        for alias in protectedAliases { try Naming.checkAlias(alias) }
        for key in tags.keys { try Naming.checkTagKey(key) }
        return try write { db in
            if try ModelRecord.fetchOne(db, key: name) != nil {
                throw RegistryError(
                    .modelExists, "model '\(name)' already exists",
                    hint: "Pick another name, or register a new version of it.", field: "name")
            }
            let t = now().timeIntervalSince1970
            let record = ModelRecord(
                name: name, description: description, tags: tags, protectedAliases: protectedAliases.sorted(),
                lastVersion: 0, createdAt: t, updatedAt: t)
            try record.insert(db)
            try audit(db, context, "model.create", model: name, before: nil, after: ModelSnapshot(record),
                      summary: "model \(name) created")
            return try loadModel(db, name)
        }
    }

    /// Changes a model's description, tags or protected aliases; nil leaves a field as it is.
    @discardableResult
    public func updateModel(
        _ name: String, description: String? = nil, tags: [String: String]? = nil, protectedAliases: [String]? = nil,
        context: ChangeContext
    ) throws -> RegisteredModel {
        for alias in protectedAliases ?? [] { try Naming.checkAlias(alias) }
        for key in (tags ?? [:]).keys { try Naming.checkTagKey(key) }
        return try write { db in
            var record = try requireModel(db, name)
            let before = ModelSnapshot(record)
            if let description { record.description = description }
            if let tags { record.tags = tags }
            if let protectedAliases { record.protectedAliases = Array(Set(protectedAliases)).sorted() }
            let after = ModelSnapshot(record)
            if after != before {
                record.updatedAt = now().timeIntervalSince1970
                try record.update(db)
                try audit(db, context, "model.update", model: name, before: before, after: after,
                          summary: "model \(name) updated: " + before.changes(to: after))
            }
            return try loadModel(db, name)
        }
    }

    public func setModelTag(_ name: String, key: String, value: String, context: ChangeContext) throws {
        try Naming.checkTagKey(key)
        let model = try requireModel(name)
        var tags = model.tags
        tags[key] = value
        try updateModel(name, tags: tags, context: context)
    }

    public func deleteModelTag(_ name: String, key: String, context: ChangeContext) throws {
        var tags = try requireModel(name).tags
        tags[key] = nil
        try updateModel(name, tags: tags, context: context)
    }

    /// Deletes a model with its versions and aliases (artifact files stay: other versions may share them).
    public func deleteModel(_ name: String, context: ChangeContext) throws {
        try write { db in
            let record = try requireModel(db, name)
            let versions = try VersionRecord.filter(Column("model") == name).fetchCount(db)
            try AliasRecord.filter(Column("model") == name).deleteAll(db)
            try VersionRecord.filter(Column("model") == name).deleteAll(db)
            try record.delete(db)
            try audit(db, context, "model.delete", model: name, before: ModelSnapshot(record), after: nil,
                      summary: "model \(name) deleted with \(versions) version(s)")
        }
    }

    /// The model of that name, or nil.
    public func model(_ name: String) throws -> RegisteredModel? {
        try db.read { db in
            guard try ModelRecord.fetchOne(db, key: name) != nil else { return nil }
            return try loadModel(db, name)
        }
    }

    /// The model of that name; throws `modelNotFound` when there is none.
    public func requireModel(_ name: String) throws -> RegisteredModel {
        guard let model = try model(name) else { throw RegistryError.modelNotFound(name) }
        return model
    }

    /// All models, by name.
    public func models() throws -> [RegisteredModel] {
        try db.read { db in
            try ModelRecord.order(Column("name")).fetchAll(db).map { try loadModel(db, $0.name) }
        }
    }

    // MARK: - Versions

    /// Stores the artifact (hashing it) and records a new version with the next number.
    public func register(_ request: RegistrationRequest, context: ChangeContext) throws -> ModelVersion {
        try Naming.checkModelName(request.model)
        for key in request.tags.keys { try Naming.checkTagKey(key) }
        guard !request.format.isEmpty else {
            throw RegistryError.invalid("format", "the format of a version must not be empty", hint: "e.g. linear-json, xgboost-json, onnx or file")
        }
        if !request.createModelIfMissing, try !modelExists(request.model) {
            throw RegistryError.modelNotFound(request.model)
        }
        let stored = try artifacts.ingest(file: request.artifact)
        return try write { db in
            let t = now().timeIntervalSince1970
            // The next number, taken in this write transaction: concurrent registrations get distinct ones.
            let taken = try Int.fetchOne(
                db.cachedStatement(sql: "UPDATE model SET last_version = last_version + 1, updated_at = ? WHERE name = ? RETURNING last_version"),
                arguments: [t, request.model])
            let number: Int
            if let taken {
                number = taken
            } else {
                guard request.createModelIfMissing else { throw RegistryError.modelNotFound(request.model) }
                let model = ModelRecord(
                    name: request.model, description: "", tags: [:], protectedAliases: [], lastVersion: 1,
                    createdAt: t, updatedAt: t)
                try model.insert(db)
                try audit(db, context, "model.create", model: request.model, before: nil, after: ModelSnapshot(model),
                          summary: "model \(request.model) created")
                number = 1
            }
            let record = VersionRecord(
                model: request.model, version: number, source: request.source ?? request.artifact.path,
                sha256: stored.sha256, size: stored.size, format: request.format, description: request.description,
                tags: request.tags, runId: request.lineage.runID, dataset: request.lineage.dataset,
                gitCommit: request.lineage.commit, status: "READY", stage: Stage.none.rawValue,
                createdBy: context.actor, createdAt: t, updatedAt: t)
            try record.insert(db)
            try audit(db, context, "version.create", model: request.model, subject: "/\(record.version)",
                      before: nil, after: VersionSnapshot(record),
                      summary: "version \(record.version) registered (sha256 \(stored.sha256.prefix(12)), \(stored.size) bytes)")
            return ModelVersion(record, aliases: [])  // a new version carries no alias yet
        }
    }

    /// Whether a model of that name exists.
    public func modelExists(_ name: String) throws -> Bool {
        try db.read { db in try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM model WHERE name = ?"), arguments: [name]) ?? false }
    }

    /// The version, or nil.
    public func version(_ model: String, _ number: Int) throws -> ModelVersion? {
        try db.read { db in
            guard try VersionRecord.fetchOne(db, key: ["model": model, "version": number]) != nil else { return nil }
            return try loadVersion(db, model, number)
        }
    }

    /// All versions of a model, by number; throws when the model does not exist.
    public func versions(of model: String) throws -> [ModelVersion] {
        try db.read { db in
            _ = try requireModel(db, model)
            return try versionList(db, VersionRecord.filter(Column("model") == model))
        }
    }

    /// Every version of every model (for search).
    public func allVersions() throws -> [ModelVersion] {
        try db.read { db in try versionList(db, VersionRecord.all()) }
    }

    /// The newest version of a model whose artifact has this sha256, if any.
    public func version(of model: String, sha256: String) throws -> ModelVersion? {
        try db.read { db in
            guard
                let record = try VersionRecord.filter(Column("model") == model && Column("sha256") == sha256)
                    .order(Column("version").desc).fetchOne(db)
            else { return nil }
            return try loadVersion(db, model, record.version)
        }
    }

    /// Changes a version's description or tags; nil leaves a field as it is.
    @discardableResult
    public func updateVersion(
        _ model: String, _ number: Int, description: String? = nil, tags: [String: String]? = nil,
        lineage: Lineage? = nil, context: ChangeContext
    ) throws -> ModelVersion {
        for key in (tags ?? [:]).keys { try Naming.checkTagKey(key) }
        return try write { db in
            var record = try requireVersion(db, model, number)
            let before = VersionSnapshot(record)
            if let description { record.description = description }
            if let tags { record.tags = tags }
            if let lineage {
                record.runId = lineage.runID
                record.dataset = lineage.dataset
                record.gitCommit = lineage.commit
            }
            let after = VersionSnapshot(record)
            if after != before {
                record.updatedAt = now().timeIntervalSince1970
                try record.update(db)
                try audit(db, context, "version.update", model: model, subject: "/\(number)", before: before, after: after,
                          summary: "version \(number) updated: " + before.changes(to: after))
            }
            return try loadVersion(db, model, number)
        }
    }

    public func setVersionTag(_ model: String, _ number: Int, key: String, value: String, context: ChangeContext) throws {
        try Naming.checkTagKey(key)
        guard var tags = try version(model, number)?.tags else { throw try notFound(model, number) }
        tags[key] = value
        try updateVersion(model, number, tags: tags, context: context)
    }

    public func deleteVersionTag(_ model: String, _ number: Int, key: String, context: ChangeContext) throws {
        guard var tags = try version(model, number)?.tags else { throw try notFound(model, number) }
        tags[key] = nil
        try updateVersion(model, number, tags: tags, context: context)
    }

    /// Deletes a version. An alias still pointing to it is an error naming the alias, unless
    /// `removingAliases` (MLflow's behaviour), which deletes those aliases first, each audited.
    public func deleteVersion(_ model: String, _ number: Int, removingAliases: Bool = false, context: ChangeContext) throws {
        try write { db in
            let record = try requireVersion(db, model, number)
            let aliases = try AliasRecord.filter(Column("model") == model && Column("version") == number)
                .order(Column("alias")).fetchAll(db)
            if !aliases.isEmpty {
                let names = aliases.map(\.alias).joined(separator: ", ")
                guard removingAliases else {
                    throw RegistryError(
                        .versionHasAliases, "version \(number) of model '\(model)' is still the target of alias(es) \(names)",
                        hint: "Move or delete the alias(es) first.", field: "version")
                }
                let protected = try requireModel(db, model).protectedAliases
                for alias in aliases {
                    if protected.contains(alias.alias) && context.origin != .apply {
                        throw RegistryError.protectedAlias(model, alias.alias)
                    }
                    try alias.delete(db)
                    try audit(db, context, "alias.delete", model: model, subject: "@\(alias.alias)",
                              before: AliasSnapshot(version: alias.version), after: nil,
                              summary: "alias \(alias.alias) removed (was version \(alias.version))")
                }
            }
            try record.delete(db)
            try audit(db, context, "version.delete", model: model, subject: "/\(number)", before: VersionSnapshot(record),
                      after: nil, summary: "version \(number) deleted")
        }
    }

    /// Moves a version to a stage; with `archiveExisting`, other versions in that stage go to `Archived`.
    @discardableResult
    public func transitionStage(
        _ model: String, _ number: Int, to stage: Stage, archiveExisting: Bool = false, context: ChangeContext
    ) throws -> ModelVersion {
        if archiveExisting && !(stage == .staging || stage == .production) {
            throw RegistryError.invalid(
                "archive_existing_versions", "archiving existing versions only applies to the Staging and Production stages")
        }
        return try write { db in
            var record = try requireVersion(db, model, number)
            let t = now().timeIntervalSince1970
            if archiveExisting {
                let others = try VersionRecord
                    .filter(Column("model") == model && Column("stage") == stage.rawValue && Column("version") != number)
                    .fetchAll(db)
                for var other in others {
                    other.stage = Stage.archived.rawValue
                    other.updatedAt = t
                    try other.update(db)
                    try audit(db, context, "stage.transition", model: model, subject: "/\(other.version)",
                              before: StageSnapshot(stage: stage.rawValue), after: StageSnapshot(stage: Stage.archived.rawValue),
                              summary: "version \(other.version) stage: \(stage.rawValue) → Archived (archive existing)")
                }
            }
            let old = record.stage
            if old != stage.rawValue {
                record.stage = stage.rawValue
                record.updatedAt = t
                try record.update(db)
                try audit(db, context, "stage.transition", model: model, subject: "/\(number)",
                          before: StageSnapshot(stage: old), after: StageSnapshot(stage: stage.rawValue),
                          summary: "version \(number) stage: \(old) → \(stage.rawValue)")
            }
            return try loadVersion(db, model, number)
        }
    }

    // MARK: - Aliases

    /// Points an alias at a version. Protected aliases move only with an `apply` context.
    /// Returns the version it pointed to before (nil when new).
    @discardableResult
    public func setAlias(_ model: String, _ alias: String, version number: Int, context: ChangeContext) throws -> Int? {
        try Naming.checkAlias(alias)
        return try write { db in
            let record = try requireModel(db, model)
            if record.protectedAliases.contains(alias) && context.origin != .apply {
                throw RegistryError.protectedAlias(model, alias)
            }
            _ = try requireVersion(db, model, number)
            let existing = try AliasRecord.fetchOne(db, key: ["model": model, "alias": alias])
            if existing?.version == number { return number }
            try AliasRecord(model: model, alias: alias, version: number, updatedAt: now().timeIntervalSince1970).save(db)
            let summary = existing.map { "alias \(alias): \($0.version) → \(number)" } ?? "alias \(alias) → \(number)"
            try audit(db, context, "alias.set", model: model, subject: "@\(alias)",
                      before: existing.map { AliasSnapshot(version: $0.version) }, after: AliasSnapshot(version: number),
                      summary: summary)
            return existing?.version
        }
    }

    /// Removes an alias. Protected aliases are removed only with an `apply` context.
    public func deleteAlias(_ model: String, _ alias: String, context: ChangeContext) throws {
        try write { db in
            let record = try requireModel(db, model)
            if record.protectedAliases.contains(alias) && context.origin != .apply {
                throw RegistryError.protectedAlias(model, alias)
            }
            guard let existing = try AliasRecord.fetchOne(db, key: ["model": model, "alias": alias]) else {
                throw RegistryError.aliasNotFound(model, alias)
            }
            try existing.delete(db)
            try audit(db, context, "alias.delete", model: model, subject: "@\(alias)",
                      before: AliasSnapshot(version: existing.version), after: nil,
                      summary: "alias \(alias) removed (was version \(existing.version))")
        }
    }

    /// The version an alias points to, or nil.
    public func aliasTarget(_ model: String, _ alias: String) throws -> Int? {
        try db.read { db in try AliasRecord.fetchOne(db, key: ["model": model, "alias": alias])?.version }
    }

    // MARK: - Resolution and loading

    /// Resolves `models:/NAME/3`, `models:/NAME@alias`, `models:/NAME/Production` or `models:/NAME/latest`
    /// (the `models:/` prefix is optional) and checks the artifact against its sha256.
    public func resolve(_ uri: String) throws -> ResolvedModelVersion {
        let reference = try ModelReference(parsing: uri)
        let (version, via): (ModelVersion, String?) = try db.read { db in
            _ = try requireModel(db, reference.model)
            switch reference.selector {
            case .version(let n):
                return (try loadVersion(db, reference.model, n), nil)
            case .alias(let alias):
                guard let record = try AliasRecord.fetchOne(db, key: ["model": reference.model, "alias": alias]) else {
                    throw RegistryError.aliasNotFound(reference.model, alias)
                }
                return (try loadVersion(db, reference.model, record.version), "@" + alias)
            case .stage(let stage):
                guard
                    let record = try VersionRecord
                        .filter(Column("model") == reference.model && Column("stage") == stage.rawValue)
                        .order(Column("version").desc).fetchOne(db)
                else {
                    throw RegistryError(
                        .noVersionInStage, "model '\(reference.model)' has no version in stage \(stage.rawValue)",
                        hint: "Move a version there with a stage transition, or use an alias.")
                }
                return (try loadVersion(db, reference.model, record.version), stage.rawValue)
            case .latest:
                guard let record = try VersionRecord.filter(Column("model") == reference.model)
                    .order(Column("version").desc).fetchOne(db)
                else {
                    throw RegistryError(.versionNotFound, "model '\(reference.model)' has no versions",
                                        hint: "Register one with `mlinfra models register \(reference.model) --artifact PATH`.")
                }
                return (try loadVersion(db, reference.model, record.version), "latest")
            }
        }
        _ = try artifacts.load(sha256: version.sha256, what: "\(version.model) version \(version.version)")
        return ResolvedModelVersion(
            name: version.model, version: version.version, format: version.format, sha256: version.sha256,
            size: version.size, artifactPath: artifacts.path(for: version.sha256), via: via, tags: version.tags)
    }

    /// The artifact's bytes, checked against the version's sha256 as they are read.
    public func loadArtifact(_ resolved: ResolvedModelVersion) throws -> Data {
        try artifacts.load(sha256: resolved.sha256, what: "\(resolved.name) version \(resolved.version)")
    }

    /// The artifact's bytes of a version, checked against its sha256.
    public func loadArtifact(model: String, version number: Int) throws -> Data {
        guard let version = try version(model, number) else { throw try notFound(model, number) }
        return try artifacts.load(sha256: version.sha256, what: "\(model) version \(number)")
    }

    /// Where a version's artifact lives in the store (not checked; use `resolve` or `loadArtifact` to read it).
    public func artifactPath(sha256: String) -> URL { artifacts.path(for: sha256) }

    /// Stores raw bytes in the artifact store (for uploads); returns the sha256 and size.
    public func storeArtifact(_ data: Data) throws -> (sha256: String, size: Int64) { try artifacts.ingest(data: data) }

    /// The sha256 of a file's bytes, computed the way the store does.
    public static func sha256(ofFile url: URL) throws -> String {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw RegistryError(.artifactUnreadable, "cannot read \(url.path)", hint: "Check the path.", field: "artifact")
        }
        return ArtifactStore.sha256(of: data)
    }

    // MARK: - Audit

    /// The audit log, oldest first: of one model, or of all when `model` is nil.
    public func history(of model: String? = nil) throws -> [AuditEntry] {
        try db.read { db in
            var request = AuditRecord.order(Column("id"))
            if let model { request = request.filter(Column("model") == model) }
            return try request.fetchAll(db).map { r in
                AuditEntry(
                    id: r.id ?? 0, time: Date(timeIntervalSince1970: r.time), actor: r.actor,
                    origin: ChangeContext.Origin(rawValue: r.origin) ?? .api, action: r.action, model: r.model,
                    subject: r.subject, before: r.before, after: r.after, summary: r.summary, reason: r.reason,
                    planID: r.planId)
            }
        }
    }

    // MARK: - Internals

    /// Runs a change in one IMMEDIATE transaction, so two processes never interleave their changes.
    func write<T>(_ body: (Database) throws -> T) throws -> T {
        try db.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    private func notFound(_ model: String, _ number: Int) throws -> RegistryError {
        try self.model(model) == nil ? .modelNotFound(model) : .versionNotFound(model, number)
    }

    func requireModel(_ db: Database, _ name: String) throws -> ModelRecord {
        guard let record = try ModelRecord.fetchOne(db, key: name) else { throw RegistryError.modelNotFound(name) }
        return record
    }

    func requireVersion(_ db: Database, _ model: String, _ number: Int) throws -> VersionRecord {
        guard let record = try VersionRecord.fetchOne(db, key: ["model": model, "version": number]) else {
            _ = try requireModel(db, model)
            throw RegistryError.versionNotFound(model, number)
        }
        return record
    }

    func loadModel(_ db: Database, _ name: String) throws -> RegisteredModel {
        let record = try requireModel(db, name)
        let aliases = try AliasRecord.filter(Column("model") == name).fetchAll(db)
        return RegisteredModel(
            name: record.name, description: record.description, tags: record.tags,
            protectedAliases: record.protectedAliases,
            aliases: Dictionary(aliases.map { ($0.alias, $0.version) }, uniquingKeysWith: { a, _ in a }),
            lastVersion: record.lastVersion, createdAt: Date(timeIntervalSince1970: record.createdAt),
            updatedAt: Date(timeIntervalSince1970: record.updatedAt))
    }

    func loadVersion(_ db: Database, _ model: String, _ number: Int) throws -> ModelVersion {
        let record = try requireVersion(db, model, number)
        let aliases = try AliasRecord.filter(Column("model") == model && Column("version") == number)
            .order(Column("alias")).fetchAll(db).map(\.alias)
        return ModelVersion(record, aliases: aliases)
    }

    private func versionList(_ db: Database, _ request: QueryInterfaceRequest<VersionRecord>) throws -> [ModelVersion] {
        let records = try request.order(Column("model"), Column("version")).fetchAll(db)
        var aliases: [String: [String]] = [:]
        for alias in try AliasRecord.order(Column("alias")).fetchAll(db) {
            aliases["\(alias.model)/\(alias.version)", default: []].append(alias.alias)
        }
        return records.map { ModelVersion($0, aliases: aliases["\($0.model)/\($0.version)"] ?? []) }
    }

    private func audit(
        _ db: Database, _ context: ChangeContext, _ action: String, model: String, subject: String = "",
        before: (any AuditSnapshot)?, after: (any AuditSnapshot)?, summary: String
    ) throws {
        try AuditRecord(
            id: nil, time: now().timeIntervalSince1970, actor: context.actor, origin: context.origin.rawValue,
            action: action, model: model, subject: subject, before: before?.auditJSON,
            after: after?.auditJSON, summary: summary, reason: context.reason, planId: context.planID
        ).insert(db)
    }
}

extension ModelVersion {
    init(_ r: VersionRecord, aliases: [String]) {
        self.init(
            model: r.model, version: r.version, source: r.source, sha256: r.sha256, size: r.size, format: r.format,
            description: r.description, tags: r.tags,
            lineage: Lineage(runID: r.runId, dataset: r.dataset, commit: r.gitCommit), status: r.status,
            stage: Stage(rawValue: r.stage) ?? .none, aliases: aliases, createdBy: r.createdBy,
            createdAt: Date(timeIntervalSince1970: r.createdAt), updatedAt: Date(timeIntervalSince1970: r.updatedAt))
    }
}
