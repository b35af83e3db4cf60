import CaptureStorage
import EnginePostgres
import Foundation
import MLInfraTesting
import NIOCore
import Synchronization
import Testing

@testable import ModelServing
@testable import ServingProvider

/// One `mlinfra agent` process of a serving host (or of nginx), its output in a log file.
final class AgentUnderTest: Sendable {
    let name: String
    let pid: Int32
    let log: URL
    private let box: ProcessBox

    init(binary: String, name: String, arguments: [String], directory: URL, environment: [String: String] = [:]) throws {
        self.name = name
        log = directory.appendingPathComponent("agent-\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["agent", "--data-dir", directory.appendingPathComponent("host-\(name)").path] + arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        p.environment = env
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        pid = p.processIdentifier
        box = ProcessBox(p)
    }

    var running: Bool { box.process.isRunning }
    func signal(_ sig: Int32) { kill(pid, sig) }

    /// SIGTERM, then waits for the exit; returns the exit status.
    func stop() async -> Int32 {
        guard running else { return box.process.terminationStatus }
        signal(SIGTERM)
        let deadline = Date().addingTimeInterval(30)
        while running && Date() < deadline { try? await Task.sleep(nanoseconds: 50_000_000) }
        if running { signal(SIGKILL) }
        while running { try? await Task.sleep(nanoseconds: 20_000_000) }
        return box.process.terminationStatus
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
}

/// The processes running `binary`, with their parent pids (from /proc).
func processes(of binary: String) -> [(pid: Int32, parent: Int32, arguments: [String])] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap(Int32.init).compactMap { pid in
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"), exe == binary,
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let args = ((try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return (pid, Int32(fields.count > 1 ? fields[1] : "0") ?? 0, args)
    }
}

/// Issue 18's scenario through the real binary: a CI-like `apply` that records the endpoint and
/// leaves no process behind, agents "a" and "b" serving it, nginx in front (kept by a third
/// agent), requests through nginx while "a" is SIGKILLed (zero client errors; "c" takes a's
/// place), then the alias moved in the spec and applied (the rollout on every host, zero
/// errors), then more load (each host's autoscaler grows its replicas, and shrinks them when the
/// load is gone), then `destroy` (the endpoint gone from every host and from nginx).
@Suite(.serialized)
struct ServingHostsTests {
    /// The endpoint is named `serve` because of how it ranks the hosts (rendezvous hashing):
    /// b, a, c. With c joining, it stays on a and b; with a dead, it goes to b and c.
    static func spec(routerPort: Int, balancerPort: Int, alias: String) -> String {
        """
        mlinfra: 1
        project: hosts-e2e
        variables:
          pg: { type: string, sensitive: true }
        providers:
          local: { data_dir: .mlinfra }
        resources:
          registry.main:
            storage: { postgres: { url: "${var.pg}" } }
            artifacts: { postgres: {} }
        \(ScorerModel.resources(aliasOn: alias))
          endpoint.serve:
            model: ${model_alias.production.uri}
            port: \(routerPort)
            hosts: { count: 2 }
            replicas: { min: 1, max: 3 }
            autoscaling: { metric: concurrency, target: 2, scale_down_window: 2s }
            capture: { sample_percent: 100 }
            control: { postgres: { url: "${var.pg}" } }
            ready_timeout: 60s
          load_balancer.front:
            endpoint: ${endpoint.serve.id}
            port: \(balancerPort)
            control: { postgres: { url: "${var.pg}" } }
            ready_timeout: 30s
        """
    }

    @Test func endpointMovesBetweenHostsBehindNginxWithoutClientErrors() async throws {
        let binary = try #require(TestBinary.path, "needs the mlinfra executable beside the tests: run `swift build --build-tests` first")
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("hosts")
        let url = server.url(database: database)
        let nginx = try await NginxTestServer.start()
        defer { nginx.stop() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("hosts-e2e-\(UUID().uuidString)")
        let specDir = root.appendingPathComponent("spec")
        try FileManager.default.createDirectory(at: specDir.appendingPathComponent("models"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        for (name, intercept) in [("v1", 0), ("v2", 100)] {
            try #"{"format": "linear-json", "version": 1, "feature_names": ["x", "y"], "weights": [1, 1], "intercept": \#(intercept)}"#
                .write(to: specDir.appendingPathComponent("models/\(name).json"), atomically: true, encoding: .utf8)
        }
        let (routerPort, balancerPort) = (freePort(), freePort())
        try Self.spec(routerPort: routerPort, balancerPort: balancerPort, alias: "v1").write(to: specDir.appendingPathComponent("main.yaml"), atomically: true, encoding: .utf8)

        // Hosts: separate processes and data directories; their routers on ports of their own.
        var agents: [String: AgentUnderTest] = [:]
        func startHost(_ name: String) throws {
            let offset = freePort() - routerPort
            agents[name] = try AgentUnderTest(
                binary: binary, name: name,
                arguments: ["--host", name, "--advertise", "127.0.0.1", "--port-offset=\(offset)", "--lease", "3"], directory: root,
                environment: ["MLINFRA_CONTROL_URL": url, "MLINFRA_REGISTRY_URL": url])
        }
        try startHost("a")
        try startHost("b")
        agents["lb"] = try AgentUnderTest(
            binary: binary, name: "lb", arguments: ["--nginx-config", nginx.includeFile, "--nginx-pid", nginx.pidFile], directory: root,
            environment: ["MLINFRA_CONTROL_URL": url])
        func stopAll() async { for agent in agents.values { _ = await agent.stop() } }
        let store = try PostgresControlStore(url: try PostgresURL(parsing: url))
        do {
            try await EndToEndTests.waitUntil("hosts a and b hold leases", timeout: 30) { Set(try store.liveHosts().map(\.host)) == ["a", "b"] }

            // The CI job: apply records the endpoint and waits; it starts nothing that outlives it.
            let cli = CLI(binary: binary, directory: specDir, environment: ["MLINFRA_VAR_pg": url])
            let ours = Set(agents.values.map(\.pid))
            let applied = try await cli.run("apply", "--auto-approve")
            #expect(applied.status == 0, "apply failed:\n\(applied.out)\n\(applied.err)")
            #expect(applied.err.contains("endpoint serve on host a: ready"), "\(applied.err)")
            #expect(applied.err.contains("endpoint serve on host b: ready"), "\(applied.err)")
            #expect(!(applied.out + applied.err).contains(server.password), "the control URL's password reached apply's output")
            // The desired document names the version and artifact the alias named, read from the team's registry.
            let pinned = try store.endpoint("serve")?.config.pinned
            #expect(pinned?.version == "scorer/1" && pinned?.sha256.count == 64, "\(String(describing: pinned))")
            let leftovers = processes(of: binary).filter { !ours.contains($0.pid) && !ours.contains($0.parent) }
            #expect(leftovers.isEmpty, "processes left from apply: \(leftovers.map { "\($0.pid) \($0.arguments.joined(separator: " "))" })")
            #expect(!FileManager.default.fileExists(atPath: specDir.appendingPathComponent(".mlinfra/serving/agent.pid").path))

            #expect(nginx.waitListening(port: balancerPort))
            try await EndToEndTests.waitUntil("nginx passes to a and b", timeout: 10) {
                try store.loadBalancerStatuses().first?.upstreams.count == 2
            }
            // The pull request after it, with nothing changed: a clean plan, though state keeps the
            // control URL (a secret) only as its HMAC.
            let clean = try await cli.run("plan", "--detailed-exitcode")
            #expect(clean.status == 0 && clean.out.contains("No changes"), "a plan right after apply:\n\(clean.out)\n\(clean.err)")
            let client = HTTPClientPool()
            let load = LoadGenerator(port: balancerPort, client: client)
            load.setConcurrency(4)
            try await Task.sleep(nanoseconds: 1_000_000_000)

            // A third host joins; then "a" dies without a word.
            try startHost("c")
            try await EndToEndTests.waitUntil("host c holds a lease", timeout: 30) { try store.liveHosts().map(\.host).contains("c") }
            try await Task.sleep(nanoseconds: 1_000_000_000)
            #expect(try store.status("serve", host: "c") == nil, "c ranks last for serve: it must not take it while a and b live")
            let killed = Date()
            agents["a"]!.signal(SIGKILL)
            try await EndToEndTests.waitUntil("c serves in a's place", timeout: 30) {
                let routers = try store.servingRouters(of: "serve")
                let cReady = try store.status("serve", host: "c")?.ready == true
                let aLive = try store.liveHosts().map(\.host).contains("a")
                return Set(routers).count == 2 && cReady && !aLive
            }
            let moved = Date().timeIntervalSince(killed)
            try await EndToEndTests.waitUntil("nginx passes to b and c", timeout: 10) {
                try store.loadBalancerStatuses().first.map { Set($0.upstreams) == Set(try store.servingRouters(of: "serve")) } == true
            }
            print("SIGKILL of host a → c serving in its place: \(String(format: "%.2f", moved)) s (lease 3 s)")
            #expect(moved < 15)
            let afterKill = load.snapshot
            #expect(afterKill.failures.count == 0, "client errors through nginx while a died: \(afterKill.failures.prefix(5))")

            // The alias moves in the spec: every host rolls out, with no client errors.
            try Self.spec(routerPort: routerPort, balancerPort: balancerPort, alias: "v2").write(to: specDir.appendingPathComponent("main.yaml"), atomically: true, encoding: .utf8)
            let moveAlias = try await cli.run("apply", "--auto-approve")
            #expect(moveAlias.status == 0, "apply failed:\n\(moveAlias.out)\n\(moveAlias.err)")
            #expect(try store.endpoint("serve")?.config.pinned?.version == "scorer/2")
            try await EndToEndTests.waitUntil("b and c serve scorer/2", timeout: 60) {
                try ["b", "c"].allSatisfy { try store.status("serve", host: $0).map { $0.ready && $0.servedVersion == "scorer/2" } == true }
            }
            let before = load.snapshot.versions["scorer/2"] ?? 0
            try await Task.sleep(nanoseconds: 500_000_000)
            #expect((load.snapshot.versions["scorer/2"] ?? 0) > before, "no requests answered by scorer/2 after the rollout")

            // The autoscaler works per host: more load through nginx grows each host's replicas to
            // the max, and they shrink back to the min once the load is gone for the window.
            func ready(_ host: String) throws -> Int { try store.status("serve", host: host)?.readyReplicas ?? 0 }
            let stepped = Date()
            load.setConcurrency(24)
            try await EndToEndTests.waitUntil("b and c grow to 3 replicas each", timeout: 60) { try ready("b") == 3 && ready("c") == 3 }
            let grown = Date().timeIntervalSince(stepped)
            try await EndToEndTests.waitUntil("20,000 requests answered through nginx", timeout: 120) { load.snapshot.ok >= 20_000 }
            let dropped = Date()
            load.setConcurrency(0)
            try await EndToEndTests.waitUntil("b and c shrink to 1 replica each", timeout: 60) { try ready("b") == 1 && ready("c") == 1 }
            print(String(format: "autoscaler per host: 1 → 3 replicas on b and c in %.1f s under 24 clients, back to 1 in %.1f s (window 2 s)",
                         grown, Date().timeIntervalSince(dropped)))
            await load.stop()
            let counts = load.snapshot
            #expect(counts.failures.count == 0, "client errors through nginx: \(counts.failures.count), first: \(counts.failures.prefix(5))")
            #expect(counts.ok > 100, "only \(counts.ok) requests answered")
            print("through nginx: \(counts.ok) requests, \(counts.failures.count) errors, versions \(counts.versions)")

            // Every host captured into the shared store (the control store's database), where monitors read:
            // all answered requests but those of a's last unflushed batch, each under the version that answered it.
            let shared = try CaptureStoreLocation.postgres(url: url, schema: CaptureStoreLocation.defaultSchema).open(create: false)
            try await EndToEndTests.waitUntil("the hosts' capture reaches PostgreSQL", timeout: 10) { try shared.count(endpoint: "serve") >= counts.ok - 2_000 }
            let captured = Dictionary(grouping: try shared.records(endpoint: "serve", limit: counts.ok + 1_000), by: \.version).mapValues(\.count)
            print("captured in PostgreSQL: \(captured.values.reduce(0, +)) of \(counts.ok) answered, by version \(captured)")
            for (version, n) in captured { #expect(n <= (counts.versions[version] ?? 0) + 50, "\(n) captured for \(version), \(counts.versions[version] ?? 0) answered") }
            #expect(captured.keys.contains("scorer/1") && captured.keys.contains("scorer/2"), "\(captured)")
            #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("host-b/serving/capture.sqlite").path), "b captured to its own disk")

            // The plan's refresh shows where it runs now.
            let plan = try await cli.run("plan", "--format", "json")
            #expect(plan.out.contains("\"b\"") && plan.out.contains("\"c\""), "\(plan.out)")

            // destroy: gone from every host and from nginx.
            let destroyed = try await cli.run("destroy", "--auto-approve")
            #expect(destroyed.status == 0, "destroy failed:\n\(destroyed.out)\n\(destroyed.err)")
            #expect(try store.endpoints().isEmpty)
            try await EndToEndTests.waitUntil("no host runs serve", timeout: 30) { try store.statuses("serve").isEmpty }
            try await EndToEndTests.waitUntil("no replica process is left", timeout: 30) {
                processes(of: binary).allSatisfy { !$0.arguments.contains("replica") }
            }
            #expect(try !String(contentsOfFile: nginx.includeFile, encoding: .utf8).contains("upstream"))
            client.closeIdle()
        } catch {
            for agent in agents.values { print("--- agent \(agent.name) ---\n\(agent.output.suffix(4000))") }
            await stopAll()
            throw error
        }
        for (name, agent) in agents where name != "a" {
            #expect(await agent.stop() == 0, "agent \(name) did not stop cleanly:\n\(agent.output.suffix(2000))")
        }
        #expect(try store.liveHosts().isEmpty, "a stopped agent gives its lease up")
    }
}
