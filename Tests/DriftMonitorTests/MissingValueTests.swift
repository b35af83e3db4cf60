import Crypto
import Foundation
import HTTPTesting
import MLInfraTesting
import Testing

@testable import DriftMonitor

/// Missing values are data: counted per column, left out of the statistic, checked on their own.
@Suite struct MissingValueTests {
    @Test func csvMissingValuesAreCountedPerColumnAndLeftOut() throws {
        let table = try CSVReader.parse(text: "a,b\n1,x\n,y\nnan,\n4,z\n")
        #expect(table.rowCount == 4)
        guard case .numerical(let a) = table.columns["a"], case .categorical(let b) = table.columns["b"] else {
            Issue.record("wrong kinds"); return
        }
        #expect(a == [1, 4] && table.missingCount("a") == 2)
        #expect(b == ["x", "y", "z"] && table.missingCount("b") == 1)
        // A quoted empty string is a value, not a missing one.
        let quoted = try CSVReader.parse(text: "c\n\"\"\nq\n")
        #expect(quoted.missingCount("c") == 0 && quoted.columns["c"]?.count == 2)
    }

    @Test func theStatisticIgnoresMissingRowsAndTheMissingShareHasItsOwnCheck() throws {
        var rng = SplitMix64(seed: 11)
        let values = (0..<800).map { _ in rng.normal() }
        let profile = try ReferenceProfile.build(from: DataTable(columns: ["x": .numerical(values)], rowCount: 800), source: "ref", sha256: "")
        let current = (0..<400).map { _ in rng.normal() + 0.3 }
        let complete = try DriftEvaluator.evaluate(monitor: "m", profile: profile, current: DataTable(columns: ["x": .numerical(current)], rowCount: 400),
                                                   currentSource: "cur", checks: [])
        let holed = try DriftEvaluator.evaluate(monitor: "m", profile: profile,
                                                current: DataTable(columns: ["x": .numerical(current)], rowCount: 520, missing: ["x": 120]),
                                                currentSource: "cur", checks: [])
        let a = complete.features[0], b = holed.features[0]
        #expect(a.method == .ks)
        #expect(a.value == b.value && a.statistic == b.statistic, "the 120 missing rows change nothing in the statistic")
        #expect(b.currentCount == 400)
        let m = try #require(b.missing)
        #expect(m.currentMissing == 120 && m.currentRows == 520 && m.referenceMissing == 0)
        #expect(abs(m.currentShare - 120.0 / 520) < 1e-15)
        #expect(m.drifted && m.pValue < 1e-10)
        #expect(complete.features[0].missing?.drifted == false && complete.features[0].missing?.pValue == 1)
        #expect(holed.alerting && holed.missingDrift)
    }

    @Test func theSameShareOfMissingValuesDoesNotDrift() throws {
        // 10% missing in both: the check sees no change.
        // (A blank line is skipped, as pandas does: the missing value sits beside a present one.)
        var ref = "amount,id\n", cur = "amount,id\n"
        for i in 0..<1000 { ref += i % 10 == 0 ? ",\(i)\n" : "\(Double(i % 37)),\(i)\n" }
        for i in 0..<600 { cur += i % 10 == 3 ? ",\(i)\n" : "\(Double(i % 37)),\(i)\n" }
        let profile = try ReferenceProfile.build(from: try CSVReader.parse(text: ref), source: "ref", sha256: "")
        #expect(profile.columns["amount"]?.missing == 100 && profile.columns["amount"]?.count == 900)
        let report = try DriftEvaluator.evaluate(monitor: "m", profile: profile, current: try CSVReader.parse(text: cur), currentSource: "cur",
                                                 checks: [DriftCheck(feature: "amount")])
        let m = try #require(report.features[0].missing)
        #expect(m.referenceShare == 0.1 && m.currentShare == 0.1 && !m.drifted && m.pValue > 0.99)
        #expect(!report.alerting)
    }

    @Test func aReferenceColumnWithoutValuesIsRefusedAtProfiling() {
        let error = #expect(throws: DriftError.self) {
            try ReferenceProfile.build(from: try CSVReader.parse(text: "a,b\n1,\n2,\n"), source: "ref.csv", sha256: "")
        }
        #expect(error?.message.contains("\"b\"") == true && error?.message.contains("ref.csv") == true)
    }

    /// The newcomer's scenario: an endpoint with feature lookups captures an unknown entity's
    /// request with every feature null; the monitor on that capture runs and reports it.
    @Test func unknownEntitiesInTheCaptureAreCountedNotFatal() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let ws = try Workspace()
        defer { ws.remove() }
        let capture = try CaptureFixture(dataDirectory: ws.dataDir)
        let now = utc("2026-11-22T12:00:00Z")
        var rng = SplitMix64(seed: 5)
        for i in 0..<400 {
            let inputs: [String: Any] = i % 4 == 2
                ? ["amount": NSNull(), "age": NSNull(), "color": NSNull()]
                : ["amount": rng.normal(), "age": Double(Int(30 + 10 * rng.normal())), "color": ["red", "green", "blue"][i % 3]]
            try capture.insert(endpoint: "fraud", time: now.addingTimeInterval(-1800 + Double(i)), inputs: inputs)
        }
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir, alerts: AlertDispatcher(attempts: 1), logger: RecordingLog().logger)
        try engine.apply(MonitorDefinition(name: "fraud", source: .endpoint("fraud"), reference: ws.reference, window: 3600,
                                           alert: AlertTarget(webhook: server.url, token: "tok")))
        let run = try await engine.run("fraud", at: now)
        let report = try #require(run.report, "the run fails: \(run.error ?? "")")
        #expect(report.currentRows == 400)
        for f in report.features {
            #expect(f.currentCount == 300, "\(f.feature)")
            #expect(f.missing?.currentMissing == 100 && f.missing?.currentShare == 0.25 && f.missing?.drifted == true)
        }
        #expect(report.driftedCount == 0, "the present values follow the reference")
        #expect(report.missingDrift && run.alert == "sent")
        let request = try #require(server.received.first)
        let body = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        let features = try #require(body["features"] as? [[String: Any]])
        #expect(features.allSatisfy { $0["missing_share"] as? Double == 0.25 && $0["missing_drifted"] as? Bool == true })
    }

    @Test func aFailedRunSendsASignedAlertOfItsOwn() async throws {
        let server = try TestHTTPServer()
        defer { server.stop() }
        let ws = try Workspace()
        defer { ws.remove() }
        let token = "failure-token"
        let log = RecordingLog()
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir, alerts: AlertDispatcher(attempts: 1), logger: log.logger)
        // No capture store: the endpoint never captured anything.
        try engine.apply(MonitorDefinition(name: "fraud", source: .endpoint("fraud"), reference: ws.reference,
                                           alert: AlertTarget(webhook: server.url, token: token)))
        await #expect(throws: DriftError.self) { try await engine.run("fraud", at: utc("2026-11-22T12:00:00Z")) }
        let request = try #require(server.received.first)
        let mac = HMAC<SHA256>.authenticationCode(for: request.body, using: SymmetricKey(data: Data(token.utf8)))
        #expect(request.headers["x-mlinfra-signature"] == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
        let body = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])
        #expect(body["event"] as? String == "monitor_failed" && body["monitor"] as? String == "fraud")
        #expect((body["error"] as? String)?.contains("no capture store") == true)
        let runs = try engine.store.runs("fraud")
        #expect(runs.count == 1 && runs[0].verdict == "error" && runs[0].alert == "sent")
        #expect(log.all.contains("run failed") && !log.all.contains(token))
        // The failure is in the monitors' Prometheus file too, with no drift figure it did not compute.
        let metrics = try String(contentsOf: MonitorMetrics.file(dataDirectory: ws.dataDir), encoding: .utf8)
        #expect(metrics.contains(#"mlinfra_monitor_runs_total{monitor="fraud",outcome="error"} 1"#), "\(metrics)")
        #expect(metrics.contains(#"mlinfra_monitor_last_run_failed{monitor="fraud"} 1.0"#), "\(metrics)")
        #expect(!metrics.contains("drift_value") && !metrics.contains(token))
    }
}
