import EnginePostgres
import Foundation
import MLInfraTesting
import PostgresNIO
import Testing

/// The blocking client's statements sent without a wait, and its transactions, on a real server.
@Suite struct BlockingPostgresTests {
    /// A client of a fresh schema of the shared test server, with one table `t (k text primary key)`.
    static func client() async throws -> (BlockingPostgres, schema: String) {
        let server = try await PostgresTestServer.shared()
        let client = BlockingPostgres(url: try PostgresURL(parsing: server.url()), keep: 1)
        let schema = "blocking_" + UUID().uuidString.prefix(8).lowercased()
        try client.withSession { session in
            try session.query("CREATE SCHEMA \(unescaped: schema)")
            try session.query("CREATE TABLE \(unescaped: schema).t (k text PRIMARY KEY)")
        }
        return (client, schema)
    }

    static func keys(_ client: BlockingPostgres, _ schema: String) throws -> [String] {
        try client.withSession { try $0.query("SELECT k FROM \(unescaped: schema).t ORDER BY k") }.map { try $0.decode(String.self) }
    }

    @Test func aSentStatementIsSeenByTheNextQueryAndCommitted() async throws {
        let (client, schema) = try await Self.client()
        let count = try client.transaction(retryConflicts: false) { session in
            session.send("INSERT INTO \(unescaped: schema).t VALUES ('a')")
            session.send("INSERT INTO \(unescaped: schema).t VALUES ('b')")
            return try session.query("SELECT count(*) FROM \(unescaped: schema).t").first!.decode(Int.self)
        }
        #expect(count == 2)
        try client.transaction(retryConflicts: false) { $0.send("INSERT INTO \(unescaped: schema).t VALUES ('c')") }
        #expect(try Self.keys(client, schema) == ["a", "b", "c"])
    }

    @Test func aFailedSentStatementFailsTheTransactionWithItsOwnErrorAndLeavesNothing() async throws {
        let (client, schema) = try await Self.client()
        try client.transaction { $0.send("INSERT INTO \(unescaped: schema).t VALUES ('a')") }
        let error = #expect(throws: (any Error).self) {
            try client.transaction(retryConflicts: false) { session in
                session.send("INSERT INTO \(unescaped: schema).t VALUES ('b')")
                session.send("INSERT INTO \(unescaped: schema).t VALUES ('a')")  // a duplicate key
                session.send("INSERT INTO \(unescaped: schema).t VALUES ('c')")
            }
        }
        // The duplicate's own failure, not the "transaction is aborted" of the statements after it.
        #expect(error.flatMap(PostgresFailure.sqlState) == "23505")
        #expect(try Self.keys(client, schema) == ["a"])
        // The connection is usable afterwards, outside any transaction.
        #expect(try client.withSession { try $0.query("SELECT 1").first!.decode(Int.self) } == 1)
    }

    /// A sent statement's rows are read after the COMMIT that waited for it; when it fails, the
    /// COMMIT's wait throws its failure and nothing of the transaction stays.
    @Test func aSentStatementsRowsAreReadAfterTheCommitAndItsFailureFailsTheTransaction() async throws {
        let (client, schema) = try await Self.client()
        let answer = try client.transaction(retryConflicts: false) { session in
            session.send("INSERT INTO \(unescaped: schema).t VALUES ('a'), ('b') RETURNING k")
        }
        #expect(try answer.rows().map { try $0.decode(String.self) } == ["a", "b"])
        let error = #expect(throws: (any Error).self) {
            try client.transaction(retryConflicts: false) { session in
                session.send("INSERT INTO \(unescaped: schema).t VALUES ('c'), ('a') RETURNING k")
            }
        }
        #expect(error.flatMap(PostgresFailure.sqlState) == "23505")
        #expect(try Self.keys(client, schema) == ["a", "b"])
    }

    @Test func aConflictingSentInsertRunsTheWholeChangeAgain() async throws {
        let (client, schema) = try await Self.client()
        try client.transaction { $0.send("INSERT INTO \(unescaped: schema).t VALUES ('taken')") }
        var attempts = 0
        try client.transaction { session in
            attempts += 1
            let key = attempts == 1 ? "taken" : "free"
            session.send("INSERT INTO \(unescaped: schema).t VALUES (\(key))")
        }
        #expect(attempts == 2)
        #expect(try Self.keys(client, schema) == ["free", "taken"])
    }

    @Test func aTransactionOnAConnectionTheServerClosedRunsOnAFreshOne() async throws {
        let (client, schema) = try await Self.client()
        let pid = try client.transaction { try $0.query("SELECT pg_backend_pid()").first!.decode(Int32.self) }
        let other = BlockingPostgres(url: client.url, keep: 0)
        try other.withSession { _ = try $0.query("SELECT pg_terminate_backend(\(pid))") }
        // The kept connection is dead now; the next change notices and runs on a new one, once.
        try client.transaction { $0.send("INSERT INTO \(unescaped: schema).t VALUES ('after')") }
        #expect(try Self.keys(client, schema) == ["after"])
        let newPid = try client.transaction { try $0.query("SELECT pg_backend_pid()").first!.decode(Int32.self) }
        #expect(newPid != pid)
    }

    @Test func aStartedStatementRunsBesideATransactionAndFinishTellsItsOutcomeEveryTime() async throws {
        let (client, schema) = try await Self.client()
        let started = try client.start("INSERT INTO \(unescaped: schema).t VALUES ('beside')")
        // The client's other connection runs a transaction meanwhile, and waits for the started one before it commits.
        try client.transaction { session in
            session.send("INSERT INTO \(unescaped: schema).t VALUES ('inside')")
            try started.finish()
        }
        try started.finish()
        #expect(try Self.keys(client, schema) == ["beside", "inside"])

        let failing = try client.start("INSERT INTO \(unescaped: schema).t VALUES ('beside')")  // a duplicate key
        for _ in 0..<2 {
            let error = #expect(throws: (any Error).self) { try failing.finish() }
            #expect(error.flatMap(PostgresFailure.sqlState) == "23505")
        }
        #expect(try client.withSession { try $0.query("SELECT 1").first!.decode(Int.self) } == 1)
    }
}
