import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Synchronization

/// A private PostgreSQL server for tests: its own cluster in a temporary directory, on a free
/// port of 127.0.0.1, stopped and removed by `stop()`.
///
/// ```swift
/// let pg = try await PostgresTestServer.start()
/// defer { pg.stop() }
/// try await pg.createDatabase("registry")
/// let url = pg.url(database: "registry")
/// ```
///
/// Suites that only need a database share one server per test process (`shared()`, stopped
/// when the process exits) and create a database each. The binaries come from, in order: the
/// `binDirectory` argument, `MLINFRA_PG_BIN`, the directory of `initdb` on `PATH`, and the
/// newest `/usr/lib/postgresql/*/bin`; any directory holding `initdb`, `pg_ctl` and `postgres`
/// works, the `pgserver` wheel's `pginstall/bin` (PostgreSQL 16 with pgvector) among them.
/// `initdb` and `postgres` refuse to run as root, so as root the server runs as the system user
/// `postgres` (created when missing), which owns the temporary directory. The server listens
/// on 127.0.0.1 only; the superuser `mlinfra` logs in over TCP with a random password (SCRAM).
public final class PostgresTestServer: Sendable {
    public let binDirectory: String
    /// The temporary directory holding the cluster (`data/`), its log and its socket directory.
    public let directory: String
    public let host = "127.0.0.1"
    public let port: Int
    public let username = "mlinfra"
    public let password: String
    /// The server's version, as `postgres --version` prints it (`15.18`).
    public let version: String
    /// The unprivileged user the server runs as, or nil when it runs as the current user.
    public let runAs: String?
    /// Whether the server accepts TLS (`ssl=on`, with the certificate it was started with).
    public let tls: Bool

    /// A certificate and key (PEM files) for a server that accepts TLS.
    public struct TLS: Sendable {
        public var certificate: String
        public var key: String
        public init(certificate: String, key: String) {
            self.certificate = certificate
            self.key = key
        }
    }

    private let stopped = Mutex(false)

    private init(binDirectory: String, directory: String, port: Int, password: String, version: String, runAs: String?, tls: Bool) {
        self.tls = tls
        self.binDirectory = binDirectory
        self.directory = directory
        self.port = port
        self.password = password
        self.version = version
        self.runAs = runAs
    }

    public var dataDirectory: String { directory + "/data" }
    public var logFile: String { directory + "/server.log" }

    /// A `postgres://` URL for `database` on this server, with the password in it.
    public func url(database: String = "postgres") -> String {
        "postgres://\(username):\(password)@\(host):\(port)/\(database)"
    }

    /// Connection settings for `database`, for code that talks to the server with PostgresNIO.
    public func configuration(database: String = "postgres") -> PostgresConnection.Configuration {
        PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: .disable)
    }

    // MARK: starting and stopping

    /// Starts a new server; the caller stops it. Fails, saying how to install PostgreSQL, when no binaries are found.
    /// With `tls`, the server also accepts TLS connections (`ssl=on`) with that certificate; plain ones still work.
    public static func start(binDirectory: String? = nil, tls: TLS? = nil) async throws -> PostgresTestServer {
        try await offThread { try startBlocking(binDirectory: binDirectory, tls: tls) }
    }

    private static let sharedServer = SharedTestServer()

    /// The server this test process shares between suites, started on first use and stopped at exit.
    public static func shared() async throws -> PostgresTestServer {
        try await sharedServer.server { try await start() }
    }

    /// Stops the server (fast shutdown) and removes its directory. Safe to call twice.
    public func stop() {
        let already = stopped.withLock { s in
            defer { s = true }
            return s
        }
        guard !already else { return }
        _ = try? pgCtl(["stop", "-m", "fast", "-w", "-t", "60"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Stops the server at once (as a crash would: no checkpoint, connections cut) and starts it again on the same port.
    public func restart(mode: String = "immediate") async throws {
        try await Self.offThread {
            _ = try self.pgCtl(["stop", "-m", mode, "-w", "-t", "60"])
            try self.startServer()
        }
    }

    /// Creates a database of its own for one test, `PREFIX_` and eight random characters, and
    /// returns its name.
    public func createFreshDatabase(_ prefix: String) async throws -> String {
        let name = prefix + "_" + UUID().uuidString.prefix(8).lowercased()
        try await createDatabase(name)
        return name
    }

    /// Creates a database owned by the superuser (names are quoted, so any text works).
    public func createDatabase(_ name: String) async throws {
        try await withConnection(database: "postgres") { connection in
            _ = try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(Self.quoteIdentifier(name))"), logger: Self.logger)
        }
    }

    /// Runs `body` on a new connection to `database`, closed afterwards.
    public func withConnection<T: Sendable>(
        database: String = "postgres", _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration(database: database), id: 1,
            logger: Self.logger)
        do {
            let result = try await body(connection)
            try await connection.close()
            return result
        } catch {
            try? await connection.close()
            throw error
        }
    }

    static let logger = Logger(label: "mlinfra.testing.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func startBlocking(binDirectory explicit: String?, tls: TLS? = nil) throws -> PostgresTestServer {
        let bin = try findBinaries(explicit: explicit)
        let runAs = try unprivilegedUser()
        let version = try versionText(bin)
        var template = Array((NSTemporaryDirectory() + "/mlinfra-pg-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PostgresTestServerError("could not create a temporary directory for the server (errno \(errno))", remedy: "check that \(NSTemporaryDirectory()) is writable")
        }
        let directory = String(cString: made)
        do {
            let password = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try Data((password + "\n").utf8).write(to: URL(fileURLWithPath: directory + "/pwfile"))
            try FileManager.default.createDirectory(atPath: directory + "/socket", withIntermediateDirectories: true)
            if let tls {
                // The server refuses a key file others can read; it must belong to the user the server runs as.
                try FileManager.default.copyItem(atPath: tls.certificate, toPath: directory + "/server.crt")
                try FileManager.default.copyItem(atPath: tls.key, toPath: directory + "/server.key")
                chmod(directory + "/server.key", 0o600)
            }
            if let runAs { try giveDirectory(directory, to: runAs) }
            try checkRunnable(bin, as: runAs)
            return try TestDaemon.onFreePort { port in
                let server = PostgresTestServer(
                    binDirectory: bin, directory: directory, port: port, password: password, version: version, runAs: runAs, tls: tls != nil)
                if !FileManager.default.fileExists(atPath: server.dataDirectory + "/PG_VERSION") { try server.initdb() }
                try server.startServer()
                try? FileManager.default.removeItem(atPath: directory + "/pwfile")
                return server
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    private func initdb() throws {
        let result = try Self.run(
            bin("initdb"),
            ["-D", dataDirectory, "-U", username, "--pwfile", directory + "/pwfile", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"], as: runAs)
        guard result.status == 0 else {
            throw PostgresTestServerError("initdb failed (exit \(result.status)):\n\(result.output)", remedy: "see the output above")
        }
    }

    private func startServer() throws {
        let settings: [String] = [
            "-c listen_addresses=127.0.0.1", "-p \(port)", "-k \(directory)/socket", "-c fsync=off",
            "-c full_page_writes=off", "-c max_connections=200", "-c shared_buffers=32MB",
        ] + (tls ? ["-c ssl=on", "-c ssl_cert_file=\(directory)/server.crt", "-c ssl_key_file=\(directory)/server.key"] : [])
        let options = settings.joined(separator: " ")
        let result = try pgCtl(["start", "-w", "-t", "60", "-l", logFile, "-o", options])
        if result.status != 0 {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            throw PostgresTestServerError(
                "the PostgreSQL server did not start (pg_ctl exit \(result.status)):\n\(result.output)\n\(log.suffix(2000))",
                remedy: "see the server log above", portInUse: log.contains("Address already in use"))
        }
    }

    private func pgCtl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try Self.run(bin("pg_ctl"), ["-D", dataDirectory] + arguments, as: runAs)
    }

    private func bin(_ name: String) -> String { binDirectory + "/" + name }

    // MARK: finding and running the binaries

    static let required = ["initdb", "pg_ctl", "postgres"]

    static func findBinaries(explicit: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        func holdsAll(_ dir: String) -> Bool {
            required.allSatisfy { FileManager.default.isExecutableFile(atPath: dir + "/" + $0) }
        }
        if let explicit {
            guard holdsAll(explicit) else { throw missing("the directory given (\(explicit))", searched: explicit) }
            return explicit
        }
        if let dir = environment["MLINFRA_PG_BIN"], !dir.isEmpty {
            guard holdsAll(dir) else { throw missing("MLINFRA_PG_BIN (\(dir))", searched: dir) }
            return dir
        }
        var searched: [String] = []
        for entry in (environment["PATH"] ?? "").split(separator: ":") {
            let candidate = String(entry) + "/initdb"
            guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
            // /usr/local/bin/initdb may be a link into the real bin directory, where pg_ctl and postgres live too.
            let dir = (URL(fileURLWithPath: candidate).resolvingSymlinksInPath().path as NSString).deletingLastPathComponent
            searched.append(dir)
            if holdsAll(dir) { return dir }
        }
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? [])
            .sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
        for v in versions {
            let dir = "/usr/lib/postgresql/\(v)/bin"
            searched.append(dir)
            if holdsAll(dir) { return dir }
        }
        throw missing("MLINFRA_PG_BIN (unset), PATH or /usr/lib/postgresql/*/bin", searched: searched.joined(separator: ", "))
    }

    private static func missing(_ place: String, searched: String) -> PostgresTestServerError {
        PostgresTestServerError(
            "PostgreSQL server binaries (\(required.joined(separator: ", "))) were not found in \(place)"
                + (searched.isEmpty ? "" : "; looked in: \(searched)"),
            remedy: "install PostgreSQL with `apt-get install postgresql` (Debian/Ubuntu), or set MLINFRA_PG_BIN to a directory "
                + "holding initdb, pg_ctl and postgres (for example the pgserver wheel's pgserver/pginstall/bin)")
    }

    private static func versionText(_ bin: String) throws -> String {
        let result = try run(bin + "/postgres", ["--version"], as: nil)
        guard result.status == 0 else {
            throw PostgresTestServerError("`\(bin)/postgres --version` failed: \(result.output)", remedy: "check the PostgreSQL installation")
        }
        return result.output.split(separator: " ").last.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) } ?? result.output
    }

    /// The user to run the server as: `postgres` when this process is root (created when missing), else nil.
    private static func unprivilegedUser() throws -> String? {
        guard geteuid() == 0 else { return nil }
        let name = "postgres"
        if getpwnam(name) == nil {
            let result = try run("/usr/sbin/useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", name], as: nil)
            guard result.status == 0 || getpwnam(name) != nil else {
                throw PostgresTestServerError(
                    "PostgreSQL refuses to run as root, and the system user `postgres` could not be created: \(result.output)",
                    remedy: "create it with `useradd --system postgres`, or run the tests as a user other than root")
            }
        }
        return name
    }

    private static func giveDirectory(_ directory: String, to user: String) throws {
        let result = try run("/bin/chown", ["-R", user, directory], as: nil)
        guard result.status == 0 else {
            throw PostgresTestServerError("could not give \(directory) to the user \(user): \(result.output)", remedy: "run the tests as root or as a user that can run PostgreSQL")
        }
    }

    private static func checkRunnable(_ bin: String, as user: String?) throws {
        guard let user else { return }
        let result = try run(bin + "/postgres", ["--version"], as: user)
        guard result.status == 0 else {
            throw PostgresTestServerError(
                "the user `\(user)` cannot run \(bin)/postgres: \(result.output)",
                remedy: "put the PostgreSQL binaries where `\(user)` can read them (each directory on the way needs o+x), e.g. under /opt")
        }
    }

    /// Runs a program to completion, as `user` through runuser when one is given; stdout and stderr together.
    ///
    /// posix_spawn and waitpid rather than Foundation's Process: `pg_ctl start` leaves a daemon
    /// behind, and Process was seen never to report the end of such a child. Output goes to a
    /// temporary file, so no pipe can stay open in the daemon or fill up; and the child gets no
    /// other descriptor of the test process (`TestDaemon.keepOnlyTheStandardDescriptors`).
    static func run(_ program: String, _ arguments: [String], as user: String?) throws -> (status: Int32, output: String) {
        // From `/`, which the unprivileged user can always enter (the test's own directory may be private).
        let argv = ["/bin/sh", "-c", "cd / && exec \"$@\"", "sh"]
            + (user.map { ["/usr/sbin/runuser", "-u", $0, "--", program] } ?? [program]) + arguments
        let outputPath = NSTemporaryDirectory() + "/mlinfra-pg-run-\(UUID().uuidString).log"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        try TestDaemon.keepOnlyTheStandardDescriptors(&actions)
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, cArgs, environ)
        guard spawned == 0 else {
            throw PostgresTestServerError("could not start \(argv[0]) (error \(spawned))", remedy: "check that it exists and is executable")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw PostgresTestServerError("waitpid failed (errno \(errno))", remedy: "retry") }
        }
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }

    /// A port of 127.0.0.1 that nothing listens on now (the kernel's choice for port 0).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PostgresTestServerError("socket() failed (errno \(errno))", remedy: "check the machine's network stack") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw PostgresTestServerError("bind to 127.0.0.1:0 failed (errno \(errno))", remedy: "check the loopback interface") }
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw PostgresTestServerError("getsockname failed (errno \(errno))", remedy: "check the loopback interface") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs blocking work (child processes) on a thread of its own, off the cooperative pool.
    static func offThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}

/// Why a test server could not be started, and what to do about it.
public struct PostgresTestServerError: Error, CustomStringConvertible {
    public var message: String
    public var remedy: String
    var portInUse = false

    init(_ message: String, remedy: String, portInUse: Bool = false) {
        self.message = message
        self.remedy = remedy
        self.portInUse = portInUse
    }

    public var description: String { "\(message)\n  How to fix: \(remedy)" }
}
