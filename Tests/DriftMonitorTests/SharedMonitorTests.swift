import CaptureStorage
import EnginePostgres
import Foundation
import HTTPTesting
import MLInfraTesting
import Testing

@testable import DriftMonitor

/// Monitors in PostgreSQL, scheduled by several agents: each due time runs and alerts once.
@Suite(.serialized) struct SharedMonitorTests {
    static let features = ["f1", "f2", "f3", "f4", "f5"]

    /// A fresh database, a reference CSV over five features, and a data directory per agent.
    struct Setup {
        let root: URL
        let url: PostgresURL
        let text: String
        var reference: String { root.appendingPathComponent("reference.csv").path }

        init() async throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("shared-monitor-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            let server = try await PostgresTestServer.shared()
            let database = try await server.createFreshDatabase("monitors")
            text = server.url(database: database)
            url = try PostgresURL(parsing: text)
            var rng = SplitMix64(seed: 11)
            var csv = SharedMonitorTests.features.joined(separator: ",") + "\n"
            for _ in 0..<1000 { csv += SharedMonitorTests.features.map { _ in "\(rng.normal())" }.joined(separator: ",") + "\n" }
            try csv.write(toFile: reference, atomically: true, encoding: .utf8)
        }

        /// One agent's engine: its own connections to the shared stores and its own data directory.
        func agent(_ name: String) throws -> (engine: DriftMonitorEngine, store: PostgresMonitorStore) {
            let directory = root.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: directory.appendingPathComponent("monitoring"), withIntermediateDirectories: true)
            let store = try PostgresMonitorStore(url: url, schema: "mlinfra_control")
            let engine = DriftMonitorEngine(store: store, dataDirectory: directory.path, opened: try PostgresCaptureStore(url: url),
                                            alerts: AlertDispatcher(attempts: 2, initialBackoff: 0.01))
            return (engine, store)
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    func waitFor(_ what: String, _ condition: () throws -> Bool) async throws {
        for _ in 0..<1000 {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("\(what): not reached in 10 s")
    }

    @Test func twoAgentsRunEachDueTimeOnceAndTheSurvivorRunsTheRestAfterOneDies() async throws {
        let setup = try await Setup()
        defer { setup.remove() }
        let receiver = try TestHTTPServer()
        defer { receiver.stop() }
        let start = utc("2026-12-02T10:00:30Z")
        let due = (1...5).map { start.addingTimeInterval(Double($0) * 60 - 30) }  // 10:01, 10:02, … 10:05
        // The capture the serving hosts wrote: in the minute before due time k, feature k has moved.
        var rng = SplitMix64(seed: 5)
        var records = [CaptureRecord]()
        for (k, time) in due.enumerated() {
            for i in 0..<400 {
                let values = Self.features.enumerated().map { j, f in "\"\(f)\":\(rng.normal() + (j == k ? 3 : 0))" }
                records.append(CaptureRecord(endpoint: "fraud", version: "fraud/1", time: time.timeIntervalSince1970 - 59 + Double(i) * 0.1,
                                             inputs: "{" + values.joined(separator: ",") + "}", outputs: #"{"p":0.5}"#, latencyMs: 1))
            }
        }
        try PostgresCaptureStore(url: setup.url).append(records)

        let (a, storeA) = try setup.agent("a")
        let (b, _) = try setup.agent("b")
        try a.apply(MonitorDefinition(name: "fraud", source: .endpoint("fraud"), reference: setup.reference, schedule: "* * * * *", window: 60,
                                      checks: Self.features.map { DriftCheck(feature: $0, method: .ks, threshold: 1e-6) },
                                      alert: AlertTarget(webhook: receiver.url, token: "t0ken"), driftShare: 0.2), now: start)
        #expect(try b.store.monitor("fraud")?.alert?.token == "t0ken", "the other agent reads the definition and its token")

        let clock = ManualClock(wall: start)
        let agentA = Task { try await MonitorScheduler(engine: a, clock: clock, now: clock.wallTime, refreshInterval: 3600).loop() }
        let agentB = Task { try await MonitorScheduler(engine: b, clock: clock, now: clock.wallTime, refreshInterval: 3600).loop() }
        try await waitFor("both agents wait") { clock.sleeperCount == 2 }
        #expect(try a.store.runs("fraud").isEmpty, "nothing was missed at start-up")

        for (k, time) in due.enumerated() {
            if k == 2 {
                // Agent a dies: its scheduler stops and its connections close.
                agentA.cancel()
                _ = await agentA.result
                storeA.client.close()
            }
            clock.advance(to: time)
            try await waitFor("the run due \(time)") { try b.store.runs("fraud", limit: 50).count == k + 1 }
            // Every live agent has handled the due time (and sleeps again) before the next one.
            try await waitFor("the agents wait again") { clock.sleeperCount == (k < 2 ? 2 : 1) }
        }
        try await Task.sleep(for: .milliseconds(300))

        let runs = try b.store.runs("fraud", limit: 50).reversed()
        #expect(runs.count == 5, "one run per due time, not one per agent")
        #expect(runs.map(\.slot) == due, "each due time once")
        #expect(runs.map(\.time) == due)
        #expect(runs.allSatisfy { $0.trigger == .schedule && $0.verdict == "drift" && $0.alert.hasPrefix("sent") })
        // Each run's drift is a new problem (the feature that moved), so each sends one alert.
        let alerts = try receiver.received.compactMap { request -> [String: Any]? in
            let body = try JSONSerialization.jsonObject(with: request.body) as? [String: Any]
            return body?["dataset_drift"] == nil ? nil : body
        }
        #expect(alerts.count == 5, "five drift alerts, one per due time")
        let drifted = alerts.map { alert in
            ((alert["features"] as? [[String: Any]]) ?? []).filter { $0["drifted"] as? Bool == true }.compactMap { $0["feature"] as? String }
        }
        #expect(drifted == Self.features.map { [$0] }, "in order, each naming the feature that moved")
        // Each agent's metrics file shows the shared store's runs, whichever agent ran them: a's
        // (it handled the first two due times before it died) counts two, b's five.
        for (agent, count) in [(a, 2), (b, 5)] {
            let exposition = try String(contentsOf: MonitorMetrics.file(dataDirectory: agent.dataDirectory), encoding: .utf8)
            #expect(exposition.contains("mlinfra_monitor_runs_total{monitor=\"fraud\",outcome=\"drift\"} \(count)\n"), "\(exposition)")
        }
        agentB.cancel()
        _ = await agentB.result
    }

    @Test func aSlotHeldByAnAgentThatDiedIsRunByAnother() async throws {
        let setup = try await Setup()
        defer { setup.remove() }
        let (_, storeA) = try setup.agent("a")
        let (_, storeB) = try setup.agent("b")
        let slot = utc("2026-12-02T10:01:00Z")
        let holding = AsyncStream<Void>.makeStream()
        // Agent a takes the slot and hangs in its run.
        let agentA = Task {
            try await storeA.exclusively(monitor: "fraud", slot: slot) {
                holding.continuation.yield()
                try await Task.sleep(for: .seconds(3600))
            }
        }
        var events = holding.stream.makeAsyncIterator()
        _ = await events.next()
        let ranB = Task { try await storeB.exclusively(monitor: "fraud", slot: slot) { Date() } }
        try await Task.sleep(for: .milliseconds(600))
        // The host of agent a is lost: the server drops its connection, and with it the slot.
        let died = Date()
        let admin = BlockingPostgres(url: setup.url)
        defer { admin.close() }
        try admin.withSession { session in
            try session.query("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted")
        }
        let ran = try await ranB.value
        #expect(ran >= died, "b ran the slot only after a's connection was gone")
        #expect(ran.timeIntervalSince(died) < 2)
        agentA.cancel()
        _ = await agentA.result
    }

    enum StoreKind: String, CaseIterable, Sendable { case sqlite, postgres }

    /// The rules written on `MonitorStore`, on both stores.
    @Test(arguments: StoreKind.allCases)
    func theStoresKeepTheSameThings(_ kind: StoreKind) async throws {
        let setup = try await Setup()
        defer { setup.remove() }
        let (engine, store): (DriftMonitorEngine, any MonitorStore)
        switch kind {
        case .postgres:
            (engine, store) = try setup.agent("a")
        case .sqlite:
            let directory = setup.root.appendingPathComponent("local").path
            let local = try SQLiteMonitorStore(dataDirectory: directory)
            (engine, store) = (DriftMonitorEngine(store: local, dataDirectory: directory), local)
        }
        let definition = MonitorDefinition(name: "m", source: .endpoint("fraud"), reference: setup.reference, schedule: "@hourly",
                                           checks: [DriftCheck(feature: "f1")], alert: AlertTarget(webhook: "http://127.0.0.1:9/x", token: "k"))
        #expect(try engine.apply(definition, now: utc("2026-12-02T09:00:00Z")) == true, "a new reference is profiled")
        #expect(try engine.apply(definition) == false, "an unchanged one is not")
        let profile = try #require(try store.loadProfile("m"))
        #expect(profile.rowCount == 1000 && profile.sorted["f1"]?.count == 1000)
        #expect(profile.sorted["f1"] == profile.sorted["f1"]?.sorted())
        #expect(try store.loadProfile("m", columns: ["f2"])?.sorted.keys.sorted() == ["f2"])
        #expect(try store.created("m") == utc("2026-12-02T09:00:00Z"))
        try store.updateAlerts("m", opened: ["drift:f1", "drift:f2"], resolved: [], sentAt: utc("2026-12-02T09:10:00Z"))
        try store.updateAlerts("m", opened: [], resolved: ["drift:f2"], sentAt: nil)
        #expect(try store.openAlerts("m") == ["drift:f1"])
        #expect(try store.lastAlertTime("m") == utc("2026-12-02T09:10:00Z"))
        try store.recordRun(monitor: "m", time: utc("2026-12-02T10:00:00Z"), trigger: .schedule, slot: utc("2026-12-02T10:00:00Z"),
                            report: nil, alert: "not needed", error: "boom")
        #expect(throws: DriftError.self, "a second run of one slot is refused by the store itself") {
            try store.recordRun(monitor: "m", time: utc("2026-12-02T10:00:01Z"), trigger: .schedule, slot: utc("2026-12-02T10:00:00Z"),
                                report: nil, alert: "not needed", error: nil)
        }
        #expect(try store.hasRun("m", slot: utc("2026-12-02T10:00:00Z")))
        #expect(try !store.hasRun("m", slot: utc("2026-12-02T11:00:00Z")))
        #expect(try store.lastScheduledRunTime("m") == utc("2026-12-02T10:00:00Z"))
        #expect(try store.runCounts("m").map(\.verdict) == ["error"])
        #expect(try store.lastSuccessfulRun("m") == nil)
        try store.recordRun(monitor: "m", time: utc("2026-12-02T10:05:00Z"), trigger: .manual, report: nil, alert: "not needed", error: "boom")
        #expect(try store.lastRun("m")?.trigger == .manual)
        #expect(try store.lastRun("m", trigger: .schedule)?.time == utc("2026-12-02T10:00:00Z"))
        #expect(try store.runs("m", limit: 1).count == 1 && store.runs("m").count == 2)
        try engine.remove("m")
        #expect(try store.monitors().isEmpty && store.runs("m").isEmpty && store.loadProfile("m") == nil && store.openAlerts("m").isEmpty)
    }
}
