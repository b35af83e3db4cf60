import Crypto
import Foundation
import PostgresNIO

/// One numbered step of an engine's PostgreSQL schema; its statements get the schema name.
public struct PostgresMigration: Sendable {
    public var version: Int
    public var name: String
    public var statements: @Sendable (String) -> [String]

    public init(version: Int, name: String, statements: @escaping @Sendable (String) -> [String]) {
        self.version = version
        self.name = name
        self.statements = statements
    }
}

/// Creates and upgrades an engine's tables in a schema of its own, through numbered migrations.
///
/// The migrations run in one transaction under a transaction-level advisory lock, so processes
/// that open a new database together wait for each other instead of racing to create the same
/// tables; the applied ones are listed in `<schema>.<table>`. A schema migrated by a newer
/// mlinfra (a number this one does not know) is refused, never downgraded.
public enum PostgresMigrations {
    public static func apply(
        _ migrations: [PostgresMigration], schema: String, table: String, on client: BlockingPostgres
    ) throws {
        let latest = migrations.last?.version ?? 0
        let key = advisoryKey(["mlinfra-migrations", schema, table])
        try client.transaction(retryConflicts: false) { session in
            try session.query("SELECT pg_advisory_xact_lock(\(key))")
            try session.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)")
            try session.query(
                """
                CREATE TABLE IF NOT EXISTS \(unescaped: schema).\(unescaped: table) (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """)
            var current = 0
            for row in try session.query("SELECT COALESCE(max(version), 0)::bigint FROM \(unescaped: schema).\(unescaped: table)") {
                current = Int(try row.decode(Int64.self))
            }
            if current > latest {
                throw PostgresFailure(
                    url: client.url,
                    what: "the schema `\(schema)` was migrated by a newer mlinfra (migration \(current); this mlinfra knows up to \(latest))",
                    remedy: "use the mlinfra version the team has moved to (see `mlinfra --version` where apply runs)")
            }
            for m in migrations where m.version > current {
                for statement in m.statements(schema) { try session.query(PostgresQuery(unsafeSQL: statement)) }
                try session.query("INSERT INTO \(unescaped: schema).\(unescaped: table) (version, name) VALUES (\(m.version), \(m.name))")
            }
        }
    }

    /// Whether `name` is a plain lower-case SQL identifier, so it needs no quoting anywhere.
    public static func isPlainIdentifier(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 63
            && name.unicodeScalars.first.map { ("a"..."z").contains($0) || $0 == "_" } == true
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
    }

    /// A 64-bit advisory lock key for `parts`: the first 8 bytes of their SHA-256.
    public static func advisoryKey(_ parts: [String]) -> Int64 {
        let digest = Array(SHA256.hash(data: Data(parts.joined(separator: "\u{0}").utf8)))
        return digest.prefix(8).reduce(Int64(0)) { ($0 << 8) | Int64($1) }
    }
}
