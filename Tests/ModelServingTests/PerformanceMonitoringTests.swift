import CaptureStorage
import Crypto
import DriftMonitor
import Foundation
import HTTPTesting
import MLInfraTesting
import NIOCore
import Testing

@testable import ModelServing

@Suite struct FeedbackTests {
    @Test func labelsByRequestIdOrByEntityAndTime() throws {
        let one = try Feedback.parse(Data(#"{"request_id": "ab-1", "label": 1}"#.utf8), endpoint: "ep", received: 50)
        #expect(one == [LabelRecord(endpoint: "ep", requestID: "ab-1", label: 1, received: 50)])
        let many = try Feedback.parse(Data(#"""
            {"labels": [{"request_id": "ab-2#1", "label": 0},
                        {"entity": {"customer_id": 1001}, "time": "2026-12-01T10:00:00Z", "label": true}]}
            """#.utf8), endpoint: "ep", received: 60)
        #expect(many.count == 2 && many[1].entity == #"{"customer_id":"1001"}"# && many[1].label == 1)
        #expect(many[1].time == ISO8601DateFormatter().date(from: "2026-12-01T10:00:00Z")!.timeIntervalSince1970)
        #expect(many[1].entity == CaptureRecord.entityKey(["customer_id": "1001"]), "the same key the writer stores with the prediction")
    }

    @Test(arguments: [
        (#"{"label": 1}"#, "request_id"),
        (#"{"request_id": "a", "label": "yes"}"#, "label"),
        (#"{"labels": [{"request_id": "a", "label": 1}, {"entity": {"c": 1}, "label": 0}]}"#, "labels[1].time"),
        (#"{"labels": [{"entity": [1], "time": 5, "label": 0}]}"#, "labels[0].entity"),
        (#"{"labels": []}"#, "labels"),
        ("not json", "body"),
    ])
    func badFeedbackNamesTheField(body: String, field: String) {
        let error = #expect(throws: RequestError.self) { try Feedback.parse(Data(body.utf8), endpoint: "ep", received: 0) }
        #expect(error?.field == field && error?.status == 400)
    }
}

/// A standard normal sample (Box–Muller).
func gaussian(_ rng: inout MLInfraTesting.SplitMix64) -> Double {
    let u1 = Double.random(in: Double.ulpOfOne..<1, using: &rng), u2 = Double.random(in: 0..<1, using: &rng)
    return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
}

/// Predictions captured through the router, labels posted to its `/feedback` an hour later
/// (injected clock), a monitor that finds the degraded version's ROC AUC drop.
@Suite(.serialized) struct PerformanceMonitoringTests {
    /// A logistic model of x: `weight` 3 separates the classes well, -0.2 barely and the wrong way round.
    static func handler(version: String, weight: Double) -> ReplicaHandler {
        ReplicaHandler(runtime: LinearModel(weights: [weight, 0], intercept: 0, link: .logistic, featureNames: ["x", "y"]),
                       modelName: "fraud", endpointName: "fraud", version: version)
    }

    struct Setup {
        let good: LocalReplica, bad: LocalReplica
        let table = RoutingTable()
        let client = HTTPClientPool()
        let dataDirectory: URL
        let writer: CaptureWriter
        let clock = ManualClock(wall: Date(timeIntervalSince1970: 1_764_583_200))  // 2025-12-01T10:00:00Z
        let router: EndpointRouter

        init() async throws {
            good = try await LocalReplica.start(PerformanceMonitoringTests.handler(version: "fraud/1", weight: 3))
            bad = try await LocalReplica.start(PerformanceMonitoringTests.handler(version: "fraud/2", weight: -0.2))
            dataDirectory = temporaryDirectory()
            // The endpoint writes the local capture store the monitor reads by default.
            let store = try CaptureStoreLocation.local(dataDirectory: dataDirectory.path).open(create: true)
            writer = CaptureWriter(store: store, logger: quietLogger)
            table.add(version: "fraud/1", port: good.port)
            table.add(version: "fraud/2", port: bad.port)
            table.setWeights(["fraud/1": 50, "fraud/2": 50])
            for v in ["fraud/1", "fraud/2"] { table.setVersionInfo(.init(version: v, featureNames: ["x", "y"], outputNames: ["probability"])) }
            router = EndpointRouter(endpoint: "fraud", table: table, client: client, capture: writer, capturePercent: 100, logger: quietLogger, now: clock.wallTime)
        }

        var now: Date { clock.date }

        /// Sends `n` predictions and returns (request id, true label) of each.
        func predict(_ n: Int, rng: inout MLInfraTesting.SplitMix64) async -> [(String, Int)] {
            var sent = [(String, Int)]()
            for _ in 0..<n {
                let x = gaussian(&rng)
                let label = x + 0.5 * gaussian(&rng) > 0 ? 1 : 0
                let id = router.requestID(clientGiven: nil)
                let reply = await router.forward(path: "/predict", body: ByteBuffer(string: #"{"instances": [[\#(x), 0]]}"#), kind: .predict, requestID: id)
                #expect(reply.status == 200 && reply.requestID == id)
                sent.append((id, label))
            }
            writer.flush()
            return sent
        }

        func label(_ sent: [(String, Int)]) {
            let items = sent.map { #"{"request_id": "\#($0.0)", "label": \#($0.1)}"# }.joined(separator: ",")
            let answer = router.feedback(ByteBuffer(string: #"{"labels": [\#(items)]}"#))
            #expect(answer.status == 200 && answer.body == #"{"accepted":\#(sent.count)}"#)
        }

        func stop() async {
            client.closeIdle()
            await good.stop()
            await bad.stop()
            try? FileManager.default.removeItem(at: dataDirectory)
        }
    }

    /// A reference of the good model on its validation data: x, y, label and its output, probability.
    static func reference(in dir: URL) throws -> String {
        var rng = MLInfraTesting.SplitMix64(seed: 99)
        var csv = "x,y,label,probability\n"
        for _ in 0..<2000 {
            let x = gaussian(&rng)
            let label = x + 0.5 * gaussian(&rng) > 0 ? 1 : 0
            csv += "\(x),0,\(label),\(1 / (1 + exp(-3 * x)))\n"
        }
        let path = dir.appendingPathComponent("reference.csv").path
        try csv.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A monitor of the endpoint's ROC AUC (max_drop 0.05) and of x, reading the store the router writes.
    static func monitor(_ setup: Setup, webhook: TestHTTPServer, window: TimeInterval, cooldown: TimeInterval = 0) throws -> DriftMonitorEngine {
        let engine = try DriftMonitorEngine(dataDirectory: setup.dataDirectory.path, alerts: AlertDispatcher(attempts: 1), logger: quietLogger)
        let spec = PerformanceSpec(task: .classification, label: "label", prediction: "probability", metric: .rocAUC, maxDrop: 0.05)
        try engine.apply(MonitorDefinition(name: "fraud_perf", source: .endpoint("fraud"), reference: try reference(in: setup.dataDirectory),
                                           window: window, checks: [DriftCheck(feature: "x")],
                                           alert: AlertTarget(webhook: webhook.url, token: "tok", cooldown: cooldown), performance: spec))
        return engine
    }

    @Test func aDegradedVersionsAUCDropIsDetectedFromLabelsThatCameAnHourLater() async throws {
        let setup = try await Setup()
        let webhook = try TestHTTPServer()
        defer { webhook.stop() }
        let engine = try Self.monitor(setup, webhook: webhook, window: 7200)
        var rng = MLInfraTesting.SplitMix64(seed: 1)
        let sent = await setup.predict(600, rng: &rng)
        // Before any label: the run reports no coverage and no verdict on performance.
        let earlyReport = try #require(try await engine.run("fraud_perf", at: setup.now.addingTimeInterval(60)).report)
        let early = try #require(earlyReport.performance)
        #expect(early.labelled == 0 && early.predictions == 600 && !early.degraded && early.versions.allSatisfy { $0.value == nil })
        // The output distribution needs no label: its drift shows at once.
        #expect(earlyReport.predictionDrift?.drifted == true && webhook.received.count == 1)

        setup.clock.advance(by: 3600)
        setup.label(Array(sent.prefix(500)))  // 500 of the 600 predictions get their label an hour later
        let run = try await engine.run("fraud_perf", at: setup.now.addingTimeInterval(60))
        let report = try #require(run.report)
        let performance = try #require(report.performance)
        let reference = try #require(performance.referenceValue)
        #expect(reference > 0.9, "the good model's validation AUC")
        let good = try #require(performance.versions.first { $0.version == "fraud/1" })
        let bad = try #require(performance.versions.first { $0.version == "fraud/2" })
        #expect(good.predictions + bad.predictions == 600 && good.labelled + bad.labelled == 500)
        #expect(abs(good.coverage - Double(good.labelled) / Double(good.predictions)) < 1e-12 && good.coverage > 0.7)
        let goodDrop = try #require(good.drop), badValue = try #require(bad.value)
        #expect(!good.degraded && abs(goodDrop) < 0.05, "fraud/1 AUC \(good.value ?? .nan) vs reference \(reference)")
        #expect(bad.degraded && badValue < 0.5, "fraud/2 AUC \(badValue)")
        #expect(bad.rocCurve?.first == [0, 0] && bad.rocCurve?.last == [1, 1])
        #expect(report.alerting && run.verdict == "drift" && run.alert == "sent")
        // Half the traffic scored by the flat model: the output distribution drifted too.
        let prediction = try #require(report.predictionDrift)
        #expect(prediction.feature == "probability" && prediction.currentCount == 600 && prediction.drifted)
        let alert = try #require(webhook.received.last)
        let body = try #require(try JSONSerialization.jsonObject(with: alert.body) as? [String: Any])
        #expect((body["prediction_drift"] as? [String: Any])?["drifted"] as? Bool == true)
        let versions = try #require(body["performance"] as? [[String: Any]])
        #expect(versions.contains { $0["version"] as? String == "fraud/2" && $0["degraded"] as? Bool == true && $0["labelled"] as? Int == bad.labelled })
        await setup.stop()
    }

    /// Alert hygiene end to end: one alert per problem until it resolves, new problems held for the
    /// cooldown, and a "resolved" notification after the rollback.
    @Test func theDropIsAlertedOnceHeldForTheCooldownAndResolvedAfterRollback() async throws {
        let setup = try await Setup()
        let webhook = try TestHTTPServer()
        defer { webhook.stop() }
        let engine = try Self.monitor(setup, webhook: webhook, window: 3 * 3600, cooldown: 2 * 3600)
        let t0 = setup.now
        var rng = MLInfraTesting.SplitMix64(seed: 5)
        let sent = await setup.predict(600, rng: &rng)
        func events() -> [String] {
            webhook.received.map { ((try? JSONSerialization.jsonObject(with: $0.body)) as? [String: Any])?["event"] as? String ?? "?" }
        }

        let a = try await engine.run("fraud_perf", at: t0.addingTimeInterval(60))
        #expect(a.alert == "sent" && events() == ["drift_detected"], "the output drift, before any label")
        setup.clock.advance(by: 3600)
        setup.label(Array(sent.prefix(500)))
        let b = try await engine.run("fraud_perf", at: t0.addingTimeInterval(3600 + 60))
        #expect(b.report?.performance?.degraded == true)
        #expect(b.alert.hasPrefix("held: cooldown until") && events().count == 1, "\(b.alert)")
        let c = try await engine.run("fraud_perf", at: t0.addingTimeInterval(2 * 3600 + 120))
        #expect(c.alert == "sent" && events() == ["drift_detected", "performance_degraded"], "\(c.alert)")
        let again = try await engine.run("fraud_perf", at: t0.addingTimeInterval(2 * 3600 + 600))
        #expect(again.report?.performance?.degraded == true && again.alert == "already open" && events().count == 2)

        // Roll back to fraud/1: new traffic, its labels, and a window that no longer holds fraud/2.
        setup.table.setWeights(["fraud/1": 100, "fraud/2": 0])
        setup.clock.advance(by: 3 * 3600)
        let after = await setup.predict(300, rng: &rng)
        setup.clock.advance(by: 3600)
        setup.label(after)
        let d = try await engine.run("fraud_perf", at: t0.addingTimeInterval(6 * 3600))
        let versions = try #require(d.report?.performance?.versions)
        #expect(versions.map(\.version) == ["fraud/1"] && versions[0].labelled == 300 && !versions[0].degraded)
        #expect(events() == ["drift_detected", "performance_degraded", "resolved"], "\(d.alert)")
        let resolved = try #require(try JSONSerialization.jsonObject(with: webhook.received[2].body) as? [String: Any])
        #expect(resolved["resolved"] as? [String] == ["performance:fraud/2", "prediction:probability"])
        let last = webhook.received[2]
        let mac = HMAC<SHA256>.authenticationCode(for: last.body, using: SymmetricKey(data: Data("tok".utf8)))
        #expect(last.headers["x-mlinfra-signature"] == "sha256=" + mac.map { String(format: "%02x", $0) }.joined())
        let quiet = try await engine.run("fraud_perf", at: t0.addingTimeInterval(6 * 3600 + 300))
        #expect(quiet.alert == "not needed" && events().count == 3)

        // The report of the degraded run: the performance table, ROC curves, the metric over windows; one file.
        let runs = try engine.store.runs("fraud_perf")
        let degraded = try #require(runs.first { $0.report?.performance?.degraded == true }?.report)
        let html = ReportRenderer.html(degraded, history: runs)
        #expect(html.contains("ROC curve") && html.contains("roc_auc over windows") && html.contains("Performance degraded"))
        #expect(html.contains("Prediction drift: probability"))
        #expect(html.components(separatedBy: "<polyline").count - 1 == 4, "two ROC curves and two series")
        #expect(!html.contains("<script") && !html.contains("http://") && !html.contains("https://"))
        if let out = ProcessInfo.processInfo.environment["MLINFRA_REPORT_OUT"] { try html.write(toFile: out, atomically: true, encoding: .utf8) }
        await setup.stop()
    }

    /// Entity predictions written as the endpoint's capture writer writes them, at injected times:
    /// `predictions[customer]` holds (time, probability) of each. Returns the engine of a monitor
    /// whose `performance.labels` is the CSV `labels`.
    static func entityMonitor(_ dir: URL, predictions: [Int: [(Double, Double)]], labels: String) throws -> DriftMonitorEngine {
        let store = try CaptureStoreLocation.local(dataDirectory: dir.path).open(create: true)
        let writer = CaptureWriter(store: store, logger: quietLogger)
        for (customer, list) in predictions.sorted(by: { $0.key < $1.key }) {
            for (time, p) in list {
                writer.submit(.init(endpoint: "fraud", version: "fraud/1", time: time, kind: .predict,
                                    request: Data(#"{"entities": {"customer_id": [\#(customer)]}}"#.utf8),
                                    response: Data(#"{"predictions": [\#(p)], "instances": [[\#(p), 0]]}"#.utf8),
                                    latencyMs: 1, featureNames: ["x", "y"], outputNames: ["probability"]))
            }
        }
        writer.flush()
        let path = dir.appendingPathComponent("labels.csv").path
        try labels.write(toFile: path, atomically: true, encoding: .utf8)
        let engine = try DriftMonitorEngine(dataDirectory: dir.path, alerts: AlertDispatcher(attempts: 1), logger: quietLogger)
        let spec = PerformanceSpec(task: .classification, label: "label", prediction: "probability", metric: .rocAUC, maxDrop: 0.05, labels: path)
        try engine.apply(MonitorDefinition(name: "fraud_entity", source: .endpoint("fraud"), reference: try reference(in: dir),
                                           window: 7200, checks: [DriftCheck(feature: "x")], performance: spec))
        return engine
    }

    @Test func labelsByEntityAndTimeJoinTheEntitysLatestPredictionAtOrBeforeThem() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let t0 = 1_764_583_200.0, iso = ISO8601DateFormatter()
        var rng = MLInfraTesting.SplitMix64(seed: 11)
        // Customers 1000…1039 are scored at t0 + 10 i, and again at t0 + 1000 + 10 i; scores in
        // steps of 0.1, so the ROC AUC has ties.
        var predictions = [Int: [(Double, Double)]]()
        for i in 0..<40 {
            let first = Double(Int.random(in: 0...10, using: &rng)) / 10, second = Double(Int.random(in: 0...10, using: &rng)) / 10
            predictions[1000 + i] = [(t0 + 10 * Double(i), first), (t0 + 1000 + 10 * Double(i), second)]
        }
        var csv = "customer_id,event_timestamp,label\n"
        var expected = [(label: Double, score: Double)]()
        func label(_ customer: Int, at time: Double, _ y: Int, epoch: Bool = false) {
            csv += "\(customer),\(epoch ? String(Int(time)) : iso.string(from: Date(timeIntervalSince1970: time))),\(y)\n"
        }
        // 1000…1029: a label 5 s after the first prediction, before the second: it joins the first.
        for i in 0..<30 {
            let p = predictions[1000 + i]![0].1
            let y = Double.random(in: 0..<1, using: &rng) < p ? 1 : 0
            label(1000 + i, at: t0 + 10 * Double(i) + 5, y, epoch: i % 3 == 0)
            expected.append((Double(y), p))
        }
        // 1030: a label 5 s before its first prediction: unmatched.
        label(1030, at: t0 + 300 - 5, 1)
        // 1031: after the second prediction: joins the second.
        label(1031, at: t0 + 1000 + 310 + 60, 1)
        expected.append((1, predictions[1031]![1].1))
        // 1032: two labels of the first prediction; the later one (time t0 + 327) wins.
        label(1032, at: t0 + 325, 1)
        label(1032, at: t0 + 327, 0)
        expected.append((0, predictions[1032]![0].1))
        // An entity the endpoint never scored: unmatched.
        label(9999, at: t0 + 500, 1)
        // At exactly the second prediction's time: "at or before" takes the second.
        label(1033, at: t0 + 1000 + 330, 1)
        expected.append((1, predictions[1033]![1].1))

        let engine = try Self.entityMonitor(dir, predictions: predictions, labels: csv)
        let run = try await engine.run("fraud_entity", at: Date(timeIntervalSince1970: t0 + 3600))
        let performance = try #require(run.report?.performance)
        let version = try #require(performance.versions.first)
        #expect(performance.versions.count == 1 && version.predictions == 80)
        #expect(version.labelled == expected.count && performance.unmatchedLabels == 2, "labelled \(version.labelled), unmatched \(performance.unmatchedLabels ?? -1)")
        #expect(abs(version.coverage - Double(expected.count) / 80) < 1e-12)
        #expect(run.report.map { ReportRenderer.html($0, history: []) }?.contains("2 labels matched no captured prediction") == true)
        let exported = try String(contentsOf: MonitorMetrics.file(dataDirectory: dir.path), encoding: .utf8)
        #expect(exported.contains(#"mlinfra_monitor_labels_unmatched{monitor="fraud_entity"} 2"#), "\(exported)")

        // The metrics of the pairs the labels should join, against scikit-learn's.
        let python = try PeerPython.require(["sklearn", "numpy"])
        let input = dir.appendingPathComponent("joined.json")
        try JSONSerialization.data(withJSONObject: ["labels": expected.map(\.label), "scores": expected.map(\.score)]).write(to: input)
        let data = try PeerPython.run(python, script: """
            import json, sys
            import numpy as np
            from sklearn import metrics as m
            f = json.load(open(sys.argv[1]))
            y, p = np.array(f["labels"]), np.array(f["scores"])
            pred = (p > 0.5).astype(int)
            print(json.dumps({"accuracy": m.accuracy_score(y, pred), "precision": m.precision_score(y, pred, zero_division=0),
                              "recall": m.recall_score(y, pred, zero_division=0), "f1": m.f1_score(y, pred, zero_division=0),
                              "roc_auc": m.roc_auc_score(y, p), "log_loss": m.log_loss(y, p, labels=[0, 1])}))
            """, arguments: [input.path])
        let sklearn = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Double])
        let c = try #require(version.metrics?.classification)
        let ours: [String: Double?] = ["accuracy": c.accuracy, "precision": c.precision, "recall": c.recall, "f1": c.f1,
                                       "roc_auc": c.rocAUC, "log_loss": c.logLoss]
        #expect(Set(sklearn.keys) == Set(ours.keys))
        for (name, value) in sklearn {
            let mine = try #require(ours[name] ?? nil, "\(name) undefined")
            #expect(abs(mine - value) <= 1e-9 * max(1, abs(value)), "\(name): mlinfra \(mine), scikit-learn \(value)")
        }
        #expect(version.value == c.rocAUC)
    }

    @Test(arguments: [
        ("customer_id,label\n1000,1\n", "neither request_id nor a time column"),
        ("event_timestamp,label\n1764583200,1\n", #"a time column "event_timestamp" but no entity join key column"#),
        ("client,event_timestamp,label\n1000,1764583200,1\n", "join key columns client where the window's predictions were made by customer_id"),
        ("customer_id,time,outcome\n1000,1764583200,1\n", "no label column \"label\""),
    ])
    func aLabelsCSVWithoutRequestIdOrEntityAndTimeIsRefused(csv: String, problem: String) async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let engine = try Self.entityMonitor(dir, predictions: [1000: [(1_764_583_200, 0.7)]], labels: csv)
        let error = await #expect(throws: DriftError.self) { try await engine.run("fraud_entity", at: Date(timeIntervalSince1970: 1_764_583_200 + 60)) }
        let text = error.map { String(describing: $0) } ?? ""
        let path = dir.appendingPathComponent("labels.csv").path
        #expect(text.contains("labels \(path): \(problem)"), "\(text)")
        let header = csv.prefix { $0 != "\n" }.split(separator: ",").map { "\"\($0)\"" }.joined(separator: ", ")
        #expect(text.contains("its columns are \(header)") && text.contains("request_id,label") && text.contains("event_timestamp or time"), "\(text)")
        #expect(try engine.store.runs("fraud_entity").first?.error != nil, "the failed run is recorded")
    }

}
