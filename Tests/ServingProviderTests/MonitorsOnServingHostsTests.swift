import CaptureStorage
import EnginePostgres
import Foundation
import HTTPTesting
import MLInfraTesting
import Testing

/// Issue 18's monitor scenario through the real binary: `apply` on a CI-like machine puts a
/// monitor with a short schedule in the PostgreSQL control store; serving hosts "a" and "b" both
/// schedule it (`@every 2s`); every due time runs once and sends one alert to a local webhook
/// receiver, also after "a" is killed with SIGKILL.
@Suite(.serialized)
struct MonitorsOnServingHostsTests {
    static let features = ["f1", "f2", "f3", "f4", "f5"]
    static let period = 2.0

    @Test func eachDueTimeRunsOnOneAgentAndAlertsOnceAlsoAfterOneDies() async throws {
        let binary = try #require(TestBinary.path, "needs the mlinfra executable beside the tests: run `swift build --build-tests` first")
        let server = try await PostgresTestServer.shared()
        let database = try await server.createFreshDatabase("monitors")
        let url = server.url(database: database)
        let receiver = try TestHTTPServer()
        defer { receiver.stop() }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("monitor-hosts-\(UUID().uuidString)")
        let specDir = root.appendingPathComponent("spec")
        try FileManager.default.createDirectory(at: specDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }

        var rng = SplitMix64(seed: 3)
        func normal() -> Double {
            let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng), u2 = Double.random(in: 0..<1, using: &rng)
            return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
        }
        var reference = Self.features.joined(separator: ",") + "\n"
        for _ in 0..<800 { reference += Self.features.map { _ in "\(normal())" }.joined(separator: ",") + "\n" }
        try reference.write(to: specDir.appendingPathComponent("reference.csv"), atomically: true, encoding: .utf8)
        try """
            mlinfra: 1
            project: monitor-hosts
            variables:
              pg: { type: string, sensitive: true }
            providers:
              local: { data_dir: .mlinfra }
            resources:
              monitor.fraud:
                endpoint: fraud
                reference: reference.csv
                schedule: "@every \(Int(Self.period))s"
                window: \(Int(Self.period))s
                checks: [\(Self.features.map { "{ feature: \($0), method: ks, threshold: 0.000001 }" }.joined(separator: ", "))]
                drift_share: 0.2
                alert: { webhook: "\(receiver.url)" }
                control: { postgres: { url: "${var.pg}" } }
            """.write(to: specDir.appendingPathComponent("main.yaml"), atomically: true, encoding: .utf8)

        // What the serving hosts captured: in each period one feature has moved, a different one
        // in the next, so every run finds a new problem and alerts.
        let now = Date().timeIntervalSince1970
        var records = [CaptureRecord]()
        var t = now - 10
        while t < now + 120 {
            let slot = Int((t / Self.period).rounded(.up))
            let moved = slot % Self.features.count
            let inputs = Self.features.enumerated().map { j, f in "\"\(f)\":\(normal() + (j == moved ? 3 : 0))" }
            records.append(CaptureRecord(endpoint: "fraud", version: "fraud/1", time: t, inputs: "{" + inputs.joined(separator: ",") + "}",
                                         outputs: #"{"p":0.5}"#, latencyMs: 1))
            t += 0.01
        }
        let capture = try PostgresCaptureStore(url: try PostgresURL(parsing: url))
        try capture.append(records)

        // The CI job applies; it starts nothing.
        let cli = CLI(binary: binary, directory: specDir, environment: ["MLINFRA_VAR_pg": url])
        let applied = try await cli.run("apply", "--auto-approve")
        #expect(applied.status == 0, "apply failed:\n\(applied.out)\n\(applied.err)")
        #expect(!(applied.out + applied.err).contains(server.password), "the control URL's password reached apply's output")
        let leftovers = processes(of: binary).filter { $0.arguments.contains { $0.hasPrefix(specDir.path) } }
        #expect(leftovers.isEmpty, "apply left processes behind: \(leftovers.map(\.arguments))")

        var agents: [String: AgentUnderTest] = [:]
        for name in ["a", "b"] {
            agents[name] = try AgentUnderTest(binary: binary, name: name, arguments: ["--host", name, "--advertise", "127.0.0.1"],
                                              directory: root, environment: ["MLINFRA_CONTROL_URL": url])
        }
        func stopAll() async { for agent in agents.values { _ = await agent.stop() } }
        let db = BlockingPostgres(url: try PostgresURL(parsing: url))
        defer { db.close() }
        func runs() throws -> [(slot: Double, alert: String)] {
            try db.withSession { session in
                try session.query("SELECT slot, alert FROM mlinfra_control.monitor_run WHERE monitor = 'fraud' ORDER BY slot").map {
                    let (slot, alert) = try $0.decode((Double?, String).self)
                    return (slot ?? .nan, alert)
                }
            }
        }
        var afterKillCount = 0
        do {
            try await EndToEndTests.waitUntil("two runs with both agents alive", timeout: 30) { try runs().count >= 2 }
            agents["a"]!.signal(SIGKILL)
            afterKillCount = try runs().count
            let afterKill = afterKillCount
            try await EndToEndTests.waitUntil("two more runs on b alone", timeout: 30) { try runs().count >= afterKill + 2 }
            await stopAll()
        } catch {
            await stopAll()
            throw error
        }
        try await Task.sleep(for: .milliseconds(500))

        let done = try runs()
        let slots = done.map(\.slot)
        #expect(Set(slots).count == slots.count, "a due time ran twice: \(slots)")
        // One run per period from the first to the last: none skipped when a died.
        let steps = zip(slots, slots.dropFirst()).map { ($1 - $0) / Self.period }
        #expect(steps.allSatisfy { $0 == 1 } || (steps.first.map { $0 >= 1 } == true && steps.dropFirst().allSatisfy { $0 == 1 }),
                "due times skipped: \(slots)")
        let sent = done.filter { $0.alert.hasPrefix("sent") }.count
        let alerts = try receiver.received.compactMap { request -> String? in
            let body = try JSONSerialization.jsonObject(with: request.body) as? [String: Any]
            return body?["dataset_drift"] == nil ? nil : body?["time"] as? String
        }
        #expect(alerts.count == sent && sent >= 4, "alerts received \(alerts.count), runs that sent one \(sent) of \(done.count)")
        #expect(Set(alerts).count == alerts.count, "one due time alerted twice: \(alerts)")
        print("monitor on two serving hosts: \(done.count) runs over \(slots.count) due times, \(alerts.count) alerts received, a killed after run \(afterKillCount)")
        let logs = agents.values.map(\.output).joined()
        #expect(!logs.contains(server.password), "the control URL's password reached an agent's log")
    }
}
