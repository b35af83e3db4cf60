import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// A few connections to one PostgreSQL database, for engines whose API is synchronous.
///
/// The engines (the registry, for one) are plain synchronous libraries that their callers use
/// from threads, commands and async handlers alike; this client gives them blocking calls. A
/// call waits on a PostgresNIO future that completes on an event loop of this client's own
/// one-thread group, never on the caller's thread or on Swift's cooperative pool, so waiting
/// can neither deadlock an async caller nor trip NIO's "wait on an event loop" check (an HTTP
/// server's event loops are other threads). Waiting does hold the caller's thread for the round
/// trip, as SQLite's calls hold it for the disk.
///
/// Connections are opened on first use and kept for the next call; one call or transaction
/// has one connection to itself. The URL's password never appears in what this client throws
/// or logs: see `PostgresFailure`.
public final class BlockingPostgres: Sendable {
    public let url: PostgresURL
    /// Idle connections kept for reuse, at most `keep`.
    private let idle = Mutex<[PostgresConnection]>([])
    private let keep: Int
    private static let connectionIDs = Atomic(0)
    static let logger = Logger(label: "mlinfra.engine.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    /// One event-loop thread for every blocking client of the process: its futures complete there.
    static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    /// Whether a commit waits for the server's disk flush (`synchronous_commit`, on unless the
    /// client was made with `waitsForDisk: false`, which sets it off for each of its sessions).
    public let waitsForDisk: Bool

    public init(url: PostgresURL, keep: Int = 4, waitsForDisk: Bool = true) {
        self.url = url
        self.keep = keep
        self.waitsForDisk = waitsForDisk
    }

    deinit { close() }

    /// Closes the idle connections (a call in progress closes its own when it ends).
    public func close() {
        let connections = idle.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for c in connections { c.close().whenComplete { _ in withExtendedLifetime(c) {} } }
    }

    /// Runs `body` with a connection to itself, outside any transaction.
    @discardableResult
    public func withSession<T>(_ body: (Session) throws -> T) throws -> T {
        let (connection, _) = try take()
        do {
            let session = Session(connection: connection)
            let result = try body(session)
            try session.finishSending()
            give(connection)
            return result
        } catch {
            discardIfLost(connection, error)
            throw error
        }
    }

    /// Runs `body` in one transaction (READ COMMITTED, PostgreSQL's default), committed when it
    /// returns and rolled back when it throws. With `retryConflicts`, a body that failed on a
    /// serialisation failure, a deadlock or a unique violation (two writers that each found a
    /// row missing and inserted it) runs again from the start, up to `attempts` times: what it
    /// reads is then the other writer's committed work.
    /// `readOnly` runs it as one REPEATABLE READ snapshot that may not write. `waitsForDisk: false`
    /// commits without waiting for the WAL flush (`synchronous_commit = off`): the change is
    /// visible at once and is on disk no later than the next change committed with a wait, since
    /// the server flushes its log in order.
    @discardableResult
    public func transaction<T>(
        readOnly: Bool = false, waitsForDisk: Bool = true, retryConflicts: Bool = true, attempts: Int = 20,
        _ body: (Session) throws -> T
    ) throws -> T {
        let begin: PostgresQuery = readOnly ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN"
        var attempt = 0
        var fresh = false
        while true {
            attempt += 1
            let (connection, reused) = try take(fresh: fresh)
            fresh = false
            // BEGIN (and SET LOCAL) go out without a wait of their own: the body's first query
            // waits for them, and a failure of theirs is what that query throws.
            let session = Session(connection: connection)
            session.send(begin)
            if !waitsForDisk && self.waitsForDisk { session.send("SET LOCAL synchronous_commit = off") }
            do {
                let result = try body(session)
                if readOnly {
                    // Nothing to lose: the connection is handed on at once, and the next user's
                    // statements queue behind this COMMIT on it.
                    try session.finishSending()
                    session.send("COMMIT")
                } else {
                    _ = try session.query("COMMIT")
                }
                give(connection)
                return result
            } catch {
                if connection.isClosed || PostgresFailure.isConnectionLoss(error) {
                    discardIfLost(connection, error)
                    // An idle connection the server has since closed (a restart): the body runs
                    // once more on a fresh one, as long as nothing of it reached the server.
                    guard reused, attempt == 1, session.lostBeforeTheFirst() else { throw error }
                    fresh = true
                    continue
                }
                _ = try? session.query("ROLLBACK")
                give(connection)
                guard retryConflicts, attempt < attempts, PostgresFailure.isConflict(error) else { throw error }
                // Back off a little, more each time, so the writers that collided spread out.
                usleep(UInt32.random(in: 0...UInt32(200 * attempt)))
            }
        }
    }

    /// Runs one statement, committed without waiting for the disk (see `transaction`): on its own
    /// when the sessions already commit that way, else in a transaction that does.
    public func commitWithoutWaiting(_ query: PostgresQuery) throws {
        if waitsForDisk {
            try transaction(waitsForDisk: false, retryConflicts: false) { try $0.query(query) }
        } else {
            try withSession { try $0.query(query) }
        }
    }

    /// Starts `query` on a connection of its own, outside any transaction, and returns at once:
    /// the caller goes on with other work (another connection's transaction) while the server
    /// runs it, then calls `finish()` for its outcome. The connection is the started statement's
    /// until `finish()`, which a caller must call once it no longer needs the outcome, on every path.
    public func start(_ query: PostgresQuery) throws -> Started {
        let (connection, _) = try take()
        return Started(client: self, connection: connection, answer: connection.query(query, logger: Self.logger))
    }

    /// A statement `start` handed to the server, and its connection.
    public final class Started: Sendable {
        private let client: BlockingPostgres
        private let connection: PostgresConnection
        private let answer: EventLoopFuture<PostgresQueryResult>
        private let outcome = Mutex<Result<Void, any Error>?>(nil)

        fileprivate init(client: BlockingPostgres, connection: PostgresConnection, answer: EventLoopFuture<PostgresQueryResult>) {
            self.client = client
            self.connection = connection
            self.answer = answer
        }

        /// Waits for the statement (the first call; later ones repeat its outcome) and hands the
        /// connection back.
        public func finish() throws {
            try outcome.withLock { outcome in
                if outcome == nil {
                    do {
                        _ = try answer.wait()
                        client.give(connection)
                        outcome = .success(())
                    } catch {
                        client.discardIfLost(connection, error)
                        outcome = .failure(error)
                    }
                }
                return try outcome!.get()
            }
        }
    }

    /// Runs `body` while this client holds the session-level advisory lock `key` on a connection
    /// of its own, trying again every `poll` while another session holds it. The lock goes with
    /// the connection: a process that dies holding it (SIGKILL, a lost host) frees it as soon as
    /// the server sees the connection close. The waiting is asynchronous and ends when the
    /// calling task is cancelled.
    public func withAdvisoryLock<T: Sendable>(_ key: Int64, poll: Duration = .milliseconds(200), _ body: () async throws -> T) async throws -> T {
        let (connection, _) = try take()
        func run(_ query: PostgresQuery) async throws -> PostgresQueryResult {
            try await connection.query(query, logger: Self.logger).get()
        }
        do {
            while true {
                var held = false
                for row in try await run("SELECT pg_try_advisory_lock(\(key))") { held = try row.decode(Bool.self) }
                if held { break }
                try await Task.sleep(for: poll)
            }
        } catch {
            discardIfLost(connection, error)
            throw error
        }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        if connection.isClosed {
            // The server dropped the session, and the lock with it.
        } else {
            do {
                _ = try await run("SELECT pg_advisory_unlock(\(key))")
                give(connection)
            } catch {
                // A connection that cannot unlock is closed: closing it frees the lock.
                connection.close().whenComplete { _ in withExtendedLifetime(connection) {} }
            }
        }
        return try result.get()
    }

    /// One connection, and what it can run. `query` blocks until the server has answered;
    /// `send` does not wait, for a statement whose rows nobody reads (a write in a transaction):
    /// the connection runs statements in the order they were given, so the next `query` sees the
    /// sent statement's effect, and throws the sent statement's failure, if any, before its own.
    /// A statement waited for costs two thread wake-ups on top of the server's round trip; one
    /// sent costs neither.
    public struct Session: Sendable {
        public let connection: PostgresConnection
        private let sent = Sent()

        /// The statements sent and not yet waited for, in order.
        private final class Sent: Sendable {
            let futures = Mutex<[EventLoopFuture<PostgresQueryResult>]>([])
            /// The session's first statement sent.
            let first = Mutex<EventLoopFuture<PostgresQueryResult>?>(nil)
        }

        public init(connection: PostgresConnection) {
            self.connection = connection
        }

        /// Runs `query` and returns every row it produced.
        @discardableResult
        public func query(_ query: PostgresQuery) throws -> PostgresQueryResult {
            let answer = connection.query(query, logger: BlockingPostgres.logger)
            do {
                try finishSending()
            } catch {
                _ = try? answer.wait()
                throw error
            }
            return try answer.wait()
        }

        /// Runs the statements one after another on the server, handed over together, and returns
        /// each one's rows: one wait for them all instead of one each. Each statement still sees what
        /// the ones before it did (and, in READ COMMITTED, what others committed before it began).
        public func query(_ queries: [PostgresQuery]) throws -> [PostgresQueryResult] {
            let answers = queries.map { connection.query($0, logger: BlockingPostgres.logger) }
            var failure: (any Error)?
            do { try finishSending() } catch { failure = error }
            var results: [PostgresQueryResult] = []
            for answer in answers {
                do { results.append(try answer.wait()) } catch { failure = failure ?? error }
            }
            if let failure { throw failure }
            return results
        }

        /// Hands `query` to the connection without waiting for it, and returns its answer for a
        /// caller that reads its rows later: after the transaction's COMMIT, say, which waits for it
        /// anyway, so a statement whose rows are needed costs no wait of its own. Its failure is
        /// also what the session's next wait throws.
        @discardableResult
        public func send(_ query: PostgresQuery) -> Answer {
            let answer = connection.query(query, logger: BlockingPostgres.logger)
            sent.futures.withLock { $0.append(answer) }
            sent.first.withLock { if $0 == nil { $0 = answer } }
            return Answer(future: answer)
        }

        /// The rows of a statement that `send` handed over.
        public struct Answer: Sendable {
            fileprivate let future: EventLoopFuture<PostgresQueryResult>

            /// Waits for the statement, if it has not been answered yet, and returns its rows.
            public func rows() throws -> PostgresQueryResult {
                try future.wait()
            }
        }

        /// Whether the session's first statement sent failed because the connection was gone: then
        /// the server ran nothing of the session (it answers in order). Only for a session whose
        /// connection is lost, where every statement has its answer.
        func lostBeforeTheFirst() -> Bool {
            guard let first = sent.first.withLock({ $0 }) else { return false }
            do {
                _ = try first.wait()
                return false
            } catch {
                return PostgresFailure.isConnectionLoss(error)
            }
        }

        /// Waits for the statements sent so far; throws the first one's failure.
        public func finishSending() throws {
            let futures = sent.futures.withLock { list in
                defer { list.removeAll() }
                return list
            }
            var failure: (any Error)?
            for future in futures {
                do { _ = try future.wait() } catch { failure = failure ?? error }
            }
            if let failure { throw failure }
        }
    }

    private func take(fresh: Bool = false) throws -> (PostgresConnection, reused: Bool) {
        if !fresh {
            while let c = idle.withLock({ $0.popLast() }) {
                if !c.isClosed { return (c, true) }
            }
        }
        let configuration: PostgresConnection.Configuration
        do { configuration = try url.configuration() } catch { throw PostgresFailure(url: url, what: error.message, remedy: error.remedy) }
        let id = Self.connectionIDs.add(1, ordering: .relaxed).newValue
        do {
            let c = try PostgresConnection.connect(
                on: Self.group.next(), configuration: configuration, id: id, logger: Self.logger
            ).wait()
            if !waitsForDisk {
                do { try Session(connection: c).query("SET synchronous_commit = off") } catch {
                    c.close().whenComplete { _ in withExtendedLifetime(c) {} }
                    throw error
                }
            }
            return (c, false)
        } catch {
            throw PostgresFailure(url: url, what: "could not connect to \(url)", error)
        }
    }

    private func give(_ c: PostgresConnection) {
        guard !c.isClosed else { return }
        let kept = idle.withLock { list -> Bool in
            guard list.count < keep else { return false }
            list.append(c)
            return true
        }
        if !kept { c.close().whenComplete { _ in withExtendedLifetime(c) {} } }
    }

    private func discardIfLost(_ c: PostgresConnection, _ error: any Error) {
        if c.isClosed || PostgresFailure.isConnectionLoss(error) {
            c.close().whenComplete { _ in withExtendedLifetime(c) {} }
        } else {
            give(c)
        }
    }
}

/// A PostgreSQL failure told in words: what failed, the server's own message, and a remedy;
/// never the URL's password.
public struct PostgresFailure: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var remedy: String
    /// The server's SQLSTATE, when the server answered with an error.
    public var sqlState: String?

    public init(url: PostgresURL, what: String, remedy: String) {
        self.message = url.scrub(what)
        self.remedy = remedy
    }

    /// `error` from the driver while doing `what`, against the server at `url`.
    public init(url: PostgresURL, what: String, _ error: any Error) {
        if let failure = error as? PostgresFailure {
            self = failure
            return
        }
        message = url.scrub("\(what): \(Self.describe(error))")
        sqlState = Self.sqlState(error)
        if let tls = Self.tlsProblem(error, url: url) {
            message = url.scrub("\(what): \(tls.message) (\(Self.describe(error)))")
            remedy = tls.remedy
        } else if Self.isConnectionLoss(error) {
            remedy = "check that the PostgreSQL server at \(url.host):\(url.port) is running and reachable, then try again"
        } else {
            remedy = "check the URL's user, password and database, and that the user may create tables in the schema"
        }
    }

    public var description: String { "\(message)\n  \(remedy)" }

    /// What went wrong with TLS, when that is why a connection failed, and how to fix it.
    public static func tlsProblem(_ error: any Error, url: PostgresURL) -> (message: String, remedy: String)? {
        guard let e = error as? PSQLError else { return nil }
        if e.code == .sslUnsupported {
            return (
                "the server does not accept TLS, which sslmode=\(url.sslMode) requires",
                "turn on TLS on the server (ssl = on in postgresql.conf, with a certificate), or, on a network you trust, use sslmode=prefer or disable")
        }
        guard let underlying = e.underlying, underlying is NIOSSLError || "\(underlying)".contains("CERTIFICATE") else { return nil }
        let roots = url.sslRootCert.map { "the CA certificates in sslrootcert \($0)" } ?? "the system's trusted CA certificates"
        return (
            "the server's TLS certificate was not accepted: it is not signed by \(roots)"
                + (url.sslMode == "verify-full" ? ", or does not name \(url.host)" : ""),
            "give the CA that signed the server's certificate with ?sslrootcert=/path/to/ca.pem in the URL (verify-full also checks "
                + "that the certificate names the host), or use sslmode=require to encrypt without verifying the server")
    }

    /// The driver error with the server's own message, which PSQLError's `description` hides.
    public static func describe(_ error: any Error) -> String {
        if let e = error as? PSQLError {
            if let info = e.serverInfo, let message = info[.message] {
                var text = "the server said: \(message)"
                if let state = info[.sqlState] { text += " (SQLSTATE \(state))" }
                if let detail = info[.detail] { text += "; \(detail)" }
                return text
            }
            var text = "\(e.code)"
            if let underlying = e.underlying { text += ": \(underlying)" }
            return text
        }
        return "\(error)"
    }

    public static func sqlState(_ error: any Error) -> String? {
        if let failure = error as? PostgresFailure { return failure.sqlState }
        return (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// Whether `error` means the connection is gone.
    public static func isConnectionLoss(_ error: any Error) -> Bool {
        guard let e = error as? PSQLError else { return false }
        switch e.code {
        case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown: return true
        default: return e.serverInfo?[.sqlState]?.hasPrefix("57P") == true
        }
    }

    /// A serialisation failure (40001), a deadlock (40P01) or a unique violation (23505): two
    /// writers collided, and the one that lost may run again.
    public static func isConflict(_ error: any Error) -> Bool {
        ["40001", "40P01", "23505"].contains(sqlState(error) ?? "")
    }
}
