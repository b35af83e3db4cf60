import EnginePostgres
import Foundation

/// A model registry: models, numbered versions, aliases, stages, an append-only audit log, and
/// content-addressed artifacts.
///
/// Its records live in a `RegistryStorage` (a SQLite file in `directory`, or a PostgreSQL
/// schema) and its artifacts in an `ArtifactStorage` (files under `directory/artifacts`, or
/// PostgreSQL); `RegistryLocation` chooses. Every change is one transaction of the storage that
/// also appends to the audit log, and changes to one model never interleave, so several
/// processes (on one host for SQLite, on many for PostgreSQL) may use one registry at once and
/// concurrent registrations get distinct, gapless version numbers.
public final class ModelRegistry: Sendable {
    /// The local directory: the SQLite file and artifact files, or the checked-artifact cache.
    public let directory: URL
    let storage: any RegistryStorage
    let artifacts: any ArtifactStorage
    let now: @Sendable () -> Date

    /// Opens (creating if needed) the registry in `directory`: SQLite and artifact files.
    public convenience init(
        directory: URL, durability: ArtifactDurability = .synced, now: @escaping @Sendable () -> Date = Date.init
    ) throws {
        try self.init(location: RegistryLocation(directory: directory), durability: durability, now: now)
    }

    /// Opens (creating or migrating what is missing) the registry `location` names.
    public init(
        location: RegistryLocation, durability: ArtifactDurability = .synced, now: @escaping @Sendable () -> Date = Date.init
    ) throws {
        directory = location.directory
        self.now = now
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let local = try ArtifactStore(
            root: location.artifactDirectory ?? directory.appendingPathComponent("artifacts"), durability: durability)
        switch location.records {
        case .sqlite:
            storage = try SQLiteRegistryStorage(path: directory.appendingPathComponent("registry.sqlite").path)
            artifacts = local
        case .postgres(let url, let schema):
            let client = BlockingPostgres(url: url, waitsForDisk: location.waitsForDisk)
            storage = try PostgresRegistryStorage(client: client, schema: schema)
            // The artifacts' connections commit without waiting for the disk (see PostgresArtifactStore),
            // so storing one is a single statement.
            artifacts = location.artifactDirectory == nil
                ? PostgresArtifactStore(client: BlockingPostgres(url: url, keep: 2, waitsForDisk: false), schema: schema, cache: local)
                : local
        }
    }

    // MARK: - Models

    /// Creates a registered model; fails when one of that name exists.
    @discardableResult
    public func createModel(
        _ name: String, description: String = "", tags: [String: String] = [:], protectedAliases: [String] = [],
        creationKey: String? = nil, context: ChangeContext
    ) throws -> RegisteredModel {
        try Naming.checkModelName(name)
        for alias in protectedAliases { try Naming.checkAlias(alias) }
        for key in tags.keys { try Naming.checkTagKey(key) }
        return try write { db in
            if let existing = try db.model(name) {
                // The same create, retried after a crash: the model it made is the answer.
                if let creationKey, existing.creationKey == creationKey { return try loadModel(db, name) }
                throw RegistryError(
                    .modelExists, "model '\(name)' already exists",
                    remedy: "Pick another name, or register a new version of it.", field: "name")
            }
            let t = now().timeIntervalSince1970
            let record = ModelRecord(
                name: name, description: description, tags: tags, protectedAliases: protectedAliases.sorted(),
                lastVersion: 0, createdAt: t, updatedAt: t, creationKey: creationKey)
            try db.insert(record)
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
                try db.update(record)
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

    /// Renames a model; its versions, aliases and protected aliases move with it, and the audit
    /// log records the rename under both names (earlier entries keep the old name).
    @discardableResult
    public func renameModel(_ name: String, to newName: String, context: ChangeContext) throws -> RegisteredModel {
        try Naming.checkModelName(newName)
        return try write { db in
            let record = try requireModel(db, name)
            if name == newName { return try loadModel(db, name) }
            if try db.model(newName) != nil {
                throw RegistryError(.modelExists, "model '\(newName)' already exists", remedy: "Pick another new name.", field: "new_name")
            }
            let versions = try db.versions(of: name)
            let aliases = try db.aliases(of: name, version: nil)
            var renamed = record
            renamed.name = newName
            renamed.updatedAt = now().timeIntervalSince1970
            try db.insert(renamed)
            for var version in versions {
                version.model = newName
                try db.insert(version)
            }
            for var alias in aliases {
                alias.model = newName
                try db.save(alias)
            }
            try db.deleteModel(name)
            for model in [name, newName] {
                try audit(db, context, "model.rename", model: model, before: ModelSnapshot(record), after: ModelSnapshot(renamed),
                          summary: "model \(name) renamed to \(newName)")
            }
            return try loadModel(db, newName)
        }
    }

    /// Deletes a model with its versions and aliases (artifact files stay: other versions may share them).
    public func deleteModel(_ name: String, context: ChangeContext) throws {
        try write { db in
            let record = try requireModel(db, name)
            let versions = try db.versionCount(of: name)
            try db.deleteModel(name)
            try audit(db, context, "model.delete", model: name, before: ModelSnapshot(record), after: nil,
                      summary: "model \(name) deleted with \(versions) version(s)")
        }
    }

    /// The model of that name, or nil.
    public func model(_ name: String) throws -> RegisteredModel? {
        try storage.read { db in
            guard try db.model(name) != nil else { return nil }
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
        try storage.read { db in
            try db.models().map { try loadModel(db, $0.name) }
        }
    }

    // MARK: - Versions

    /// Stores the artifact (hashing it) and records a new version with the next number.
    public func register(_ request: RegistrationRequest, context: ChangeContext) throws -> ModelVersion {
        try Naming.checkModelName(request.model)
        for key in request.tags.keys { try Naming.checkTagKey(key) }
        guard !request.format.isEmpty else {
            throw RegistryError.invalid("format", "the format of a version must not be empty", remedy: "e.g. linear-json, xgboost-json, onnx or file")
        }
        if !request.createModelIfMissing, try !modelExists(request.model) {
            throw RegistryError.modelNotFound(request.model)
        }
        let kind: ArtifactKind = DirectoryArtifact.isDirectory(request.artifact) ? .directory : .file
        if kind == .directory {
            let stored = try DirectoryArtifact.ingest(request.artifact, into: artifacts)
            return try record(request, stored: stored, kind: kind, context: context)
        }
        // The artifact may still be on its way into the store while the version is recorded:
        // the version commits only once it is stored.
        let started = try artifacts.startIngest(file: request.artifact)
        defer { try? started.finish() }
        return try record(request, stored: (started.sha256, started.size), kind: kind, context: context, beforeCommit: started.finish)
    }

    /// Records a new version of an artifact already in the store, with the next number.
    func record(
        _ request: RegistrationRequest, stored: (sha256: String, size: Int64), kind: ArtifactKind, context: ChangeContext,
        beforeCommit: () throws -> Void = {}
    ) throws -> ModelVersion {
        try Naming.checkModelName(request.model)
        for key in request.tags.keys { try Naming.checkTagKey(key) }
        let t = now().timeIntervalSince1970
        func version(_ number: Int) -> VersionRecord {
            VersionRecord(
                model: request.model, version: number, source: request.source ?? request.artifact.path,
                sha256: stored.sha256, size: stored.size, format: request.format, description: request.description,
                tags: request.tags, runId: request.lineage.runID, dataset: request.lineage.dataset,
                gitCommit: request.lineage.commit, status: "READY", stage: Stage.none.rawValue,
                createdBy: context.actor, createdAt: t, updatedAt: t, creationKey: request.creationKey, kind: kind.rawValue)
        }
        func created(_ record: VersionRecord) -> AuditRecord {
            auditEntry(context, "version.create", model: request.model, subject: "/\(record.version)", before: nil,
                       after: VersionSnapshot(record), at: t,
                       summary: "version \(record.version) registered (sha256 \(stored.sha256.prefix(12)), \(stored.size) bytes)")
        }
        // The common case (the model exists, the creation key is new) in one step where the storage has one.
        if let record = try storage.recordNextVersion(
            of: request.model, creationKey: request.creationKey, at: t, { number in
                let record = version(number)
                return (record, created(record))
            }, beforeCommit: beforeCommit)
        {
            return ModelVersion(record, aliases: [])  // a new version carries no alias yet
        }
        return try write { db in
            if let key = request.creationKey,
               let existing = try db.version(of: request.model, creationKey: key)
            {
                guard existing.sha256 == stored.sha256 else {
                    throw RegistryError(
                        .modelExists,
                        "version \(existing.version) of \(request.model) was registered by the same create with other content "
                            + "(sha256 \(existing.sha256.prefix(12))…, now \(stored.sha256.prefix(12))…)",
                        remedy: "The artifact changed between an interrupted apply and its retry: run `mlinfra plan` again.")
                }
                try beforeCommit()
                return try loadVersion(db, request.model, existing.version)
            }
            // The next number, taken in this write transaction: concurrent registrations get distinct ones.
            let number: Int
            if let taken = try db.takeVersionNumber(of: request.model, at: t) {
                number = taken
            } else {
                guard request.createModelIfMissing else { throw RegistryError.modelNotFound(request.model) }
                let model = ModelRecord(
                    name: request.model, description: "", tags: [:], protectedAliases: [], lastVersion: 1,
                    createdAt: t, updatedAt: t)
                try db.insert(model)
                try audit(db, context, "model.create", model: request.model, before: nil, after: ModelSnapshot(model),
                          summary: "model \(request.model) created")
                number = 1
            }
            let record = version(number)
            try db.insert(record)
            try db.append(created(record))
            try beforeCommit()
            return ModelVersion(record, aliases: [])
        }
    }

    /// Whether a model of that name exists.
    public func modelExists(_ name: String) throws -> Bool {
        try storage.read { db in try db.model(name) != nil }
    }

    /// The version, or nil.
    public func version(_ model: String, _ number: Int) throws -> ModelVersion? {
        try storage.read { db in
            guard let record = try db.version(model, number) else { return nil }
            return ModelVersion(record, aliases: try db.aliases(of: model, version: number).map(\.alias))
        }
    }

    /// All versions of a model, by number; throws when the model does not exist.
    public func versions(of model: String) throws -> [ModelVersion] {
        try storage.read { db in
            _ = try requireModel(db, model)
            return try versionList(db, of: model)
        }
    }

    /// Every version of every model (for search).
    public func allVersions() throws -> [ModelVersion] {
        try storage.read { db in try versionList(db, of: nil) }
    }

    /// The newest version of a model whose artifact has this sha256, if any.
    public func version(of model: String, sha256: String) throws -> ModelVersion? {
        try storage.read { db in
            guard let record = try db.newestVersion(of: model, sha256: sha256, stage: nil) else { return nil }
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
                try db.update(record)
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
            let aliases = try db.aliases(of: model, version: number)
            if !aliases.isEmpty {
                let names = aliases.map(\.alias).joined(separator: ", ")
                guard removingAliases else {
                    throw RegistryError(
                        .versionHasAliases, "version \(number) of model '\(model)' is still the target of alias(es) \(names)",
                        remedy: "Move or delete the alias(es) first.", field: "version")
                }
                let protected = try requireModel(db, model).protectedAliases
                for alias in aliases {
                    if protected.contains(alias.alias) && context.origin != .apply {
                        throw RegistryError.protectedAlias(model, alias.alias)
                    }
                    try db.deleteAlias(model, alias.alias)
                    try audit(db, context, "alias.delete", model: model, subject: "@\(alias.alias)",
                              before: AliasSnapshot(version: alias.version), after: nil,
                              summary: "alias \(alias.alias) removed (was version \(alias.version))")
                }
            }
            try db.deleteVersion(model, number)
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
                for var other in try db.versions(of: model, inStage: stage.rawValue, excluding: number) {
                    other.stage = Stage.archived.rawValue
                    other.updatedAt = t
                    try db.update(other)
                    try audit(db, context, "stage.transition", model: model, subject: "/\(other.version)",
                              before: StageSnapshot(stage: stage.rawValue), after: StageSnapshot(stage: Stage.archived.rawValue),
                              summary: "version \(other.version) stage: \(stage.rawValue) → Archived (archive existing)")
                }
            }
            let old = record.stage
            if old != stage.rawValue {
                record.stage = stage.rawValue
                record.updatedAt = t
                try db.update(record)
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
            let (found, version, existing) = try db.aliasMove(model, alias, version: number)
            guard let record = found else { throw RegistryError.modelNotFound(model) }
            if record.protectedAliases.contains(alias) && context.origin != .apply {
                throw RegistryError.protectedAlias(model, alias)
            }
            guard version != nil else { throw RegistryError.versionNotFound(model, number) }
            if existing?.version == number { return number }
            try db.save(AliasRecord(model: model, alias: alias, version: number, updatedAt: now().timeIntervalSince1970))
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
            guard let existing = try db.alias(model, alias) else {
                throw RegistryError.aliasNotFound(model, alias)
            }
            try db.deleteAlias(model, alias)
            try audit(db, context, "alias.delete", model: model, subject: "@\(alias)",
                      before: AliasSnapshot(version: existing.version), after: nil,
                      summary: "alias \(alias) removed (was version \(existing.version))")
        }
    }

    /// The version an alias points to, or nil.
    public func aliasTarget(_ model: String, _ alias: String) throws -> Int? {
        try storage.read { db in try db.alias(model, alias)?.version }
    }

    // MARK: - Resolution and loading

    /// Resolves `models:/NAME/3`, `models:/NAME@alias`, `models:/NAME/Production` or `models:/NAME/latest`
    /// (the `models:/` prefix is optional) and checks the artifact against its sha256.
    public func resolve(_ uri: String) throws -> ResolvedModelVersion {
        let reference = try ModelReference(parsing: uri)
        let (version, via): (ModelVersion, String?) = try storage.read { db in
            _ = try requireModel(db, reference.model)
            switch reference.selector {
            case .version(let n):
                return (try loadVersion(db, reference.model, n), nil)
            case .alias(let alias):
                guard let record = try db.alias(reference.model, alias) else {
                    throw RegistryError.aliasNotFound(reference.model, alias)
                }
                return (try loadVersion(db, reference.model, record.version), "@" + alias)
            case .stage(let stage):
                guard let record = try db.newestVersion(of: reference.model, sha256: nil, stage: stage.rawValue) else {
                    throw RegistryError(
                        .noVersionInStage, "model '\(reference.model)' has no version in stage \(stage.rawValue)",
                        remedy: "Move a version there with a stage transition, or use an alias.")
                }
                return (try loadVersion(db, reference.model, record.version), stage.rawValue)
            case .latest:
                guard let record = try db.newestVersion(of: reference.model, sha256: nil, stage: nil) else {
                    throw RegistryError(.versionNotFound, "model '\(reference.model)' has no versions",
                                        remedy: "Register one with `mlinfra models register \(reference.model) --artifact PATH`.")
                }
                return (try loadVersion(db, reference.model, record.version), "latest")
            }
        }
        let what = "\(version.model) version \(version.version)"
        let path = try artifacts.verify(sha256: version.sha256, what: what)
        if version.kind == .directory { try DirectoryArtifact.verify(manifest: path, in: artifacts, what: what) }
        return ResolvedModelVersion(
            name: version.model, version: version.version, format: version.format, sha256: version.sha256,
            size: version.size, artifactPath: path, via: via, tags: version.tags, kind: version.kind)
    }

    /// The artifact's bytes, checked against the version's sha256 as they are read.
    public func loadArtifact(_ resolved: ResolvedModelVersion) throws -> Data {
        let what = "\(resolved.name) version \(resolved.version)"
        guard resolved.kind == .file else { throw DirectoryArtifact.notAFile(what) }
        return try artifacts.load(sha256: resolved.sha256, what: what)
    }

    /// The artifact's bytes of a version, checked against its sha256.
    public func loadArtifact(model: String, version number: Int) throws -> Data {
        guard let version = try version(model, number) else { throw try notFound(model, number) }
        guard version.kind == .file else { throw DirectoryArtifact.notAFile("\(model) version \(number)") }
        return try artifacts.load(sha256: version.sha256, what: "\(model) version \(number)")
    }

    /// Writes a resolved version's artifact to `destination` (a file, or for a directory version a
    /// new directory), checked against its sha256 as it is copied (bounded memory; nothing appears
    /// at `destination` when a check fails). Returns the size.
    @discardableResult
    public func exportArtifact(_ resolved: ResolvedModelVersion, to destination: URL) throws -> Int64 {
        let what = "\(resolved.name) version \(resolved.version)"
        if resolved.kind == .directory { return try DirectoryArtifact.export(manifest: resolved.artifactPath, from: artifacts, what: what, to: destination) }
        return try artifacts.export(sha256: resolved.sha256, what: what, to: destination)
    }

    /// Checks a resolved version's artifact against its sha256 in bounded memory; returns its path.
    @discardableResult
    public func verifyArtifact(_ resolved: ResolvedModelVersion) throws -> URL {
        try artifacts.verify(sha256: resolved.sha256, what: "\(resolved.name) version \(resolved.version)")
    }

    /// Where a version's artifact lives in the store (not checked; use `resolve` or `loadArtifact` to read it).
    public func artifactPath(sha256: String) -> URL { artifacts.path(for: sha256) }

    /// A path for a temporary file in the artifact store (an upload on its way in); removed when
    /// the store is next opened if its process died.
    public func temporaryArtifactPath(_ purpose: String) -> URL { URL(fileURLWithPath: artifacts.temporaryPath(purpose)) }

    /// Stores raw bytes in the artifact store (for uploads); returns the sha256 and size.
    public func storeArtifact(_ data: Data) throws -> (sha256: String, size: Int64) { try artifacts.ingest(data: data) }

    /// The sha256 a registration of `url` records: of a file's bytes, or of a directory's manifest.
    public static func sha256(ofArtifact url: URL) throws -> String { try digest(ofArtifact: url).sha256 }

    /// The sha256 and size a registration of `url` records (a directory: its manifest's sha256, its files' total size).
    public static func digest(ofArtifact url: URL) throws -> (sha256: String, size: Int64) {
        if DirectoryArtifact.isDirectory(url) { return try DirectoryArtifact.hash(url) }
        guard let found = try ArtifactStore.sha256(ofFile: url.path) else {
            throw RegistryError(.artifactUnreadable, "cannot read \(url.path)", remedy: "Check the path.", field: "artifact")
        }
        return found
    }

    /// The sha256 of a file's bytes, computed the way the store does.
    public static func sha256(ofFile url: URL) throws -> String {
        guard let (sha256, _) = try ArtifactStore.sha256(ofFile: url.path) else {
            throw RegistryError(.artifactUnreadable, "cannot read \(url.path)", remedy: "Check the path.", field: "artifact")
        }
        return sha256
    }

    // MARK: - Audit

    /// The audit log, oldest first: of one model, or of all when `model` is nil.
    public func history(of model: String? = nil) throws -> [AuditEntry] {
        try storage.read { db in
            try db.audit(of: model).map { r in
                AuditEntry(
                    id: r.id ?? 0, time: Date(timeIntervalSince1970: r.time), actor: r.actor,
                    origin: ChangeContext.Origin(rawValue: r.origin) ?? .api, action: r.action, model: r.model,
                    subject: r.subject, before: r.before, after: r.after, summary: r.summary, reason: r.reason,
                    planID: r.planId)
            }
        }
    }

    // MARK: - Internals

    /// Runs a change as one transaction of the storage, so two writers never interleave their changes.
    func write<T>(_ body: (any RegistryRecordWriter) throws -> T) throws -> T {
        try storage.write(body)
    }

    private func notFound(_ model: String, _ number: Int) throws -> RegistryError {
        try self.model(model) == nil ? .modelNotFound(model) : .versionNotFound(model, number)
    }

    func requireModel(_ db: any RegistryRecords, _ name: String) throws -> ModelRecord {
        guard let record = try db.model(name) else { throw RegistryError.modelNotFound(name) }
        return record
    }

    /// The version's record; in a write, after the model's (whose row then serialises the change).
    func requireVersion(_ db: any RegistryRecords, _ model: String, _ number: Int) throws -> VersionRecord {
        _ = try requireModel(db, model)
        guard let record = try db.version(model, number) else { throw RegistryError.versionNotFound(model, number) }
        return record
    }

    func loadModel(_ db: any RegistryRecords, _ name: String) throws -> RegisteredModel {
        let record = try requireModel(db, name)
        let aliases = try db.aliases(of: name, version: nil)
        return RegisteredModel(
            name: record.name, description: record.description, tags: record.tags,
            protectedAliases: record.protectedAliases,
            aliases: Dictionary(aliases.map { ($0.alias, $0.version) }, uniquingKeysWith: { a, _ in a }),
            lastVersion: record.lastVersion, createdAt: Date(timeIntervalSince1970: record.createdAt),
            updatedAt: Date(timeIntervalSince1970: record.updatedAt))
    }

    func loadVersion(_ db: any RegistryRecords, _ model: String, _ number: Int) throws -> ModelVersion {
        let record = try requireVersion(db, model, number)
        return ModelVersion(record, aliases: try db.aliases(of: model, version: number).map(\.alias))
    }

    private func versionList(_ db: any RegistryRecords, of model: String?) throws -> [ModelVersion] {
        let records = try db.versions(of: model)
        var aliases: [String: [String]] = [:]
        for alias in try db.aliases(of: model, version: nil) {
            aliases["\(alias.model)/\(alias.version)", default: []].append(alias.alias)
        }
        return records.map { ModelVersion($0, aliases: aliases["\($0.model)/\($0.version)"] ?? []) }
    }

    private func audit(
        _ db: any RegistryRecordWriter, _ context: ChangeContext, _ action: String, model: String, subject: String = "",
        before: (any AuditSnapshot)?, after: (any AuditSnapshot)?, summary: String
    ) throws {
        try db.append(auditEntry(context, action, model: model, subject: subject, before: before, after: after,
                                 at: now().timeIntervalSince1970, summary: summary))
    }

    /// The audit entry of one change, not yet appended.
    private func auditEntry(
        _ context: ChangeContext, _ action: String, model: String, subject: String,
        before: (any AuditSnapshot)?, after: (any AuditSnapshot)?, at time: Double, summary: String
    ) -> AuditRecord {
        AuditRecord(
            id: nil, time: time, actor: context.actor, origin: context.origin.rawValue,
            action: action, model: model, subject: subject, before: before?.auditJSON,
            after: after?.auditJSON, summary: summary, reason: context.reason, planId: context.planID)
    }
}

extension ModelVersion {
    init(_ r: VersionRecord, aliases: [String]) {
        self.init(
            model: r.model, version: r.version, source: r.source, sha256: r.sha256, size: r.size, format: r.format,
            description: r.description, tags: r.tags,
            lineage: Lineage(runID: r.runId, dataset: r.dataset, commit: r.gitCommit), status: r.status,
            stage: Stage(rawValue: r.stage) ?? .none, aliases: aliases, createdBy: r.createdBy,
            createdAt: Date(timeIntervalSince1970: r.createdAt), updatedAt: Date(timeIntervalSince1970: r.updatedAt),
            kind: ArtifactKind(rawValue: r.kind) ?? .file)
    }
}
