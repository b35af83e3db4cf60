import Foundation
import Logging
import MLInfraCore
import MLInfraPostgresState
import MLInfraCoreTesting
import MLInfraTesting
import NIOPosix
import PostgresNIO

/// A `StateStoreFixture` over a PostgreSQL store: stores for one project (unique per fixture) in the
/// shared test server, with a second connection of its own to read and damage the rows directly.
final class PostgresFixture: Sendable {
    let server: PostgresTestServer
    let schema: String
    let project: String
    let raw: PostgresConnection
    /// How this fixture's stores encrypt at rest.
    let encryption: StateEncryption

    static let logger = Logger(label: "mlinfra.tests.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    private init(server: PostgresTestServer, schema: String, project: String, raw: PostgresConnection, encryption: StateEncryption) {
        self.encryption = encryption
        self.server = server
        self.schema = schema
        self.project = project
        self.raw = raw
    }

    /// A fixture on the shared server; the schema is created by a first store call, so raw access works at once.
    static func make(
        schema: String = "mlinfra", project: String = "conformance-" + UUID().uuidString.prefix(8).lowercased(), encryption: StateEncryption = .none
    ) async throws -> PostgresFixture {
        let server = try await PostgresTestServer.shared()
        let raw = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: server.configuration(), id: 99, logger: logger)
        let fixture = PostgresFixture(server: server, schema: schema, project: project, raw: raw, encryption: encryption)
        let store = fixture.store()
        _ = try await store.currentLock()
        await store.close()
        return fixture
    }

    func close() async {
        try? await raw.close()
    }

    /// Runs `body` on a fixture made with `encryption`, closing it whether `body` throws or not.
    static func with<T>(encryption: StateEncryption = .none, _ body: (PostgresFixture) async throws -> T) async throws -> T {
        let fixture = try await make(encryption: encryption)
        do {
            let result = try await body(fixture)
            await fixture.close()
            return result
        } catch {
            await fixture.close()
            throw error
        }
    }

    var url: PostgresBackendURL { try! PostgresBackendURL(parsing: server.url()) }

    func store(workspace: String = "default", retainVersions: Int? = nil, encryption: StateEncryption? = nil) -> PostgresStateStore {
        try! PostgresStateStore(
            url: url, schema: schema, project: project, workspace: workspace, retainVersions: retainVersions,
            encryption: encryption ?? self.encryption)
    }

    private var stateRow: String { "(SELECT id FROM \(schema).states WHERE project = '\(project)' AND workspace = 'default')" }

    /// SQL for the stored bytes of the state with id `row`: the row's own body, else the version row it points at.
    func currentBodySQL(_ row: String) -> String {
        """
        SELECT COALESCE(st.body, v.body) FROM \(schema).states st LEFT JOIN \(schema).state_versions v ON v.id = st.version_id
        WHERE st.id = \(row)
        """
    }

    /// Runs SQL on the raw connection and waits (on the event loop, not the test's threads).
    func rows(_ query: PostgresQuery) throws -> [PostgresRow] {
        try raw.query(query, logger: Self.logger).wait().rows
    }

    func bytes(_ sql: String) throws -> [UInt8]? {
        guard let row = try rows(PostgresQuery(unsafeSQL: sql)).first else { return nil }
        return try row.decode(ByteBuffer?.self).map { Array($0.readableBytesView) }
    }

    /// Runs `sql`, whose `$1` is `bytes` as bytea.
    func run(_ sql: String, with bytes: [UInt8]) throws {
        var binds = PostgresBindings()
        binds.append(ByteBuffer(bytes: bytes))
        _ = try rows(PostgresQuery(unsafeSQL: sql, binds: binds))
    }

    var fixture: StateStoreFixture {
        var fixture = StateStoreFixture(
            open: { self.store() },
            stateBytes: { try self.bytes(self.currentBodySQL(self.stateRow)) },
            setStateBytes: { bytes in
                try self.run(
                    """
                    INSERT INTO \(self.schema).states (project, workspace, body) VALUES ('\(self.project)', 'default', $1)
                    ON CONFLICT (project, workspace) DO UPDATE SET body = EXCLUDED.body
                    """, with: bytes)
            },
            backupBytes: {
                try self.bytes("SELECT body FROM \(self.schema).state_versions WHERE state_id = \(self.stateRow) ORDER BY id DESC OFFSET 1 LIMIT 1")
            },
            hasJournal: {
                try !self.rows(PostgresQuery(unsafeSQL: "SELECT 1 FROM \(self.schema).state_journal WHERE state_id = \(self.stateRow)")).isEmpty
            },
            appendToJournal: { bytes in
                try self.run(
                    """
                    INSERT INTO \(self.schema).state_journal (state_id, seq, line)
                    SELECT \(self.stateRow), COALESCE((SELECT max(seq) + 1 FROM \(self.schema).state_journal WHERE state_id = \(self.stateRow)), 0), $1
                    """, with: bytes)
            })
        // A holder process's death ends its database session, which frees its advisory lock.
        fixture.endHolder = { store in await (store as? PostgresStateStore)?.close() }
        fixture.encryption = encryption
        fixture.scope = "postgres \(project)/default"
        return fixture
    }
}
