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
        try session.query(
            """
            INSERT INTO \(unescaped: s).model (\(unescaped: Self.modelColumns)) VALUES (
                \(m.name), \(m.description), \(JSONWriter.object(m.tags)), \(JSONWriter.array(m.protectedAliases)),
                \(m.lastVersion), \(m.createdAt), \(m.updatedAt), \(m.creationKey))
            """)
    }

    func update(_ m: ModelRecord) throws {
        try session.query(
            """
            UPDATE \(unescaped: s).model SET description = \(m.description), tags = \(JSONWriter.object(m.tags)),
                protected_aliases = \(JSONWriter.array(m.protectedAliases)), last_version = \(m.lastVersion),
                created_at = \(m.createdAt), updated_at = \(m.updatedAt), creation_key = \(m.creationKey)
            WHERE name = \(m.name)
            """)
    }

    func deleteModel(_ name: String) throws {
        try session.query("DELETE FROM \(unescaped: s).alias WHERE model = \(name)")
        try session.query("DELETE FROM \(unescaped: s).version WHERE model = \(name)")
        try session.query("DELETE FROM \(unescaped: s).model WHERE name = \(name)")
    }

    func takeVersionNumber(of model: String, at time: Double) throws -> Int? {
        let rows = try session.query(
            "UPDATE \(unescaped: s).model SET last_version = last_version + 1, updated_at = \(time) WHERE name = \(model) RETURNING last_version")
        return try rows.first.map { try $0.decode(Int.self) }
    }

    func insert(_ v: VersionRecord) throws {
        try session.query(
            """
            INSERT INTO \(unescaped: s).version (\(unescaped: Self.versionColumns)) VALUES (
                \(v.model), \(v.version), \(v.source), \(v.sha256), \(v.size), \(v.format), \(v.description),
                \(JSONWriter.object(v.tags)), \(v.runId), \(v.dataset), \(v.gitCommit), \(v.status), \(v.stage),
                \(v.createdBy), \(v.createdAt), \(v.updatedAt), \(v.creationKey), \(v.kind))
            """)
    }

    func update(_ v: VersionRecord) throws {
        try session.query(
            """
            UPDATE \(unescaped: s).version SET source = \(v.source), sha256 = \(v.sha256), size = \(v.size), format = \(v.format),
                description = \(v.description), tags = \(JSONWriter.object(v.tags)), run_id = \(v.runId), dataset = \(v.dataset),
                git_commit = \(v.gitCommit), status = \(v.status), stage = \(v.stage), created_by = \(v.createdBy),
                created_at = \(v.createdAt), updated_at = \(v.updatedAt), creation_key = \(v.creationKey)
            WHERE model = \(v.model) AND version = \(v.version)
            """)
    }

    func deleteVersion(_ model: String, _ number: Int) throws {
        try session.query("DELETE FROM \(unescaped: s).version WHERE model = \(model) AND version = \(number)")
    }

    func save(_ a: AliasRecord) throws {
        try session.query(
            """
            INSERT INTO \(unescaped: s).alias (model, alias, version, updated_at) VALUES (\(a.model), \(a.alias), \(a.version), \(a.updatedAt))
            ON CONFLICT (model, alias) DO UPDATE SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
            """)
    }

    func deleteAlias(_ model: String, _ alias: String) throws {
        try session.query("DELETE FROM \(unescaped: s).alias WHERE model = \(model) AND alias = \(alias)")
    }

    func append(_ e: AuditRecord) throws {
        try session.query(
            """
            INSERT INTO \(unescaped: s).audit (time, actor, origin, action, model, subject, before, after, summary, reason, plan_id)
            VALUES (\(e.time), \(e.actor), \(e.origin), \(e.action), \(e.model), \(e.subject), \(e.before), \(e.after), \(e.summary),
                    \(e.reason), \(e.planId))
            """)
    }

    // MARK: - Rows to records

    private func models(_ query: PostgresQuery) throws -> [ModelRecord] {
        try session.query(query).map { row in
            let r = row.makeRandomAccess()
            return ModelRecord(
                name: try r["name"].decode(String.self), description: try r["description"].decode(String.self),
                tags: try Self.map(r["tags"].decode(String.self)), protectedAliases: try Self.list(r["protected_aliases"].decode(String.self)),
                lastVersion: try r["last_version"].decode(Int.self), createdAt: try r["created_at"].decode(Double.self),
                updatedAt: try r["updated_at"].decode(Double.self), creationKey: try r["creation_key"].decode(String?.self))
        }
    }

    private func versions(_ query: PostgresQuery) throws -> [VersionRecord] {
        try session.query(query).map { row in
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
        try session.query(query).map { row in
            let (model, alias, version, updatedAt) = try row.decode((String, String, Int, Double).self)
            return AliasRecord(model: model, alias: alias, version: version, updatedAt: updatedAt)
        }
    }

    private static func map(_ json: String) throws -> [String: String] {
        try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
    }

    private static func list(_ json: String) throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(json.utf8))
    }
}
