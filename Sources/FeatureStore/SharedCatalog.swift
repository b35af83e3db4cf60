import EnginePostgres
import Foundation
import PostgresNIO

/// Where a feature store keeps its definitions and its materialization log.
///
/// `.sqlite` is `store.sqlite` in the store's directory (the default). `.postgres` is a schema of a
/// PostgreSQL database shared by every machine that names it: definitions applied on one machine
/// are what the others serve, and an incremental materialization continues from the watermark of
/// the last run on any of them. Each machine keeps a mirror of the definitions in its own
/// `store.sqlite`, so the online read path reads them as it always has.
public enum CatalogSetting: Sendable, Equatable, CustomStringConvertible, DirectorySetting {
    case sqlite
    /// The URL as given (it may hold a password, so it is never shown) and the schema.
    case postgres(url: String, schema: String)

    /// The schema the tables go to when the spec names none.
    public static let defaultSchema = "mlinfra_features"

    public var description: String {
        switch self {
        case .sqlite: "sqlite"
        case .postgres(let url, let schema):
            "postgres at \((try? PostgresURL(parsing: url))?.description ?? "(a postgres URL)"), schema \(schema)"
        }
    }

    /// The file in the store's directory that keeps a non-default setting for later opens; owner-only (it holds the URL).
    static func file(in directory: String) -> String { directory + "/catalog.json" }

    private struct Saved: Codable {
        var kind: String
        var url: String?
        var schema: String?
    }

    /// The setting saved in `directory`, or `.sqlite` when none is.
    static func saved(in directory: String) throws -> CatalogSetting {
        let path = file(in: directory)
        guard let data = FileManager.default.contents(atPath: path) else { return .sqlite }
        guard let saved = try? JSONDecoder().decode(Saved.self, from: data), saved.kind == "postgres",
            let url = saved.url, let schema = saved.schema
        else {
            throw FeatureStoreError.storage(message: "\(path) is damaged; apply the feature_store again to rewrite it")
        }
        return .postgres(url: url, schema: schema)
    }

    /// Saves the setting in `directory` (removing the file for `.sqlite`).
    func save(in directory: String) throws {
        let path = Self.file(in: directory)
        guard case .postgres(let url, let schema) = self else {
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            return
        }
        try OwnerOnlyFile.write(try JSONEncoder().encode(Saved(kind: "postgres", url: url, schema: schema)), to: path)
    }
}

/// Files that may hold a password: written readable by the owner only (0600), as a `.pgpass` file is.
enum OwnerOnlyFile {
    static func write(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw FeatureStoreError.storage(message: "cannot write \(path) (errno \(errno))") }
        defer { close(fd) }
        fchmod(fd, 0o600)
        let ok = data.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) == $0.count }
        guard ok else { throw FeatureStoreError.storage(message: "cannot write \(path) (errno \(errno))") }
    }
}

/// One materialization run, as the log keeps it.
public struct MaterializationRun: Sendable, Equatable {
    public var view: String
    public var start: Int64
    public var end: Int64
    public var rows: Int
    /// Seconds since the epoch.
    public var at: Double
    /// The machine that ran it (empty in a SQLite log).
    public var host: String
}

/// The definitions and the materialization log in a schema of a PostgreSQL database.
///
/// `meta.generation` moves with every definition change, in the same transaction, so a machine
/// knows with one query whether its mirror is current. Errors name the server without its password.
final class PostgresCatalog: Sendable {
    let client: BlockingPostgres
    let schema: String

    static let migrations: [PostgresMigration] = [
        PostgresMigration(version: 1, name: "definitions, generation, materializations") { s in
            [
                "CREATE TABLE \(s).meta (key text PRIMARY KEY, value bigint NOT NULL)",
                "INSERT INTO \(s).meta (key, value) VALUES ('generation', 1)",
                """
                CREATE TABLE \(s).definitions (
                    kind text NOT NULL, name text NOT NULL, body text NOT NULL,
                    updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (kind, name))
                """,
                """
                CREATE TABLE \(s).materializations (
                    id bigserial PRIMARY KEY, view text NOT NULL, start_ts bigint NOT NULL, end_ts bigint NOT NULL,
                    rows bigint NOT NULL, at timestamptz NOT NULL DEFAULT now(), host text NOT NULL)
                """,
                "CREATE INDEX materializations_view ON \(s).materializations (view, end_ts)",
            ]
        }
    ]

    init(url text: String, schema: String) throws {
        guard PostgresMigrations.isPlainIdentifier(schema) else {
            throw FeatureStoreError.invalidDefinition(
                object: "feature store storage",
                message: "the schema name `\(schema)` is not a plain SQL identifier; use lower-case letters, digits and `_`, e.g. \(CatalogSetting.defaultSchema)")
        }
        let url: PostgresURL
        do { url = try PostgresURL(parsing: text) } catch {
            throw FeatureStoreError.storage(message: "the feature store's postgres URL \(error.description)")
        }
        self.client = BlockingPostgres(url: url, keep: 2)
        self.schema = schema
        try failing("create or migrate the feature store's tables in schema \(schema)") {
            try PostgresMigrations.apply(Self.migrations, schema: schema, table: "features_migrations", on: client)
        }
    }

    /// The generation and every definition row, read in one snapshot; nil when the generation is `known`.
    func definitions(unless known: Int64?) throws -> (generation: Int64, rows: [(kind: String, name: String, body: String)])? {
        try failing("read the feature definitions") {
            try client.transaction(readOnly: true, retryConflicts: false) { session in
                var generation: Int64 = 0
                for row in try session.query("SELECT value FROM \(unescaped: schema).meta WHERE key = 'generation'") {
                    generation = try row.decode(Int64.self)
                }
                if generation == known { return nil }
                var rows: [(kind: String, name: String, body: String)] = []
                for row in try session.query("SELECT kind, name, body FROM \(unescaped: schema).definitions ORDER BY kind, name") {
                    rows.append(try row.decode((String, String, String).self))
                }
                return (generation, rows)
            }
        }
    }

    func put(kind: String, name: String, body: String) throws {
        try failing("write the definition of \(kind) \(name)") {
            try client.transaction { session in
                // An unchanged body writes nothing and keeps the generation, so no mirror reloads for it.
                let changed = try session.query(
                    """
                    INSERT INTO \(unescaped: schema).definitions (kind, name, body) VALUES (\(kind), \(name), \(body))
                    ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, updated_at = now()
                    WHERE \(unescaped: schema).definitions.body IS DISTINCT FROM excluded.body
                    RETURNING name
                    """)
                var wrote = false
                for _ in changed { wrote = true }
                if wrote { try session.query("UPDATE \(unescaped: schema).meta SET value = value + 1 WHERE key = 'generation'") }
            }
        }
    }

    /// Removes a definition (and a view's log); false when there was none.
    func remove(kind: String, name: String) throws -> Bool {
        try failing("remove the definition of \(kind) \(name)") {
            try client.transaction { session in
                let gone = try session.query(
                    "DELETE FROM \(unescaped: schema).definitions WHERE kind = \(kind) AND name = \(name) RETURNING name")
                var removed = false
                for _ in gone { removed = true }
                if kind == "view" {
                    try session.query("DELETE FROM \(unescaped: schema).materializations WHERE view = \(name)")
                }
                try session.query("UPDATE \(unescaped: schema).meta SET value = value + 1 WHERE key = 'generation'")
                return removed
            }
        }
    }

    func record(_ run: MaterializationRun) throws {
        try failing("record the materialization of \(run.view)") {
            try client.transaction { session in
                try session.query(
                    """
                    INSERT INTO \(unescaped: schema).materializations (view, start_ts, end_ts, rows, host)
                    VALUES (\(run.view), \(run.start), \(run.end), \(Int64(run.rows)), \(run.host))
                    """)
            }
        }
    }

    func lastMaterialized(view: String) throws -> Int64? {
        try failing("read the materialization log of \(view)") {
            try client.transaction(readOnly: true, retryConflicts: false) { session in
                var last: Int64?
                for row in try session.query("SELECT max(end_ts) FROM \(unescaped: schema).materializations WHERE view = \(view)") {
                    last = try row.decode(Int64?.self)
                }
                return last
            }
        }
    }

    func history(view: String) throws -> [MaterializationRun] {
        try failing("read the materialization log of \(view)") {
            try client.transaction(readOnly: true, retryConflicts: false) { session in
                var runs: [MaterializationRun] = []
                for row in try session.query(
                    """
                    SELECT start_ts, end_ts, rows, extract(epoch FROM at)::float8, host
                    FROM \(unescaped: schema).materializations WHERE view = \(view) ORDER BY id
                    """)
                {
                    let (start, end, rows, at, host) = try row.decode((Int64, Int64, Int64, Double, String).self)
                    runs.append(MaterializationRun(view: view, start: start, end: end, rows: Int(rows), at: at, host: host))
                }
                return runs
            }
        }
    }

    /// Runs `body`, turning a driver failure into a storage error that names the server (never its password).
    private func failing<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as FeatureStoreError {
            throw error
        } catch {
            let failure = PostgresFailure(url: client.url, what: "cannot \(what) at \(client.url)", error)
            throw FeatureStoreError.storage(message: "\(failure.message); \(failure.remedy)")
        }
    }
}
