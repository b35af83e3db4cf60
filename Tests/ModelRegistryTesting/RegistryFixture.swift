import EnginePostgres
import Foundation
import MLInfraTesting
import ModelRegistry
import PostgresNIO

/// Where a test registry keeps its records and artifacts: the registry conformance suites run
/// their tests over both.
public enum RegistryBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    /// `registry.sqlite` and artifact files in the fixture's directory.
    case sqlite
    /// Records and artifact chunks in a fresh schema of the shared PostgreSQL test server.
    case postgres

    public var description: String { rawValue }
}

/// A registry in a fresh temporary directory (and, for PostgreSQL, a fresh schema), removed when
/// the fixture goes away (for the registry's test suites).
public final class RegistryFixture {
    public let root: URL
    public let registry: ModelRegistry
    public let backend: RegistryBackend
    /// What a second instance (another process) opens.
    public let location: RegistryLocation
    /// A connection of the fixture's own, to read and damage rows directly (PostgreSQL only).
    let raw: BlockingPostgres?
    let schema: String?
    /// The PostgreSQL URL with its password, for the worker process.
    let serverURL: String?

    /// A SQLite registry.
    public convenience init() throws {
        let root = Self.temporaryRoot()
        try self.init(root: root, backend: .sqlite, location: RegistryLocation(directory: root.appendingPathComponent("registry")))
    }

    private init(
        root: URL, backend: RegistryBackend, location: RegistryLocation, raw: BlockingPostgres? = nil, schema: String? = nil,
        serverURL: String? = nil
    ) throws {
        self.serverURL = serverURL
        self.root = root
        self.backend = backend
        self.location = location
        self.raw = raw
        self.schema = schema
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        registry = try ModelRegistry(location: location)
    }

    /// A registry on `backend`; PostgreSQL ones use the test process's shared server.
    public static func make(_ backend: RegistryBackend) async throws -> RegistryFixture {
        switch backend {
        case .sqlite: return try RegistryFixture()
        case .postgres:
            let server = try await PostgresTestServer.shared()
            let url = try PostgresURL(parsing: server.url())
            let schema = "registry_" + UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: "")
            let root = temporaryRoot()
            let location = RegistryLocation(directory: root.appendingPathComponent("registry"), records: .postgres(url, schema: schema))
            return try RegistryFixture(root: root, backend: .postgres, location: location, raw: BlockingPostgres(url: url, keep: 1), schema: schema,
                serverURL: server.url())
        }
    }

    private static func temporaryRoot() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("registry-test-\(UUID().uuidString)")
    }

    deinit {
        try? FileManager.default.removeItem(at: root)
        if let raw, let schema { _ = try? raw.withSession { try $0.query("DROP SCHEMA \(unescaped: schema) CASCADE") } }
    }

    /// What `ModelRegistryWorker` reads to open this registry's storage (its directory is its first argument).
    public var workerEnvironment: [String: String] {
        guard let serverURL, let schema else { return [:] }
        return ["MLINFRA_TEST_REGISTRY_PG_URL": serverURL, "MLINFRA_TEST_REGISTRY_PG_SCHEMA": schema]
    }

    /// Another registry on the same storage, as a second process would open it.
    public func reopen() throws -> ModelRegistry { try ModelRegistry(location: location) }

    /// Writes a small artifact file with the given text and returns its URL.
    public func artifact(_ text: String, name: String = UUID().uuidString + ".json") throws -> URL {
        let url = root.appendingPathComponent(name)
        try Data(text.utf8).write(to: url)
        return url
    }

    @discardableResult
    public func register(_ model: String, _ text: String, format: String = "linear-json", tags: [String: String] = [:]) throws
        -> ModelVersion
    {
        try registry.register(
            RegistrationRequest(model: model, artifact: try artifact(text), format: format, tags: tags),
            context: .command())
    }

    // MARK: - Damage, as someone with write access to the storage would do it

    /// Replaces the stored bytes of an artifact: its file, or its first chunk in PostgreSQL.
    public func tamper(sha256: String, with bytes: Data) throws {
        if let raw, let schema {
            try raw.withSession { session in
                try session.query(
                    "UPDATE \(unescaped: schema).artifact_chunk SET bytes = \(ByteBuffer(bytes: bytes)) WHERE sha256 = \(sha256) AND seq = 0")
            }
            // A checked copy made earlier would still be served: damage it too.
            let cached = registry.artifactPath(sha256: sha256)
            if FileManager.default.fileExists(atPath: cached.path) { try bytes.write(to: cached) }
        } else {
            try bytes.write(to: registry.artifactPath(sha256: sha256))
        }
    }

    /// Removes an artifact's stored bytes (its file, or its chunks and cached copy).
    public func removeArtifact(sha256: String) throws {
        if let raw, let schema {
            try raw.withSession { session in
                try session.query("DELETE FROM \(unescaped: schema).artifact_chunk WHERE sha256 = \(sha256)")
            }
            try? FileManager.default.removeItem(at: registry.artifactPath(sha256: sha256))
        } else {
            try FileManager.default.removeItem(at: registry.artifactPath(sha256: sha256))
        }
    }

    /// Runs SQL against the registry's tables directly (`{s}` stands for the PostgreSQL schema);
    /// returns whether the database accepted it.
    public func rawSQLSucceeds(_ sql: String) -> Bool {
        if let raw, let schema {
            let text = sql.replacingOccurrences(of: "{s}.", with: schema + ".")
            return (try? raw.withSession { try $0.query(PostgresQuery(unsafeSQL: text)) }) != nil
        }
        return SQLiteAccess.succeeds(sql.replacingOccurrences(of: "{s}.", with: ""), path: registry.directory.appendingPathComponent("registry.sqlite").path)
    }
}

/// A change as `mlinfra apply` makes it.
public let applyContext = ChangeContext(actor: "ci@builder", origin: .apply, planID: "plan-abc123", reason: "promote v2")
