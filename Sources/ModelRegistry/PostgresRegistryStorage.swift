import EnginePostgres
import Foundation
import PostgresNIO

/// The registry's records in a schema of a PostgreSQL database, for a team's shared registry.
///
/// Every change is one transaction. Two writers of one model are serialised by that model's
/// row: `takeVersionNumber` is an `UPDATE … RETURNING` and `model(_:)` in a write is a
/// `SELECT … FOR UPDATE`, so the second writer waits for the first to commit and then reads
/// what it wrote; numbers are taken one at a time, and a rolled-back registration gives its
/// number back. Two writers that both found a model missing and both inserted it collide on its
/// primary key; the loser's whole change runs again (see `BlockingPostgres.transaction`) and
/// then finds the model. Reads run in one REPEATABLE READ snapshot each.
///
/// A write whose rows the engine does not read (an insert, an update, the audit entry) is sent
/// without a wait (`Session.send`), and a failed write still fails the change, at the next wait.
/// A registration is one statement that the COMMIT's wait also answers (`recordNextVersion`), so
/// it waits once; moving an alias reads its three records in one round trip (`aliasMove`), so it
/// waits twice.
final class PostgresRegistryStorage: RegistryStorage {
    let client: BlockingPostgres
    let schema: String

    init(client: BlockingPostgres, schema: String) throws {
        guard PostgresMigrations.isPlainIdentifier(schema) else {
            throw RegistryError.invalid(
                "storage.postgres.schema", "the schema name `\(schema)` is not a plain SQL identifier",
                remedy: "Use lower-case letters, digits and `_`, starting with a letter (at most 63 characters), e.g. mlinfra_registry.")
        }
        self.client = client
        self.schema = schema
        try Self.failing("create or migrate the registry's tables in schema \(schema)", client.url) {
            try PostgresMigrations.apply(PostgresRegistrySchema.migrations, schema: schema, table: "registry_migrations", on: client)
        }
    }

    func read<T>(_ body: (any RegistryRecords) throws -> T) throws -> T {
        try Self.failing("read the registry", client.url) {
            try client.transaction(readOnly: true, retryConflicts: false) { session in
                try body(PostgresRecords(session: session, s: schema, locks: false))
            }
        }
    }

    func write<T>(_ body: (any RegistryRecordWriter) throws -> T) throws -> T {
        try Self.failing("change the registry", client.url) {
            try client.transaction { session in try body(PostgresRecords(session: session, s: schema, locks: true)) }
        }
    }

    /// A registration in one statement: a data-modifying CTE takes the number (`UPDATE … RETURNING`),
    /// inserts the version and appends its audit entry, and goes out with its transaction's BEGIN and
    /// COMMIT without a wait between them, so the registration waits once (for the COMMIT) instead of
    /// twice. The number is known only on the server: the records are made with a placeholder, whose
    /// text the server replaces with the number in the entry's subject, "after" and summary. The
    /// records are made twice, with two placeholders, to check that the number is all that differs;
    /// a request whose own text holds the placeholder's goes the `write` way instead.
    func recordNextVersion(
        of model: String, creationKey: String?, at time: Double, _ new: (Int) -> (VersionRecord, AuditRecord),
        beforeCommit: () throws -> Void
    ) throws -> VersionRecord? {
        let made = new(Self.placeholder)
        guard Self.differInTheNumberOnly(made, new(Self.placeholder + 1)) else { return nil }
        let (v, e) = made
        let mark = String(Self.placeholder)
        let answer = try Self.failing("register a version of \(model)", client.url) {
            try client.transaction { session in
                let answer = session.send(
                    """
                    WITH number AS (
                        UPDATE \(unescaped: schema).model SET last_version = last_version + 1, updated_at = \(time)
                        WHERE name = \(model) AND (\(creationKey)::text IS NULL OR NOT EXISTS (
                            SELECT 1 FROM \(unescaped: schema).version WHERE model = \(model) AND creation_key = \(creationKey)))
                        RETURNING last_version
                    ), stored AS (
                        INSERT INTO \(unescaped: schema).version (\(unescaped: PostgresRecords.versionColumns))
                        SELECT \(v.model), last_version, \(v.source), \(v.sha256), \(v.size), \(v.format), \(v.description),
                            \(JSONWriter.object(v.tags)), \(v.runId), \(v.dataset), \(v.gitCommit), \(v.status), \(v.stage),
                            \(v.createdBy), \(v.createdAt), \(v.updatedAt), \(v.creationKey), \(v.kind)
                        FROM number
                    ), logged AS (
                        INSERT INTO \(unescaped: schema).audit (time, actor, origin, action, model, subject, before, after, summary, reason, plan_id)
                        SELECT \(e.time), \(e.actor), \(e.origin), \(e.action), \(e.model),
                            replace(\(e.subject), \(mark), last_version::text), \(e.before),
                            replace(\(e.after), \(mark), last_version::text), replace(\(e.summary), \(mark), last_version::text),
                            \(e.reason), \(e.planId)
                        FROM number
                    )
                    SELECT last_version FROM number
                    """)
                try beforeCommit()
                return answer
            }
        }
        guard let number = try Self.failing("register a version of \(model)", client.url, {
            try answer.rows().first.map { try $0.decode(Int.self) }
        }) else { return nil }
        return new(number).0
    }

    /// The number a one-step registration makes its records with before the server knows the real one.
    static let placeholder = Int.min

    /// Whether two makings of a registration's records differ only in the number: everything but
    /// the version's number equal, and the entry's text equal once one number's text is put in
    /// the other's place.
    static func differInTheNumberOnly(_ a: (VersionRecord, AuditRecord), _ b: (VersionRecord, AuditRecord)) -> Bool {
        var version = b.0
        version.version = a.0.version
        guard version == a.0, a.0.version != b.0.version else { return false }
        let (x, y) = (String(a.0.version), String(b.0.version))
        var entry = a.1
        entry.subject = entry.subject.replacingOccurrences(of: x, with: y)
        entry.after = entry.after?.replacingOccurrences(of: x, with: y)
        entry.summary = entry.summary.replacingOccurrences(of: x, with: y)
        return entry == b.1
    }

    /// Runs `body`, turning a driver failure into a `RegistryError` that names the server (never its password).
    static func failing<T>(_ what: String, _ url: PostgresURL, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as RegistryError {
            throw error
        } catch {
            let failure = PostgresFailure(url: url, what: "cannot \(what) at \(url)", error)
            throw RegistryError(.storageUnavailable, failure.message, remedy: failure.remedy)
        }
    }
}

/// The records of one PostgreSQL transaction.
private struct PostgresRecords: RegistryRecordWriter {
    let session: BlockingPostgres.Session
    /// The schema, already checked to be a plain identifier.
    let s: String
    /// Whether a model read takes its row lock (in a write).
    let locks: Bool

    static let modelColumns = "name, description, tags, protected_aliases, last_version, created_at, updated_at, creation_key"
    static let versionColumns = """
        model, version, source, sha256, size, format, description, tags, run_id, dataset, git_commit, status, stage, \
        created_by, created_at, updated_at, creation_key, kind
        """

    func model(_ name: String) throws -> ModelRecord? {
        let lock = locks ? " FOR UPDATE" : ""
        return try models("SELECT \(unescaped: Self.modelColumns) FROM \(unescaped: s).model WHERE name = \(name)\(unescaped: lock)").first
    }

    func models() throws -> [ModelRecord] {
        try models("SELECT \(unescaped: Self.modelColumns) FROM \(unescaped: s).model ORDER BY name")
    }

    func version(_ model: String, _ number: Int) throws -> VersionRecord? {
        try versions("SELECT \(unescaped: Self.versionColumns) FROM \(unescaped: s).version WHERE model = \(model) AND version = \(number)").first
    }

    func versions(of model: String?) throws -> [VersionRecord] {
        if let model {
            return try versions("SELECT \(unescaped: Self.versionColumns) FROM \(unescaped: s).version WHERE model = \(model) ORDER BY version")
        }
        return try versions("SELECT \(unescaped: Self.versionColumns) FROM \(unescaped: s).version ORDER BY model, version")
    }

    func versionCount(of model: String) throws -> Int {
        let rows = try session.query("SELECT count(*) FROM \(unescaped: s).version WHERE model = \(model)")
        return try rows.first.map { try $0.decode(Int.self) } ?? 0
    }

    func version(of model: String, creationKey: String) throws -> VersionRecord? {
        try versions(
            "SELECT \(unescaped: Self.versionColumns) FROM \(unescaped: s).version WHERE model = \(model) AND creation_key = \(creationKey)"
        ).first
    }

    func newestVersion(of model: String, sha256: String?, stage: String?) throws -> VersionRecord? {
        try versions(
            """
            SELECT \(unescaped: Self.versionColumns) FROM \(unescaped: s).version
            WHERE model = \(model) AND (\(sha256)::text IS NULL OR sha256 = \(sha256)) AND (\(stage)::text IS NULL OR stage = \(stage))
            ORDER BY version DESC LIMIT 1
            """
        ).first
    }

    func versions(of model: String, inStage stage: String, excluding: Int) throws -> [VersionRecord] {
        try versions(
            """
            SELECT \(unescaped: Self.versionColumns) FROM \(unescaped: s).version
            WHERE model = \(model) AND stage = \(stage) AND version <> \(excluding) ORDER BY version
            """)
    }

    func alias(_ model: String, _ alias: String) throws -> AliasRecord? {
        try aliases("SELECT model, alias, version, updated_at FROM \(unescaped: s).alias WHERE model = \(model) AND alias = \(alias)").first
    }

    /// The model's row lock, the version and the alias in one round trip: three statements handed
    /// over together. The server runs them in order, so the version and the alias are read (each
    /// with its own READ COMMITTED snapshot) only once the model's row is held.
    func aliasMove(_ model: String, _ alias: String, version number: Int) throws -> (ModelRecord?, VersionRecord?, AliasRecord?) {
        let lock = locks ? " FOR UPDATE" : ""
        let answers = try session.query([
            "SELECT \(unescaped: Self.modelColumns) FROM \(unescaped: s).model WHERE name = \(model)\(unescaped: lock)",
            "SELECT \(unescaped: Self.versionColumns) FROM \(unescaped: s).version WHERE model = \(model) AND version = \(number)",
            "SELECT model, alias, version, updated_at FROM \(unescaped: s).alias WHERE model = \(model) AND alias = \(alias)",
        ])
        guard let record = try Self.models(answers[0]).first else { return (nil, nil, nil) }
        return (record, try Self.versions(answers[1]).first, try Self.aliases(answers[2]).first)
    }

    func aliases(of model: String?, version: Int?) throws -> [AliasRecord] {
        try aliases(
            """
            SELECT model, alias, version, updated_at FROM \(unescaped: s).alias
            WHERE (\(model)::text IS NULL OR model = \(model)) AND (\(version)::bigint IS NULL OR version = \(version))
            ORDER BY alias
            """)
    }

    func audit(of model: String?) throws -> [AuditRecord] {
        try session.query(
            """
            SELECT id, time, actor, origin, action, model, subject, before, after, summary, reason, plan_id
            FROM \(unescaped: s).audit WHERE (\(model)::text IS NULL OR model = \(model)) ORDER BY id
            """
        ).map { row in
            let r = row.makeRandomAccess()
            return AuditRecord(
                id: try r["id"].decode(Int64.self), time: try r["time"].decode(Double.self), actor: try r["actor"].decode(String.self),
                origin: try r["origin"].decode(String.self), action: try r["action"].decode(String.self),
                model: try r["model"].decode(String.self), subject: try r["subject"].decode(String.self),
                before: try r["before"].decode(String?.self), after: try r["after"].decode(String?.self),
                summary: try r["summary"].decode(String.self), reason: try r["reason"].decode(String?.self),
                planId: try r["plan_id"].decode(String?.self))
        }
    }

    func insert(_ m: ModelRecord) throws {
        session.send(
            """
            INSERT INTO \(unescaped: s).model (\(unescaped: Self.modelColumns)) VALUES (
                \(m.name), \(m.description), \(JSONWriter.object(m.tags)), \(JSONWriter.array(m.protectedAliases)),
                \(m.lastVersion), \(m.createdAt), \(m.updatedAt), \(m.creationKey))
            """)
    }

    func update(_ m: ModelRecord) throws {
        session.send(
            """
            UPDATE \(unescaped: s).model SET description = \(m.description), tags = \(JSONWriter.object(m.tags)),
                protected_aliases = \(JSONWriter.array(m.protectedAliases)), last_version = \(m.lastVersion),
                created_at = \(m.createdAt), updated_at = \(m.updatedAt), creation_key = \(m.creationKey)
            WHERE name = \(m.name)
            """)
    }

    func deleteModel(_ name: String) throws {
        session.send("DELETE FROM \(unescaped: s).alias WHERE model = \(name)")
        session.send("DELETE FROM \(unescaped: s).version WHERE model = \(name)")
        session.send("DELETE FROM \(unescaped: s).model WHERE name = \(name)")
    }

    func takeVersionNumber(of model: String, at time: Double) throws -> Int? {
        let rows = try session.query(
            "UPDATE \(unescaped: s).model SET last_version = last_version + 1, updated_at = \(time) WHERE name = \(model) RETURNING last_version")
        return try rows.first.map { try $0.decode(Int.self) }
    }

    func insert(_ v: VersionRecord) throws {
        session.send(
            """
            INSERT INTO \(unescaped: s).version (\(unescaped: Self.versionColumns)) VALUES (
                \(v.model), \(v.version), \(v.source), \(v.sha256), \(v.size), \(v.format), \(v.description),
                \(JSONWriter.object(v.tags)), \(v.runId), \(v.dataset), \(v.gitCommit), \(v.status), \(v.stage),
                \(v.createdBy), \(v.createdAt), \(v.updatedAt), \(v.creationKey), \(v.kind))
            """)
    }

    func update(_ v: VersionRecord) throws {
        session.send(
            """
            UPDATE \(unescaped: s).version SET source = \(v.source), sha256 = \(v.sha256), size = \(v.size), format = \(v.format),
                description = \(v.description), tags = \(JSONWriter.object(v.tags)), run_id = \(v.runId), dataset = \(v.dataset),
                git_commit = \(v.gitCommit), status = \(v.status), stage = \(v.stage), created_by = \(v.createdBy),
                created_at = \(v.createdAt), updated_at = \(v.updatedAt), creation_key = \(v.creationKey)
            WHERE model = \(v.model) AND version = \(v.version)
            """)
    }

    func deleteVersion(_ model: String, _ number: Int) throws {
        session.send("DELETE FROM \(unescaped: s).version WHERE model = \(model) AND version = \(number)")
    }

    func save(_ a: AliasRecord) throws {
        session.send(
            """
            INSERT INTO \(unescaped: s).alias (model, alias, version, updated_at) VALUES (\(a.model), \(a.alias), \(a.version), \(a.updatedAt))
            ON CONFLICT (model, alias) DO UPDATE SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
            """)
    }

    func deleteAlias(_ model: String, _ alias: String) throws {
        session.send("DELETE FROM \(unescaped: s).alias WHERE model = \(model) AND alias = \(alias)")
    }

    func append(_ e: AuditRecord) throws {
        session.send(
            """
            INSERT INTO \(unescaped: s).audit (time, actor, origin, action, model, subject, before, after, summary, reason, plan_id)
            VALUES (\(e.time), \(e.actor), \(e.origin), \(e.action), \(e.model), \(e.subject), \(e.before), \(e.after), \(e.summary),
                    \(e.reason), \(e.planId))
            """)
    }

    // MARK: - Rows to records

    private func models(_ query: PostgresQuery) throws -> [ModelRecord] {
        try Self.models(try session.query(query))
    }

    private static func models(_ rows: PostgresQueryResult) throws -> [ModelRecord] {
        try rows.map { row in
            let r = row.makeRandomAccess()
            return ModelRecord(
                name: try r["name"].decode(String.self), description: try r["description"].decode(String.self),
                tags: try Self.map(r["tags"].decode(String.self)), protectedAliases: try Self.list(r["protected_aliases"].decode(String.self)),
                lastVersion: try r["last_version"].decode(Int.self), createdAt: try r["created_at"].decode(Double.self),
                updatedAt: try r["updated_at"].decode(Double.self), creationKey: try r["creation_key"].decode(String?.self))
        }
    }

    private func versions(_ query: PostgresQuery) throws -> [VersionRecord] {
        try Self.versions(try session.query(query))
    }

    private static func versions(_ rows: PostgresQueryResult) throws -> [VersionRecord] {
        try rows.map { row in
            let r = row.makeRandomAccess()
            return VersionRecord(
                model: try r["model"].decode(String.self), version: try r["version"].decode(Int.self),
                source: try r["source"].decode(String.self), sha256: try r["sha256"].decode(String.self),
                size: try r["size"].decode(Int64.self), format: try r["format"].decode(String.self),
                description: try r["description"].decode(String.self), tags: try Self.map(r["tags"].decode(String.self)),
                runId: try r["run_id"].decode(String?.self), dataset: try r["dataset"].decode(String?.self),
                gitCommit: try r["git_commit"].decode(String?.self), status: try r["status"].decode(String.self),
                stage: try r["stage"].decode(String.self), createdBy: try r["created_by"].decode(String.self),
                createdAt: try r["created_at"].decode(Double.self), updatedAt: try r["updated_at"].decode(Double.self),
                creationKey: try r["creation_key"].decode(String?.self), kind: try r["kind"].decode(String.self))
        }
    }

    private func aliases(_ query: PostgresQuery) throws -> [AliasRecord] {
        try Self.aliases(try session.query(query))
    }

    private static func aliases(_ rows: PostgresQueryResult) throws -> [AliasRecord] {
        try rows.map { row in
            let (model, alias, version, updatedAt) = try row.decode((String, String, Int, Double).self)
            return AliasRecord(model: model, alias: alias, version: version, updatedAt: updatedAt)
        }
    }

    static func map(_ json: String) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
    }

    static func list(_ json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }
}

extension PostgresRecords {
    static let experimentColumns = "id, name, artifact_location, lifecycle_stage, tags, created_at, updated_at"
    static let runColumns = "id, experiment_id, name, user_id, status, start_time, end_time, lifecycle_stage, artifact_uri, params, tags, outputs"
    static let loggedModelColumns =
        "id, experiment_id, name, source_run_id, status, model_type, artifact_location, params, tags, created_at, updated_at"

    func experiment(id: Int64) throws -> ExperimentRecord? {
        try experiments("SELECT \(unescaped: Self.experimentColumns) FROM \(unescaped: s).experiment WHERE id = \(id)").first
    }

    func experiment(named name: String) throws -> ExperimentRecord? {
        try experiments("SELECT \(unescaped: Self.experimentColumns) FROM \(unescaped: s).experiment WHERE name = \(name)").first
    }

    func experiments() throws -> [ExperimentRecord] {
        try experiments("SELECT \(unescaped: Self.experimentColumns) FROM \(unescaped: s).experiment ORDER BY id")
    }

    func run(_ id: String) throws -> RunRecord? {
        let lock = locks ? " FOR UPDATE" : ""
        return try runs("SELECT \(unescaped: Self.runColumns) FROM \(unescaped: s).run WHERE id = \(id)\(unescaped: lock)").first
    }

    func runs(inExperiments ids: [Int64]) throws -> [RunRecord] {
        try runs(
            "SELECT \(unescaped: Self.runColumns) FROM \(unescaped: s).run WHERE experiment_id = ANY(\(ids)) ORDER BY start_time, id")
    }

    func metrics(of run: String, key: String?) throws -> [MetricRecord] {
        try session.query(
            """
            SELECT id, run_id, key, value, timestamp, step FROM \(unescaped: s).metric
            WHERE run_id = \(run) AND (\(key)::text IS NULL OR key = \(key)) ORDER BY id
            """
        ).map { row in
            let (id, runID, key, value, timestamp, step) = try row.decode((Int64, String, String, Double, Int64, Int64).self)
            return MetricRecord(id: id, runId: runID, key: key, value: value, timestamp: timestamp, step: step)
        }
    }

    func loggedModel(_ id: String) throws -> LoggedModelRecord? {
        let lock = locks ? " FOR UPDATE" : ""
        return try loggedModels(
            "SELECT \(unescaped: Self.loggedModelColumns) FROM \(unescaped: s).logged_model WHERE id = \(id)\(unescaped: lock)").first
    }

    func loggedModels(inExperiments ids: [Int64]) throws -> [LoggedModelRecord] {
        try loggedModels(
            """
            SELECT \(unescaped: Self.loggedModelColumns) FROM \(unescaped: s).logged_model
            WHERE experiment_id = ANY(\(ids)) ORDER BY created_at, id
            """)
    }

    func trackedArtifact(_ path: String) throws -> TrackedArtifactRecord? {
        try trackedArtifacts("SELECT path, sha256, size, created_at FROM \(unescaped: s).tracked_artifact WHERE path = \(path)").first
    }

    func trackedArtifacts(under prefix: String) throws -> [TrackedArtifactRecord] {
        if prefix.isEmpty {
            return try trackedArtifacts("SELECT path, sha256, size, created_at FROM \(unescaped: s).tracked_artifact ORDER BY path")
        }
        // Byte order (COLLATE "C"): every path under `prefix/` sorts between `prefix/` and `prefix0`.
        let low = prefix + "/", high = prefix + "0"
        return try trackedArtifacts(
            """
            SELECT path, sha256, size, created_at FROM \(unescaped: s).tracked_artifact
            WHERE path >= \(low) AND path < \(high) ORDER BY path
            """)
    }

    func insert(_ e: ExperimentRecord) throws {
        session.send(
            """
            INSERT INTO \(unescaped: s).experiment (\(unescaped: Self.experimentColumns)) VALUES (
                \(e.id), \(e.name), \(e.artifactLocation), \(e.lifecycleStage), \(JSONWriter.object(e.tags)), \(e.createdAt), \(e.updatedAt))
            """)
    }

    func update(_ e: ExperimentRecord) throws {
        session.send(
            """
            UPDATE \(unescaped: s).experiment SET name = \(e.name), artifact_location = \(e.artifactLocation),
                lifecycle_stage = \(e.lifecycleStage), tags = \(JSONWriter.object(e.tags)), updated_at = \(e.updatedAt)
            WHERE id = \(e.id)
            """)
    }

    func save(_ r: RunRecord) throws {
        session.send(
            """
            INSERT INTO \(unescaped: s).run (\(unescaped: Self.runColumns)) VALUES (
                \(r.id), \(r.experimentId), \(r.name), \(r.userId), \(r.status), \(r.startTime), \(r.endTime), \(r.lifecycleStage),
                \(r.artifactUri), \(JSONWriter.object(r.params)), \(JSONWriter.object(r.tags)), \(JSONWriter.array(r.outputs)))
            ON CONFLICT (id) DO UPDATE SET experiment_id = EXCLUDED.experiment_id, name = EXCLUDED.name, user_id = EXCLUDED.user_id,
                status = EXCLUDED.status, start_time = EXCLUDED.start_time, end_time = EXCLUDED.end_time,
                lifecycle_stage = EXCLUDED.lifecycle_stage, artifact_uri = EXCLUDED.artifact_uri, params = EXCLUDED.params,
                tags = EXCLUDED.tags, outputs = EXCLUDED.outputs
            """)
    }

    func append(_ metrics: [MetricRecord]) throws {
        for m in metrics {
            session.send(
                """
                INSERT INTO \(unescaped: s).metric (run_id, key, value, timestamp, step)
                VALUES (\(m.runId), \(m.key), \(m.value), \(m.timestamp), \(m.step))
                """)
        }
    }

    func save(_ m: LoggedModelRecord) throws {
        session.send(
            """
            INSERT INTO \(unescaped: s).logged_model (\(unescaped: Self.loggedModelColumns)) VALUES (
                \(m.id), \(m.experimentId), \(m.name), \(m.sourceRunId), \(m.status), \(m.modelType), \(m.artifactLocation),
                \(JSONWriter.object(m.params)), \(JSONWriter.object(m.tags)), \(m.createdAt), \(m.updatedAt))
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, source_run_id = EXCLUDED.source_run_id, status = EXCLUDED.status,
                model_type = EXCLUDED.model_type, artifact_location = EXCLUDED.artifact_location, params = EXCLUDED.params,
                tags = EXCLUDED.tags, updated_at = EXCLUDED.updated_at
            """)
    }

    func save(_ a: TrackedArtifactRecord) throws {
        session.send(
            """
            INSERT INTO \(unescaped: s).tracked_artifact (path, sha256, size, created_at) VALUES (\(a.path), \(a.sha256), \(a.size), \(a.createdAt))
            ON CONFLICT (path) DO UPDATE SET sha256 = EXCLUDED.sha256, size = EXCLUDED.size, created_at = EXCLUDED.created_at
            """)
    }

    // MARK: - Rows to tracking records

    private func experiments(_ query: PostgresQuery) throws -> [ExperimentRecord] {
        try session.query(query).map { row in
            let r = row.makeRandomAccess()
            return ExperimentRecord(
                id: try r["id"].decode(Int64.self), name: try r["name"].decode(String.self),
                artifactLocation: try r["artifact_location"].decode(String.self), lifecycleStage: try r["lifecycle_stage"].decode(String.self),
                tags: try Self.map(r["tags"].decode(String.self)), createdAt: try r["created_at"].decode(Int64.self),
                updatedAt: try r["updated_at"].decode(Int64.self))
        }
    }

    private func runs(_ query: PostgresQuery) throws -> [RunRecord] {
        try session.query(query).map { row in
            let r = row.makeRandomAccess()
            return RunRecord(
                id: try r["id"].decode(String.self), experimentId: try r["experiment_id"].decode(Int64.self),
                name: try r["name"].decode(String.self), userId: try r["user_id"].decode(String.self),
                status: try r["status"].decode(String.self), startTime: try r["start_time"].decode(Int64.self),
                endTime: try r["end_time"].decode(Int64?.self), lifecycleStage: try r["lifecycle_stage"].decode(String.self),
                artifactUri: try r["artifact_uri"].decode(String.self), params: try Self.map(r["params"].decode(String.self)),
                tags: try Self.map(r["tags"].decode(String.self)), outputs: try Self.list(r["outputs"].decode(String.self)))
        }
    }

    private func loggedModels(_ query: PostgresQuery) throws -> [LoggedModelRecord] {
        try session.query(query).map { row in
            let r = row.makeRandomAccess()
            return LoggedModelRecord(
                id: try r["id"].decode(String.self), experimentId: try r["experiment_id"].decode(Int64.self),
                name: try r["name"].decode(String.self), sourceRunId: try r["source_run_id"].decode(String?.self),
                status: try r["status"].decode(String.self), modelType: try r["model_type"].decode(String.self),
                artifactLocation: try r["artifact_location"].decode(String.self), params: try Self.map(r["params"].decode(String.self)),
                tags: try Self.map(r["tags"].decode(String.self)), createdAt: try r["created_at"].decode(Int64.self),
                updatedAt: try r["updated_at"].decode(Int64.self))
        }
    }

    private func trackedArtifacts(_ query: PostgresQuery) throws -> [TrackedArtifactRecord] {
        try session.query(query).map { row in
            let (path, sha256, size, createdAt) = try row.decode((String, String, Int64, Int64).self)
            return TrackedArtifactRecord(path: path, sha256: sha256, size: size, createdAt: createdAt)
        }
    }
}
