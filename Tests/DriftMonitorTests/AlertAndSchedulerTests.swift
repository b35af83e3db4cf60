import Crypto
import Foundation
import HTTPTesting
import Logging
import MLInfraTesting
import Testing

@testable import DriftMonitor

@Suite struct WebhookTests {
    @Test func webhookBodyIsSignedWithTheTokenAndTheTokenIsNeverLogged() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let ws = try Workspace()
        defer { ws.remove() }
        let log = RecordingLog()
        let token = "s3cr3t-token-value"
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir, alerts: AlertDispatcher(attempts: 2, initialBackoff: 0.01), logger: log.logger)
        try engine.apply(MonitorDefinition(name: "fraud", source: .dataset(ws.drifted), reference: ws.reference,
                                           checks: [DriftCheck(feature: "amount", method: .psi, threshold: 0.2)],
                                           alert: AlertTarget(webhook: server.url, token: token)))
        let run = try await engine.run("fraud")
        #expect(run.alert == "sent")
        let requests = server.received
        try #require(requests.count == 1)
        let request = requests[0]
        #expect(request.method == "POST" && request.path == "/hooks/drift")
        #expect(request.headers["content-type"] == "application/json")
        // Verify the signature the way a receiver would.
        let expected = HMAC<SHA256>.authenticationCode(for: request.body, using: SymmetricKey(data: Data(token.utf8)))
        let hex = expected.map { String(format: "%02x", $0) }.joined()
        #expect(request.headers["x-mlinfra-signature"] == "sha256=\(hex)")
        let wrong = HMAC<SHA256>.authenticationCode(for: request.body, using: SymmetricKey(data: Data("other".utf8)))
        #expect(request.headers["x-mlinfra-signature"] != "sha256=" + wrong.map { String(format: "%02x", $0) }.joined())
        let body = try JSONSerialization.jsonObject(with: request.body) as? [String: Any]
        #expect(body?["monitor"] as? String == "fraud")
        #expect(body?["dataset_drift"] as? Bool == true)
        #expect((body?["features"] as? [[String: Any]])?.first?["feature"] as? String == "amount")
        // The token is in no log line, no stored run, no stored config JSON.
        #expect(!log.all.contains(token))
        #expect(log.all.contains("drift alert"))
        let stored = try engine.store.runs("fraud")
        #expect(!String(describing: stored).contains(token))
        #expect(try engine.store.monitor("fraud")?.alert?.token == token, "the scheduler needs the token back")
        #expect(!String(decoding: try JSONEncoder().encode(try engine.store.monitor("fraud")!), as: UTF8.self).contains(token))
        #expect(!String(describing: AlertTarget(webhook: server.url, token: token)).contains(token))
    }

    @Test func serverErrorsAreRetriedWithBackoffAndClientErrorsAreNot() async throws {
        let server = try TestHTTPServer(statuses: [500, 503])
        defer { server.stop() }
        let dispatcher = AlertDispatcher(attempts: 4, initialBackoff: 0.01)
        let status = await dispatcher.post(body: Data("{}".utf8), to: server.url, token: "t")
        #expect(status == "sent (attempt 3)")
        #expect(server.received.count == 3)

        let refusing = try TestHTTPServer(statuses: [401, 401])
        defer { refusing.stop() }
        let refused = await dispatcher.post(body: Data("{}".utf8), to: refusing.url + "?key=abc", token: "tok")
        #expect(refused.hasPrefix("failed") && refused.contains("401") && !refused.contains("abc") && !refused.contains("tok"))
        #expect(refusing.received.count == 1)
    }

    @Test func unreachableWebhookFailsAfterAllAttempts() async throws {
        // A bound port that does not listen: connections are refused, and no other test gets the port.
        let closed = try TestHTTPServer(listening: false)
        defer { closed.stop() }
        let status = await AlertDispatcher(attempts: 2, initialBackoff: 0.01).post(body: Data("{}".utf8), to: closed.url, token: "secret-x")
        #expect(status.hasPrefix("failed after 2 attempts"))
        #expect(!status.contains("secret-x"))
    }
}

@Suite struct SchedulerTests {
    func waitFor(_ condition: () throws -> Bool) async throws {
        for _ in 0..<500 {
            if try condition() { return }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        Issue.record("condition not reached in 5 s")
    }

    @Test func runsAtScheduledTimesAndCatchesUpOnceNotInABurst() async throws {
        let ws = try Workspace()
        defer { ws.remove() }
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir)
        let created = utc("2026-11-22T00:03:00Z")
        try engine.apply(MonitorDefinition(name: "m", source: .dataset(ws.stable), reference: ws.reference, schedule: "*/10 * * * *",
                                           checks: [DriftCheck(feature: "amount")]), now: created)
        let clock = ManualClock(wall: created)
        let scheduler = MonitorScheduler(engine: engine, clock: clock, now: clock.wallTime, refreshInterval: 3600)
        let task = Task { try await scheduler.loop() }
        try await waitFor { clock.sleeperCount == 1 }
        #expect(try engine.store.runs("m").isEmpty, "nothing was missed at start-up")
        clock.advance(to: utc("2026-11-22T00:10:00Z"))
        try await waitFor { try engine.store.runs("m").count == 1 }
        let first = try engine.store.runs("m")[0]
        #expect(first.time == utc("2026-11-22T00:10:00Z") && first.trigger == .schedule)
        try await waitFor { clock.sleeperCount == 1 }
        // Jump 45 minutes: four slots passed, but the monitor runs once.
        clock.advance(to: utc("2026-11-22T00:55:00Z"))
        try await waitFor { try engine.store.runs("m").count == 2 }
        try await waitFor { clock.sleeperCount == 1 }
        try await Task.sleep(nanoseconds: 50_000_000)
        #expect(try engine.store.runs("m").count == 2)
        #expect(try engine.store.runs("m")[0].trigger == .catchUp)
        clock.advance(to: utc("2026-11-22T01:00:00Z"))
        try await waitFor { try engine.store.runs("m").count == 3 }
        #expect(try engine.store.runs("m")[0].time == utc("2026-11-22T01:00:00Z"))
        task.cancel()
        _ = await task.result
    }

    @Test func missedRunsWhileTheAgentWasDownGiveOneCatchUpRunAtStartUp() async throws {
        let ws = try Workspace()
        defer { ws.remove() }
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir)
        try engine.apply(MonitorDefinition(name: "m", source: .dataset(ws.stable), reference: ws.reference, schedule: "@hourly",
                                           checks: [DriftCheck(feature: "amount")]), now: utc("2026-11-22T00:30:00Z"))
        let clock = ManualClock(wall: utc("2026-11-22T05:20:00Z"))
        let task = Task { try await MonitorScheduler(engine: engine, clock: clock, now: clock.wallTime, refreshInterval: 3600).loop() }
        try await waitFor { try engine.store.runs("m").count == 1 }
        try await waitFor { clock.sleeperCount == 1 }
        let runs = try engine.store.runs("m")
        #expect(runs.count == 1 && runs[0].trigger == .catchUp && runs[0].time == utc("2026-11-22T05:20:00Z"))
        clock.advance(to: utc("2026-11-22T06:00:00Z"))
        try await waitFor { try engine.store.runs("m").count == 2 }
        #expect(try engine.store.runs("m")[0].trigger == .schedule)
        task.cancel()
        _ = await task.result
    }

    @Test func cancellationStopsTheScheduler() async throws {
        let ws = try Workspace()
        defer { ws.remove() }
        let clock = ManualClock(wall: utc("2026-11-22T00:00:00Z"))
        let task = Task { try await MonitorScheduler(engine: try DriftMonitorEngine(dataDirectory: ws.dataDir), clock: clock, now: clock.wallTime).loop() }
        try await waitFor { clock.sleeperCount == 1 }
        task.cancel()
        let result = await task.result
        #expect(throws: CancellationError.self) { try result.get() }
    }
}
