import Foundation
import Synchronization

/// A private Redis server for tests: its own config and directory in a temporary directory, on a
/// free port of 127.0.0.1, with a random password; stopped and its directory removed by `stop()`.
///
/// ```swift
/// let redis = try await RedisTestServer.start()
/// defer { redis.stop() }
/// let url = redis.url()   // redis://:PASSWORD@127.0.0.1:PORT/0
/// ```
///
/// Nothing is persisted (no RDB snapshots, no append-only file) unless `persistence` is asked
/// for. Suites share one server per test process (`shared()`, stopped when the process exits)
/// and keep apart by key prefix. The binary is `MLINFRA_REDIS_SERVER`, else `redis-server` on
/// `PATH`; Redis runs as root as well, so no other user is involved.
public final class RedisTestServer: Sendable {
    public let binary: String
    /// The temporary directory holding the config, the log, the pid file and any data files.
    public let directory: String
    public let host = "127.0.0.1"
    public let port: Int
    public let password: String
    private let stopped = Mutex(false)

    private init(binary: String, directory: String, port: Int, password: String) {
        self.binary = binary
        self.directory = directory
        self.port = port
        self.password = password
    }

    public var logFile: String { directory + "/redis.log" }
    var pidFile: String { directory + "/redis.pid" }

    /// A `redis://` URL of database `database`, with the password in it.
    public func url(database: Int = 0) -> String {
        "redis://:\(password)@\(host):\(port)/\(database)"
    }

    // MARK: starting and stopping

    /// Starts a new server; the caller stops it. Fails, saying how to install Redis, when there is no `redis-server`.
    public static func start(persistence: Bool = false) async throws -> RedisTestServer {
        try await PostgresTestServer.offThread { try startBlocking(persistence: persistence) }
    }

    private static let sharedServer = Mutex<Task<RedisTestServer, any Error>?>(nil)
    /// The shared server once started, for the exit handler (which must not wait on a task).
    private static let sharedStarted = Mutex<RedisTestServer?>(nil)

    /// The server this test process shares between suites, started on first use and stopped at exit.
    public static func shared() async throws -> RedisTestServer {
        let task = sharedServer.withLock { task in
            if let task { return task }
            let started = Task {
                let server = try await start()
                sharedStarted.withLock { $0 = server }
                return server
            }
            task = started
            atexit { RedisTestServer.sharedStarted.withLock { $0 }?.stop() }
            return started
        }
        return try await task.value
    }

    /// Stops the server (SIGTERM, waiting for it to exit) and removes its directory. Safe to call twice.
    public func stop() {
        let already = stopped.withLock { s in
            defer { s = true }
            return s
        }
        guard !already else { return }
        if let pid = serverPID() {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(20)
            while kill(pid, 0) == 0, Date() < deadline { usleep(10_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The daemon's pid, from the pid file it writes once it has started; nil before that.
    private func serverPID() -> pid_t? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else { return nil }
        return pid
    }

    private static func startBlocking(persistence: Bool) throws -> RedisTestServer {
        let binary = try findBinary()
        var template = Array((NSTemporaryDirectory() + "/mlinfra-redis-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw RedisTestServerError(
                "could not create a temporary directory for the server (errno \(errno))", remedy: "check that \(NSTemporaryDirectory()) is writable")
        }
        let directory = String(cString: made)
        do {
            let password = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            return try TestDaemon.onFreePort { port in
                let server = RedisTestServer(binary: binary, directory: directory, port: port, password: password)
                try server.launch(persistence: persistence)
                return server
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    private func launch(persistence: Bool) throws {
        let config = [
            "bind 127.0.0.1", "port \(port)", "protected-mode yes", "daemonize yes", "dir \(directory)",
            "pidfile \(pidFile)", "logfile \(logFile)", "requirepass \(password)", "databases 4",
        ] + (persistence ? ["appendonly yes", "save 60 1"] : ["appendonly no", "save \"\""])
        let configFile = directory + "/redis.conf"
        try Data((config.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: configFile))
        let status = try TestDaemon.spawn(binary, [configFile])
        guard status == 0 else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            throw RedisTestServerError("redis-server failed to start (exit \(status)):\n\(log.suffix(2000))", remedy: "see the server log above")
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            // Redis listens before it writes its pid file: a server is ready once both are there,
            // so that a `stop()` right after this returns finds the pid it must signal.
            if TestDaemon.accepts(port: port), serverPID() != nil { return }
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if log.contains("Address already in use") || log.contains("Could not create server TCP listening socket") {
                throw RedisTestServerError("port \(port) is taken", remedy: "retry", portInUse: true)
            }
            usleep(10_000)
        }
        let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        throw RedisTestServerError("redis-server did not listen on 127.0.0.1:\(port) within 30 s:\n\(log.suffix(2000))", remedy: "see the server log above")
    }

    static func findBinary(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        try TestDaemon.findBinary("redis-server", variable: "MLINFRA_REDIS_SERVER", install: "`apt-get install redis-server` (Debian/Ubuntu)", environment: environment)
    }
}

/// Why a Redis test server could not be started, and what to do about it: the same error the
/// PostgreSQL test server throws (message, remedy, whether the port was taken).
public typealias RedisTestServerError = PostgresTestServerError
