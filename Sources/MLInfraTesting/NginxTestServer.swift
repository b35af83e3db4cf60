import Foundation
import Synchronization

/// A private nginx for tests: its own prefix, main config, pid file, logs and temp directories
/// in a temporary directory, listening only where the included file says (the load balancers
/// mlinfra writes); stopped and its directory removed by `stop()`.
///
/// ```swift
/// let nginx = try await NginxTestServer.start()
/// defer { nginx.stop() }
/// // mlinfra agent --control … --nginx-config \(nginx.includeFile) --nginx-pid \(nginx.pidFile)
/// ```
///
/// The binary is `MLINFRA_NGINX`, else `nginx` on `PATH` or in /usr/sbin (Debian's package).
/// As root, the workers run as root too (`user root`), so they can read the temporary directory.
public final class NginxTestServer: Sendable {
    public let binary: String
    public let directory: String
    private let stopped = Mutex(false)

    public var includeFile: String { directory + "/mlinfra.conf" }
    public var pidFile: String { directory + "/nginx.pid" }
    public var errorLog: String { directory + "/error.log" }
    var configFile: String { directory + "/nginx.conf" }

    private init(binary: String, directory: String) {
        self.binary = binary
        self.directory = directory
    }

    /// Starts nginx with an empty include file; the caller stops it. Fails, saying how to install nginx, when there is none.
    public static func start() async throws -> NginxTestServer {
        try await PostgresTestServer.offThread { try startBlocking() }
    }

    /// The master's pid, while it runs.
    public var pid: pid_t? {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            pid > 0, kill(pid, 0) == 0
        else { return nil }
        return pid
    }

    /// Stops nginx (SIGQUIT: graceful, then SIGKILL after 10 s) and removes its directory. Safe to call twice.
    public func stop() {
        let already = stopped.withLock { s in
            defer { s = true }
            return s
        }
        guard !already else { return }
        if let pid {
            kill(pid, SIGQUIT)
            let deadline = Date().addingTimeInterval(10)
            while kill(pid, 0) == 0, Date() < deadline { usleep(10_000) }
            if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func startBlocking() throws -> NginxTestServer {
        let binary = try findBinary()
        var template = Array((NSTemporaryDirectory() + "/mlinfra-nginx-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw PostgresTestServerError("could not create a temporary directory for nginx (errno \(errno))", remedy: "check that \(NSTemporaryDirectory()) is writable")
        }
        let server = NginxTestServer(binary: binary, directory: String(cString: made))
        do {
            try server.launch()
            return server
        } catch {
            server.stop()
            throw error
        }
    }

    private func launch() throws {
        for sub in ["temp", "logs"] { try FileManager.default.createDirectory(atPath: directory + "/" + sub, withIntermediateDirectories: true) }
        try Data("# no load balancers yet\n".utf8).write(to: URL(fileURLWithPath: includeFile))
        let user = getuid() == 0 ? "user root;\n" : ""
        let temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map { "    \($0)_temp_path \(directory)/temp/\($0);" }.joined(separator: "\n")
        let config = """
            \(user)daemon on;
            worker_processes 1;
            pid \(pidFile);
            error_log \(errorLog) warn;
            events { worker_connections 1024; }
            http {
                access_log off;
            \(temp)
                include \(includeFile);
            }

            """
        try Data(config.utf8).write(to: URL(fileURLWithPath: configFile))
        let status = try TestDaemon.spawn(binary, ["-p", directory, "-c", configFile])
        guard status == 0 else {
            let log = (try? String(contentsOfFile: errorLog, encoding: .utf8)) ?? ""
            throw PostgresTestServerError("nginx failed to start (exit \(status)):\n\(log.suffix(2000))", remedy: "see the nginx log above")
        }
        let deadline = Date().addingTimeInterval(15)
        while pid == nil, Date() < deadline { usleep(10_000) }
        guard pid != nil else {
            throw PostgresTestServerError("nginx wrote no pid file within 15 s", remedy: "see \(errorLog)")
        }
    }

    /// Waits until nginx accepts connections on 127.0.0.1:`port` (after a reload that added a `listen`).
    public func waitListening(port: Int, timeout: Double = 15) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if TestDaemon.accepts(port: port) { return true }
            usleep(20_000)
        }
        return false
    }

    static func findBinary(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        try TestDaemon.findBinary("nginx", variable: "MLINFRA_NGINX", install: "`apt-get install nginx` (Debian/Ubuntu; `.ci/run` does)", environment: environment)
    }
}
