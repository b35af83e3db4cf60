import EnginePostgres
import Foundation
import Logging
import MLInfraCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// One database session (connection) that a store's calls take turns on.
///
/// A transaction, and the session-level advisory lock, belong to a connection, so calls must
/// not interleave on it: `run` lets one body at a time use the connection, in arrival order.
/// When the connection is lost (server restart, network), the next `run` opens a new one and
/// `generation` goes up, so a store can tell that a lock taken on the old session is gone.
actor PostgresSession {
    let url: PostgresBackendURL
    private var connection: PostgresConnection?
    private(set) var generation = 0
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private static let connectionIDs = Atomic(0)

    static let logger = Logger(label: "mlinfra.state.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    init(url: PostgresBackendURL) {
        self.url = url
    }

    deinit {
        // A store dropped without close (a crash in a test, or process exit): close the socket so the server
        // ends the session and frees its advisory locks.
        if let connection { connection.close().whenComplete { _ in withExtendedLifetime(connection) {} } }
    }

    /// Runs `body` alone on the connection (opening one when needed); `body` gets the connection and its generation.
    /// With `retry`, a body that failed because the connection was lost runs once more on a new one
    /// (for calls that only read, or that are one transaction and keep nothing of the session).
    func run<T: Sendable>(retry: Bool, _ body: @Sendable (PostgresConnection, Int) async throws -> T) async throws -> T {
        while busy { await withCheckedContinuation { waiters.append($0) } }
        busy = true
        defer {
            busy = false
            if !waiters.isEmpty { waiters.removeFirst().resume() }
        }
        let connection = try await connected()
        do {
            return try await body(connection, generation)
        } catch {
            guard connection.isClosed || Self.isConnectionLoss(error) else { throw error }
            drop(connection)
            guard retry else { throw error }
            return try await body(try await connected(), generation)
        }
    }

    /// Closes the connection, which ends the session on the server (and frees its advisory locks).
    func close() async {
        guard let connection else { return }
        self.connection = nil
        try? await connection.close()
    }

    private func connected() async throws -> PostgresConnection {
        if let connection, !connection.isClosed { return connection }
        if connection != nil { drop(connection!) }
        let configuration = try url.configuration()
        let id = Self.connectionIDs.add(1, ordering: .relaxed).newValue
        do {
            let c = try await PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: id, logger: Self.logger)
            connection = c
            generation += 1
            return c
        } catch {
            throw PostgresStateErrors.backend("could not connect to \(url)", error, url: url)
        }
    }

    private func drop(_ c: PostgresConnection) {
        if connection === c {
            connection = nil
            c.close().whenComplete { _ in withExtendedLifetime(c) {} }
        }
    }

    /// Whether `error` means the session is gone (so the next call must reconnect).
    static func isConnectionLoss(_ error: any Error) -> Bool {
        if let e = error as? PostgresTransactionError {
            return [e.beginError, e.closureError, e.commitError, e.rollbackError].contains { $0.map(isConnectionLoss) ?? false }
        }
        return PostgresFailure.isConnectionLoss(error)
    }
}

/// The errors the PostgreSQL store raises: what failed, in words, never a password.
enum PostgresStateErrors {
    /// A driver or server failure while doing `what`, told without secrets.
    static func backend(_ what: String, _ error: any Error, url: PostgresBackendURL) -> StateError {
        if let state = error as? StateError { return state }
        let detail = url.scrub(describe(error))
        if let tls = PostgresFailure.tlsProblem(error, url: url.url) {
            return StateError(.backend, "\(what): \(tls.message) (\(detail))", path: url.description, remedy: tls.remedy)
        }
        let lost = PostgresSession.isConnectionLoss(error)
        return StateError(
            .backend, "\(what): \(detail)", path: url.description,
            remedy: lost
                ? "check that the PostgreSQL server at \(url.host):\(url.port) is running and reachable, then run the command again; "
                    + "an interrupted apply is recovered from its journal by the next command"
                : "check the backend URL's user, password and database, and that the user may create tables in the schema")
    }

    /// A description of a driver error with the server's own message, which PSQLError's `description` hides.
    static func describe(_ error: any Error) -> String {
        if let e = error as? PostgresTransactionError {
            if let inner = e.closureError ?? e.commitError ?? e.beginError ?? e.rollbackError { return describe(inner) }
        }
        return PostgresFailure.describe(error)
    }
}
