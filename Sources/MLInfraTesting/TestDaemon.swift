import Foundation

/// What the test servers that daemonize themselves (Redis, nginx) share: starting the daemon
/// with a clean signal state, and knowing when it listens.
enum TestDaemon {
    /// Runs `program` (which daemonizes and returns) with no signal blocked and every signal at its
    /// default: a test process blocks signals on its threads, and a child inherits the mask, so a
    /// daemon started as `PostgresTestServer.run` starts it would never see a `stop()`'s SIGTERM.
    static func spawn(_ program: String, _ arguments: [String]) throws -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        try keepOnlyTheStandardDescriptors(&actions)
        let cArgs = ([program] + arguments).map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, &attributes, cArgs, environ)
        guard spawned == 0 else {
            throw PostgresTestServerError("could not start \(program) (error \(spawned))", remedy: "check that it exists and is executable")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw PostgresTestServerError("waitpid failed (errno \(errno))", remedy: "retry") }
        }
        return status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// Closes every descriptor above stderr in the child. A test process holds descriptors that
    /// are not close-on-exec (Foundation's `Pipe` makes its ends that way), and a daemon that
    /// inherited the write end of another test's pipe would keep it open for the whole run: that
    /// test's read to the end of the pipe then never ends. glibc's
    /// `posix_spawn_file_actions_addclosefrom_np` (2.34 and later) does it; the Glibc module does
    /// not declare it, so it is looked up at run time.
    static func keepOnlyTheStandardDescriptors(_ actions: inout posix_spawn_file_actions_t) throws {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        guard let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else {
            throw PostgresTestServerError(
                "this C library has no posix_spawn_file_actions_addclosefrom_np, which the test servers need",
                remedy: "run the tests on glibc 2.34 or later (Debian 12, Ubuntu 22.04)")
        }
        _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 3)
    }

    /// Starts a server on a free port, and on another one when a process took the port between
    /// `freePort()` and the server's bind (its `PostgresTestServerError`, which Redis and nginx
    /// share, says `portInUse`): at most five tries.
    static func onFreePort<Server>(_ start: (Int) throws -> Server) throws -> Server {
        var lastError: (any Error)?
        for _ in 0..<5 {
            do {
                return try start(try PostgresTestServer.freePort())
            } catch let error as PostgresTestServerError where error.portInUse {
                lastError = error
            }
        }
        throw lastError!
    }

    /// Whether something accepts a TCP connection on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }


    /// The binary `variable` names, else `name` on `PATH` or in /usr/sbin and /usr/bin; fails saying how to install it.
    static func findBinary(_ name: String, variable: String, install: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        if let path = environment[variable], !path.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw PostgresTestServerError("\(variable) (\(path)) is not an executable file", remedy: "point it at the \(name) binary, or unset it")
            }
            return path
        }
        for entry in (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin"] {
            let candidate = entry + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw PostgresTestServerError(
            "\(name) was not found on PATH (nor in /usr/sbin, /usr/bin) and \(variable) is unset",
            remedy: "install it with \(install), or set \(variable) to the \(name) binary")
    }
}
