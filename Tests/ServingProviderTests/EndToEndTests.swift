import CaptureStorage
import Foundation
import MLInfraCore
import ModelRegistry
import NIOCore
import Synchronization
import Testing

@testable import ModelServing
@testable import ServingProvider

/// The executable that runs `agent` and `endpoints replica`: `MLINFRA_BIN`, or `mlinfra`
/// (or the dev package's `serving-dev`) beside this test bundle.
enum TestBinary {
    static let path: String? = {
        if let path = ProcessInfo.processInfo.environment["MLINFRA_BIN"] { return path }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for name in ["mlinfra", "serving-dev"] {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) && servesEndpoints(candidate) { return candidate }
        }
        return nil
    }()

    /// Whether the executable has the `endpoints` command (the CLI registers `EndpointsCommand`).
    static func servesEndpoints(_ path: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["endpoints", "--help"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}

/// A free loopback port: bound to port 0, then released.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Clients sending `/predict` in a loop, counting answers by status and version.
final class LoadGenerator: Sendable {
    struct Counts: Sendable {
        var ok = 0
        var failures: [String] = []
        var versions: [String: Int] = [:]
    }
    let port: Int
    let client: HTTPClientPool
    let counts = Mutex(Counts())
    let concurrency = Atomic<Int>(0)
    let running = Atomic<Bool>(true)
    let tasks = Mutex<[Task<Void, Never>]>([])

    init(port: Int, client: HTTPClientPool) {
        self.port = port
        self.client = client
    }

    func setConcurrency(_ n: Int) {
        let old = concurrency.exchange(n, ordering: .relaxed)
        guard n > old else { return }
        for index in old..<n {
            let task = Task { await self.loop(index) }
            tasks.withLock { $0.append(task) }
        }
    }

    private func loop(_ index: Int) async {
        while running.load(ordering: .relaxed) && index < concurrency.load(ordering: .relaxed) {
            do {
                let reply = try await client.execute(port: port, path: "/predict", body: ByteBuffer(string: #"{"instances": [[1, 2]]}"#), timeout: 30)
                let version = reply.headers.first(name: "x-mlinfra-version") ?? "?"
                counts.withLock { c in
                    if reply.status == 200 {
                        c.ok += 1
                        c.versions[version, default: 0] += 1
                    } else {
                        c.failures.append("\(reply.status) \(String(buffer: reply.body))")
                    }
                }
            } catch {
                counts.withLock { $0.failures.append("\(error)") }
            }
        }
    }

    func stop() async {
        running.store(false, ordering: .relaxed)
        for t in tasks.withLock({ $0 }) { await t.value }
    }

    var snapshot: Counts { counts.withLock { $0 } }
}

/// apply → requests served → alias moved in the registry (rollout) → SIGKILL a replica → load step
/// → replicas grow to max → load drops → they shrink after the window; zero client errors.
/// Real agent and replica processes, real HTTP on 127.0.0.1.
@Suite(.serialized, .enabled(if: TestBinary.path != nil, "needs an mlinfra (or serving-dev) executable with the agent and endpoints commands beside the tests"))
struct EndToEndTests {
    static func writeLinear(_ dir: URL, _ name: String, intercept: Double) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try #"{"format": "linear-json", "version": 1, "feature_names": ["x", "y"], "weights": [1, 1], "intercept": \#(intercept)}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func waitUntil(_ what: String, timeout: Double, _ condition: () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try condition() { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        Issue.record("timed out after \(timeout)s waiting for: \(what)")
        throw CancellationError()
    }

    @Test func rolloutCrashAndAutoscalingWithoutClientErrors() async throws {
        let dir = temporaryDirectory()
        let registry = try ModelRegistry(directory: dir.appendingPathComponent("registry"))
        let context = ChangeContext(actor: "test", origin: .apply)
        for (file, intercept) in [("v1.json", 0.0), ("v2.json", 100.0)] {
            let path = try Self.writeLinear(dir, file, intercept: intercept)
            _ = try registry.register(RegistrationRequest(model: "e2e", artifact: URL(fileURLWithPath: path), format: "linear-json"), context: context)
        }
        _ = try registry.setAlias("e2e", "production", version: 1, context: context)
        let port = freePort()
        let provider = ServingProvider(agentExecutable: TestBinary.path!, defaultReadyTimeout: 60)
        _ = try await provider.configure(ConfigureRequest(config: ["data_dir": .string(dir.path)], workingDirectory: "/"))
        let client = HTTPClientPool()
        let store = try SQLiteControlStore(directory: dir.appendingPathComponent("serving"))
        let load = LoadGenerator(port: port, client: client)
        do {
            var config: [String: Value] = [
                "model": "e2e@production", "port": .int(port),
                "replicas": ["min": 2, "max": 3],
                "autoscaling": ["metric": "concurrency", "target": 1, "scale_down_window": "2s"],
                "capture": ["sample_percent": 50],
            ]
            let created = try await provider.apply(ApplyRequest(type: "endpoint", address: "endpoint.e2e", action: .create, prior: nil,
                                                                config: config, planned: [:], context: ApplyContext(actor: "test")))
            #expect(created.diagnostics.isEmpty, "\(created.diagnostics)")
            let first = try #require(created.new)
            #expect(first.attributes["ready_replicas"] == 2)
            #expect(first.attributes["served_version"] == "e2e/1")
            let v1 = try registry.resolve("e2e/1")
            #expect(try store.endpoint("e2e")?.config.pinned == ModelPin(version: "e2e/1", sha256: v1.sha256), "apply pins what the alias named")

            load.setConcurrency(2)
            try await Self.waitUntil("requests served", timeout: 60) { load.snapshot.ok > 50 }

            // The alias moves in the registry: the hosts keep serving the version apply pinned,
            // and the plan says the endpoint rolls out.
            _ = try registry.setAlias("e2e", "production", version: 2, context: context)
            let v2Version = "e2e/2"
            try await Task.sleep(nanoseconds: 1_500_000_000)
            #expect(try store.status("e2e")?.servedVersion == "e2e/1", "the hosts followed the alias without an apply")
            let planned = try await provider.plan(PlanRequest(type: "endpoint", address: "endpoint.e2e", prior: first, proposed: config))
            #expect(planned.changesInPlace == ["served_version"], "\(planned)")
            #expect(planned.diagnostics.contains { $0.diagnostic.summary.contains("e2e@production names e2e/2 now") }, "\(planned.diagnostics)")

            // Rollout: apply pins e2e/2; requests keep flowing.
            let rolled = try await provider.apply(ApplyRequest(type: "endpoint", address: "endpoint.e2e", action: .update, prior: first,
                                                               config: config, planned: planned.planned, context: ApplyContext(actor: "test")))
            #expect(rolled.diagnostics.isEmpty, "\(rolled.diagnostics)")
            #expect(rolled.new?.attributes["served_version"] == "e2e/2")
            try await Self.waitUntil("rolled out to e2e/2, old replicas stopped", timeout: 120) {
                guard let s = try store.status("e2e") else { return false }
                return s.ready && s.versions.map(\.version) == [v2Version] && s.readyReplicas == 2
            }
            let afterRollout = load.snapshot.versions[v2Version] ?? 0
            try await Self.waitUntil("new version answers", timeout: 60) { (load.snapshot.versions[v2Version] ?? 0) > afterRollout + 20 }

            // SIGKILL a replica under load: the router retries, the agent restarts it.
            let victim = try #require(try store.status("e2e")?.versions.first?.replicas.first { $0.state == .ready })
            kill(victim.pid, SIGKILL)
            try await Self.waitUntil("killed replica restarted", timeout: 80) {
                guard let s = try store.status("e2e") else { return false }
                return s.ready && s.versions.first?.replicas.contains { $0.restarts >= 1 && $0.state == .ready } == true
                    && !s.versions.flatMap(\.replicas).contains { $0.pid == victim.pid }
            }

            // Load step: replicas grow to max.
            load.setConcurrency(24)
            try await Self.waitUntil("scaled up to 3 replicas", timeout: 120) { (try store.status("e2e")?.readyReplicas ?? 0) == 3 }
            // Load drops: back to min after the 2 s window.
            load.setConcurrency(1)
            try await Self.waitUntil("scaled down to 2 replicas", timeout: 120) {
                guard let s = try store.status("e2e") else { return false }
                return s.versions.first?.desiredReplicas == 2 && s.versions.first?.replicas.count == 2
            }
            // Canary: half the traffic to e2e/1, applied as a config change.
            config["traffic"] = ["canary": "e2e/1", "percent": 50]
            let canaried = try await provider.apply(ApplyRequest(type: "endpoint", address: "endpoint.e2e", action: .update, prior: first,
                                                                 config: config, planned: [:], context: ApplyContext(actor: "test")))
            #expect(canaried.diagnostics.isEmpty, "\(canaried.diagnostics)")
            let before = load.snapshot.versions
            try await Self.waitUntil("both versions answer", timeout: 60) {
                let now = load.snapshot.versions
                return (now["e2e/1"] ?? 0) > (before["e2e/1"] ?? 0) + 20 && (now["e2e/2"] ?? 0) > (before["e2e/2"] ?? 0) + 20
            }
            let decisions = try store.decisions(endpoint: "e2e", limit: 1000)
            #expect(decisions.contains { $0.desired > $0.current })
            #expect(decisions.contains { $0.desired < $0.current })
            await load.stop()

            let counts = load.snapshot
            #expect(counts.failures.isEmpty, "client errors: \(counts.failures.prefix(5))")
            #expect(counts.ok > 200)
            // Refresh reports what serves; the autoscaler's count is not an input.
            let read = try await provider.read(ReadRequest(type: "endpoint", address: "endpoint.e2e", id: "e2e", prior: first))
            #expect(read.current?.attributes["served_version"]?.stringValue == v2Version)
            #expect(read.current?.attributes["replicas"] == ["min": 2, "max": 3])
            // Captured rows for the drift monitor.
            try await Task.sleep(nanoseconds: 500_000_000)
            let captured = try SQLiteCaptureStore(directory: dir.appendingPathComponent("serving").path).records(endpoint: "e2e", limit: 5)
            #expect(captured.first?.inputs == #"{"x":1,"y":2}"#)

            _ = try await provider.apply(ApplyRequest(type: "endpoint", address: "endpoint.e2e", action: .delete, prior: first,
                                                      config: [:], planned: [:], context: ApplyContext(actor: "test")))
            #expect(try store.status("e2e") == nil)
        } catch {
            Issue.record("end-to-end failed: \(error)")
        }
        await load.stop()
        _ = try? AgentProcess(dataDirectory: dir).stop()
        if !load.snapshot.failures.isEmpty || ProcessInfo.processInfo.environment["MLINFRA_E2E_LOG"] != nil,
           let log = try? String(contentsOf: AgentProcess(dataDirectory: dir).logFile, encoding: .utf8) {
            print("---- agent log (last 80 lines) ----\n" + log.split(separator: "\n").suffix(80).joined(separator: "\n"))
        }
        client.closeIdle()
        try? FileManager.default.removeItem(at: dir)
    }
}
