import Foundation
import MLInfraTesting
import PostgresNIO
import Testing

/// The private PostgreSQL server that the team-mode suites start.
@Suite struct PostgresTestServerTests {
    @Test func serverListensOnLoopbackOnlyAndStopRemovesItsDirectory() async throws {
        let server = try await PostgresTestServer.start()
        let directory = server.directory
        do {
            try await server.createDatabase("helper check")
            let (address, database) = try await server.withConnection(database: "helper check") { c in
                var out = ("", "")
                for try await row in try await c.query("SELECT host(inet_server_addr()), current_database()", logger: PostgresFixture.logger)
                    .decode((String, String).self)
                {
                    out = row
                }
                return out
            }
            #expect(address == "127.0.0.1")
            #expect(database == "helper check")
            #expect(server.url(database: "x").hasPrefix("postgres://mlinfra:"))
            #expect(FileManager.default.fileExists(atPath: server.dataDirectory + "/PG_VERSION"))
        } catch {
            server.stop()
            throw error
        }
        server.stop()
        #expect(!FileManager.default.fileExists(atPath: directory))
        await #expect(throws: (any Error).self) {
            try await server.withConnection { _ in () }
        }
    }

    /// A server keeps no descriptor of the test process: a pipe whose write end the test closes
    /// reaches its end while PostgreSQL and Redis, started after the pipe was made, still run.
    @Test func theServersKeepNoDescriptorOfTheTestProcess() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let postgres = try await PostgresTestServer.start()
        defer { postgres.stop() }
        let redis = try await RedisTestServer.start()
        defer { redis.stop() }
        close(ends[1])
        var reader = pollfd(fd: ends[0], events: Int16(POLLIN), revents: 0)
        let ready = poll(&reader, 1, 5_000)
        #expect(ready == 1, "the pipe did not reach its end: a server holds its write end")
        if ready == 1 {
            var byte: UInt8 = 0
            #expect(read(ends[0], &byte, 1) == 0)
        }
    }

    /// A Redis server stopped the moment it has started leaves no process behind: the start
    /// waits for the pid file that `stop()` signals through, not for the port alone.
    @Test func aRedisServerStoppedRightAfterItsStartLeavesNoProcess() async throws {
        for _ in 0..<5 {
            let redis = try await RedisTestServer.start()
            let running = Self.processes(titled: "127.0.0.1:\(redis.port)")
            redis.stop()
            #expect(running.count == 1, "no redis-server process found for port \(redis.port)")
            let left = running.filter { kill($0, 0) == 0 }
            #expect(left.isEmpty, "redis-server \(left) on port \(redis.port) outlived its stop()")
            for pid in left { kill(pid, SIGKILL) }
        }
    }

    /// The redis-server processes whose title (`/usr/bin/redis-server 127.0.0.1:PORT`) contains `text`.
    static func processes(titled text: String) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = pid_t(entry), let title = commandLine(of: entry), title.contains("redis-server "), title.contains(text)
            else { return nil }
            return pid
        }
    }

    /// A process's command line as `/proc` gives it (read with `read(2)`: the file says its size is 0).
    static func commandLine(of pid: String) -> String? {
        let fd = open("/proc/\(pid)/cmdline", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &bytes, bytes.count)
        return count > 0 ? String(decoding: bytes[..<count], as: UTF8.self) : nil
    }

    @Test func missingBinariesFailSayingHowToInstallPostgreSQL() async throws {
        let error = await #expect(throws: PostgresTestServerError.self) {
            _ = try await PostgresTestServer.start(binDirectory: "/nonexistent/pg/bin")
        }
        #expect(error?.description.contains("apt-get install postgresql") == true)
        #expect(error?.description.contains("MLINFRA_PG_BIN") == true)
    }

    @Test func restartKeepsTheDataAndThePort() async throws {
        let server = try await PostgresTestServer.start()
        defer { server.stop() }
        try await server.createDatabase("kept")
        try await server.restart()
        let name = try await server.withConnection(database: "kept") { c in
            var name = ""
            for try await n in try await c.query("SELECT current_database()", logger: PostgresFixture.logger).decode(String.self) { name = n }
            return name
        }
        #expect(name == "kept")
    }
}
