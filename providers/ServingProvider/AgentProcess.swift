import Foundation
import ModelServing
#if canImport(Glibc)
import Glibc
#endif

/// The agent's process files under `<data_dir>/serving/`: `agent.pid` and `agent.log`.
public struct AgentProcess: Sendable {
    public let servingDirectory: URL
    public init(dataDirectory: URL) { servingDirectory = dataDirectory.appendingPathComponent("serving") }

    public var pidFile: URL { servingDirectory.appendingPathComponent("agent.pid") }
    public var logFile: URL { servingDirectory.appendingPathComponent("agent.log") }
    public var lockFile: URL { servingDirectory.appendingPathComponent("agent.lock") }

    /// The pid of the agent serving this data directory, if one runs.
    public func runningPID() -> Int32? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else { return nil }
        guard kill(pid, 0) == 0 || errno == EPERM else { return nil }
        // A recycled pid belongs to another program: only an `agent` command line counts.
        if let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) {
            let args = cmdline.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard args.contains("agent") else { return nil }
        }
        return pid
    }

    /// Takes the agent lock for this process (held until exit) and writes the pid file.
    /// Returns nil when another agent holds the lock.
    public func claim() throws -> Int32? {
        try FileManager.default.createDirectory(at: servingDirectory, withIntermediateDirectories: true)
        let fd = open(lockFile.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AgentError(message: "cannot open \(lockFile.path): \(String(cString: strerror(errno)))", remedy: "check the data directory's permissions") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            close(fd)
            return nil
        }
        // The descriptor stays open (and the lock held) for the life of the process.
        try "\(getpid())\n".write(to: pidFile, atomically: true, encoding: .utf8)
        return getpid()
    }

    public func removePIDFile() {
        if let text = try? String(contentsOf: pidFile, encoding: .utf8), Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) == getpid() {
            try? FileManager.default.removeItem(at: pidFile)
        }
    }

    /// Starts `executable agent --data-dir DIR` in its own session, its output appended to
    /// `agent.log`, and waits until it has written its pid file. Returns its pid.
    public func spawnDetached(executable: String, dataDirectory: URL, timeout: Double = 15) throws -> Int32 {
        try FileManager.default.createDirectory(at: servingDirectory, withIntermediateDirectories: true)
        let args = [executable, "agent", "--data-dir", dataDirectory.path]
        var fileActions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 1, logFile.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&fileActions, 1, 2)
        // Nothing else of ours leaks into the long-lived agent: an inherited pipe or socket (a
        // caller's output pipe, Foundation's child-exit socket) would keep whoever waits on it
        // waiting until the agent stops — `mlinfra apply` run by a program would never "exit".
        Self.closeInheritedDescriptors(&fileActions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // POSIX_SPAWN_SETSID (glibc's 0x80; the macro is not imported into Swift): a session of its own,
        // so the agent outlives the terminal or apply that started it.
        posix_spawnattr_setflags(&attributes, Int16(0x80))
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let rc = posix_spawn(&pid, executable, &fileActions, &attributes, argv, environ)
        guard rc == 0 else {
            throw AgentError(message: "cannot start \(executable) agent: \(String(cString: strerror(rc)))", remedy: "check that the mlinfra executable is runnable")
        }
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            if runningPID() == pid { return pid }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                if let other = runningPID() { return other }
                throw AgentError(message: "the agent exited at once (status \(status))", remedy: "see \(logFile.path)")
            }
            usleep(50_000)
        }
        throw AgentError(message: "the agent did not start within \(Int(timeout))s", remedy: "see \(logFile.path)")
    }

    /// Makes the spawned process start with only descriptors 0, 1 and 2: glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34+; looked up at run time, Swift's Glibc
    /// module does not export it), else every open descriptor above 2 is marked close-on-exec.
    static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np"),
           unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3) == 0 {
            return
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in names.compactMap(Int32.init) where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Sends SIGTERM to the running agent and waits for it to stop. Returns the pid it stopped.
    public func stop(timeout: Double = 30) throws -> Int32? {
        guard let pid = runningPID() else { return nil }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ContinuousClock.now < deadline {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
            if kill(pid, 0) != 0 && errno == ESRCH { return pid }
            usleep(50_000)
        }
        throw AgentError(message: "the agent (pid \(pid)) did not stop within \(Int(timeout))s", remedy: "see \(logFile.path); `kill -9 \(pid)` stops it for sure")
    }
}

/// An agent problem, with how to fix it.
public struct AgentError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var remedy: String
    public var description: String { "\(message); \(remedy)" }
}

/// The path of the running executable, for starting the agent and replicas as the same binary.
public func currentExecutablePath() -> String {
    if let resolved = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return resolved }
    return CommandLine.arguments[0]
}

/// Resolves a data directory as the `local` provider does: relative to `base`.
public func resolveDataDirectory(_ path: String, base: String) -> URL {
    let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: base).appendingPathComponent(path)
    return url.standardizedFileURL
}

/// What serving still has in a data directory, for `destroy` to say what it leaves.
public enum ServingLeftovers {
    /// Endpoints the control store still holds (of this or another spec sharing the data directory).
    public static func endpointCount(dataDirectory: URL) -> Int {
        let serving = dataDirectory.appendingPathComponent("serving")
        guard FileManager.default.fileExists(atPath: serving.appendingPathComponent("control.sqlite").path) else { return 0 }
        return (try? SQLiteControlStore(directory: serving).endpoints().count) ?? 0
    }
}
