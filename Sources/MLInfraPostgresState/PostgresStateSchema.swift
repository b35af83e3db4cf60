import Crypto
import Foundation
import MLInfraCore
import PostgresNIO

/// The tables of the PostgreSQL backend, created and upgraded by mlinfra through numbered migrations.
///
/// Migrations run in one transaction under a transaction-level advisory lock, so runners that
/// start together wait for each other instead of racing to create the same tables; the
/// applied ones are listed in `<schema>.mlinfra_migrations`. A schema migrated by a newer
/// mlinfra (a migration number this one does not know) is refused, never downgraded.
///
/// - `states`: one row per state (project + workspace): the current state's bytes, lineage, serial.
/// - `state_versions`: every state written, with who wrote it, when, in which operation and
///   from which saved plan (a plan id is unique per state, so a plan is applied once).
/// - `state_journal`: during apply, one row per finished operation (the journal lines of
///   `StateJournal`), removed in the same transaction that stores the folded state.
/// - `state_locks`: the lock holder's details; the lock itself is a session-level advisory lock.
enum PostgresStateSchema {
    struct Migration: Sendable {
        var version: Int
        var name: String
        var statements: @Sendable (String) -> [String]
    }

    static let migrations: [Migration] = [
        Migration(version: 1, name: "states, versions, journal and locks") { s in
            [
                """
                CREATE TABLE \(s).states (
                    id bigserial PRIMARY KEY,
                    project text NOT NULL,
                    workspace text NOT NULL,
                    lineage text,
                    serial bigint,
                    body bytea,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    updated_at timestamptz,
                    UNIQUE (project, workspace))
                """,
                """
                CREATE TABLE \(s).state_versions (
                    id bigserial PRIMARY KEY,
                    state_id bigint NOT NULL REFERENCES \(s).states (id) ON DELETE CASCADE,
                    serial bigint NOT NULL,
                    lineage text NOT NULL,
                    body bytea NOT NULL,
                    written_by text NOT NULL,
                    written_at timestamptz NOT NULL DEFAULT now(),
                    operation text NOT NULL,
                    plan_id text,
                    mlinfra_version text NOT NULL)
                """,
                "CREATE INDEX state_versions_by_state ON \(s).state_versions (state_id, id DESC)",
                "CREATE UNIQUE INDEX state_versions_plan_once ON \(s).state_versions (state_id, plan_id) WHERE plan_id IS NOT NULL",
                """
                CREATE TABLE \(s).state_journal (
                    state_id bigint NOT NULL REFERENCES \(s).states (id) ON DELETE CASCADE,
                    seq bigint NOT NULL,
                    line bytea NOT NULL,
                    PRIMARY KEY (state_id, seq))
                """,
                """
                CREATE TABLE \(s).state_locks (
                    state_id bigint PRIMARY KEY REFERENCES \(s).states (id) ON DELETE CASCADE,
                    lock_id text NOT NULL,
                    operation text NOT NULL,
                    who text NOT NULL,
                    host text NOT NULL,
                    pid integer NOT NULL,
                    ci_run_url text,
                    process_start text,
                    backend_pid integer NOT NULL,
                    created timestamptz NOT NULL)
                """,
            ]
        },
        // The current state was kept twice, in `states.body` and in its version row; now only in
        // the version row, which `states.version_id` names, so a commit sends the body once. The
        // digest (md5 of the body, kept by mlinfra) lets a write check for a change without hashing
        // megabytes. A body still in `states` (written before this migration, or by hand) wins.
        Migration(version: 2, name: "current state kept once, in its version row") { s in
            [
                "ALTER TABLE \(s).states ADD COLUMN version_id bigint REFERENCES \(s).state_versions (id), ADD COLUMN digest text",
                "UPDATE \(s).states SET digest = md5(body) WHERE body IS NOT NULL",
                // lz4 where the server has it (PostgreSQL 14+, built with lz4): pglz spends tens of ms on a 5 MB state.
                """
                DO $$ BEGIN
                    ALTER TABLE \(s).state_versions ALTER COLUMN body SET COMPRESSION lz4;
                EXCEPTION WHEN OTHERS THEN NULL;
                END $$
                """,
            ]
        },
    ]

    static var latest: Int { migrations.last!.version }

    /// A schema name mlinfra accepts: a plain lower-case SQL identifier, so it needs no quoting anywhere.
    static func checkName(_ schema: String) throws {
        let ok = !schema.isEmpty && schema.count <= 63
            && schema.unicodeScalars.first.map { CharacterSet.lowercaseLetters.contains($0) || $0 == "_" } == true
            && schema.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }
        guard ok else {
            throw StateError(
                .backend, "the schema name `\(schema)` is not a plain SQL identifier", path: "backend.postgres.schema",
                remedy: "use lower-case letters, digits and `_`, starting with a letter (at most 63 characters), e.g. `mlinfra`")
        }
    }

    /// A 64-bit advisory lock key for `parts` (schema, project, workspace …): the first 8 bytes of their SHA-256,
    /// so two states in two schemas of one database never share a key (as row ids would).
    static func advisoryKey(_ parts: [String]) -> Int64 {
        let digest = Array(SHA256.hash(data: Data(parts.joined(separator: "\u{0}").utf8)))
        return digest.prefix(8).reduce(Int64(0)) { ($0 << 8) | Int64($1) }
    }

    /// Creates the schema and applies the migrations it lacks.
    static func migrate(_ connection: PostgresConnection, schema: String, url: PostgresBackendURL) async throws {
        let logger = PostgresSession.logger
        let key = advisoryKey(["mlinfra-migrations", schema])
        do {
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query("SELECT pg_advisory_xact_lock(\(key))", logger: logger)
                try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: schema)", logger: logger)
                try await connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS \(unescaped: schema).mlinfra_migrations (
                        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                    """, logger: logger)
                var current = 0
                for try await (version) in try await connection.query(
                    "SELECT COALESCE(max(version), 0)::bigint FROM \(unescaped: schema).mlinfra_migrations", logger: logger
                ).decode(Int64.self) {
                    current = Int(version)
                }
                if current > latest {
                    throw StateError(
                        .backend,
                        "the schema `\(schema)` was migrated by a newer mlinfra (migration \(current); this mlinfra knows up to \(latest))",
                        path: url.description, remedy: "use the mlinfra version the team has moved to (see `mlinfra --version` on the CI runners)")
                }
                for m in migrations where m.version > current {
                    for statement in m.statements(schema) {
                        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await connection.query(
                        "INSERT INTO \(unescaped: schema).mlinfra_migrations (version, name) VALUES (\(m.version), \(m.name))",
                        logger: logger)
                }
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        } catch {
            throw PostgresStateErrors.backend("could not create or migrate the schema `\(schema)`", error, url: url)
        }
    }
}
