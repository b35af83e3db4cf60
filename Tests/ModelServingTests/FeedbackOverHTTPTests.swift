import CaptureStorage
import DriftMonitor
import Foundation
import HTTPTesting
import MLInfraTesting
import Testing

@testable import ModelServing

/// The same endpoint as `PerformanceMonitoringTests`, driven as a client drives it: over HTTP on
/// loopback, the request ids read from the response headers, the labels posted to `/feedback`,
/// and every `/metrics` exposition linted by promtool.
extension PerformanceMonitoringTests {
    /// One prediction as the client saw it.
    struct Sent {
        var id: String
        var version: String
        var score: Double
        var label: Int
    }

    /// The setup's router served on a free loopback port, with the `fraud_perf` monitor on its capture.
    struct Served {
        let setup: Setup
        let port: Int
        let server: Task<Void, any Error>
        let webhook: TestHTTPServer
        let engine: DriftMonitorEngine

        static func start() async throws -> Served {
            let setup = try await Setup()
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            let app = setup.router.application(host: "127.0.0.1", port: 0) { continuation.yield($0) }
            let server = Task { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let webhook = try TestHTTPServer()
            return Served(setup: setup, port: port, server: server, webhook: webhook,
                          engine: try PerformanceMonitoringTests.monitor(setup, webhook: webhook, window: 7200))
        }

        func stop() async {
            server.cancel()
            webhook.stop()
            await setup.stop()
        }
    }

    /// Sends `n` predictions to the router over HTTP; every fifth gives its own `x-request-id`.
    static func predictOverHTTP(_ n: Int, port: Int, rng: inout MLInfraTesting.SplitMix64) throws -> [Sent] {
        var sent: [Sent] = []
        for i in 0..<n {
            let x = gaussian(&rng)
            let label = x + 0.5 * gaussian(&rng) > 0 ? 1 : 0
            let given = i % 5 == 0 ? ["x-request-id": "client-\(i)"] : [:]
            let reply = try rawRequest(port: port, "POST", "/predict", headers: given, json: #"{"instances": [[\#(x), 0]]}"#)
            #expect(reply.status == 200, "\(reply.text)")
            let id = try #require(reply.headers["x-mlinfra-request-id"], "no request id in \(reply.headers)")
            if let own = given["x-request-id"] { #expect(id == own, "the client's own id is kept") }
            let version = try #require(reply.headers["x-mlinfra-version"])
            let body = try #require(try JSONSerialization.jsonObject(with: reply.body) as? [String: Any])
            let score = try #require((body["predictions"] as? [Double])?.first, "\(reply.text)")
            sent.append(Sent(id: id, version: version, score: score, label: label))
        }
        return sent
    }

    /// ROC AUC by its definition: the share of (positive, negative) pairs the score orders
    /// right, a tie counting one half.
    static func pairwiseAUC(_ rows: [Sent]) -> Double {
        let positives = rows.filter { $0.label == 1 }, negatives = rows.filter { $0.label == 0 }
        var right = 0.0
        for p in positives {
            for n in negatives { right += p.score > n.score ? 1 : p.score == n.score ? 0.5 : 0 }
        }
        return right / Double(positives.count * negatives.count)
    }

    @Test func labelsPostedOverHTTPWithTheResponsesRequestIDsReachTheMonitor() async throws {
        let served = try await Served.start()
        let (setup, port, engine) = (served.setup, served.port, served.engine)
        var rng = MLInfraTesting.SplitMix64(seed: 11)
        let sent = try Self.predictOverHTTP(300, port: port, rng: &rng)
        #expect(Set(sent.map(\.id)).count == 300, "one id per request")
        setup.writer.flush()

        // Bad bodies are refused naming the field; nothing of them is stored.
        for (body, field) in [(#"{"labels": [{"request_id": "\#(sent[0].id)"}]}"#, "labels[0].label"),
                              (#"{"request_id": 5, "label": 1}"#, "request_id"), ("[1, 2]", "body")] {
            let refused = try rawRequest(port: port, "POST", "/feedback", json: body)
            let error = (try? JSONSerialization.jsonObject(with: refused.body) as? [String: Any])?["error"] as? [String: Any]
            #expect(refused.status == 400 && error?["field"] as? String == field, "\(body) → \(refused.status) \(refused.text)")
        }

        // An hour later, 250 of the 300 get their label, in two posts.
        setup.clock.advance(by: 3600)
        let labelled = Array(sent.prefix(250))
        for part in [labelled.prefix(100), labelled.dropFirst(100)] {
            let items = part.map { #"{"request_id": "\#($0.id)", "label": \#($0.label)}"# }.joined(separator: ",")
            let answer = try rawRequest(port: port, "POST", "/feedback", json: #"{"labels": [\#(items)]}"#)
            #expect(answer.status == 200 && answer.text == #"{"accepted":\#(part.count)}"#, "\(answer.text)")
        }

        let report = try #require(try await engine.run("fraud_perf", at: setup.now.addingTimeInterval(60)).report)
        let performance = try #require(report.performance)
        #expect(performance.predictions == 300 && performance.labelled == 250)
        for version in ["fraud/1", "fraud/2"] {
            let v = try #require(performance.versions.first { $0.version == version })
            let mine = labelled.filter { $0.version == version }
            #expect(v.predictions == sent.filter { $0.version == version }.count && v.labelled == mine.count)
            #expect(abs(v.coverage - Double(mine.count) / Double(v.predictions)) < 1e-12 && v.coverage > 0.5)
            let metrics = try #require(v.metrics?.classification)
            #expect(abs(try #require(metrics.rocAUC) - Self.pairwiseAUC(mine)) < 1e-9, "\(version)")
            let right = mine.filter { ($0.score > 0.5 ? 1 : 0) == $0.label }.count
            #expect(abs(metrics.accuracy - Double(right) / Double(mine.count)) < 1e-12, "\(version)")
        }
        await served.stop()
    }

    /// The samples of an exposition: `name{labels}` → value.
    static func samples(_ text: String) -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            out[String(line[..<space])] = value
        }
        return out
    }

    /// promtool finds no parse error and no lint problem in `text`.
    static func expectClean(_ text: String, _ what: String) throws {
        let verdict = try Promtool.checkMetrics(text)
        #expect(verdict.status == 0 && verdict.output.isEmpty, "promtool check metrics on \(what): \(verdict.output)\n\(text)")
    }

    @Test func everyMetricsExpositionPassesPromtoolAndCountsTheTrafficAndTheRun() async throws {
        let served = try await Served.start()
        let (setup, port, engine) = (served.setup, served.port, served.engine)
        var rng = MLInfraTesting.SplitMix64(seed: 12)
        let sent = try Self.predictOverHTTP(120, port: port, rng: &rng)
        setup.writer.flush()
        let items = sent.map { #"{"request_id": "\#($0.id)", "label": \#($0.label)}"# }.joined(separator: ",")
        #expect(try rawRequest(port: port, "POST", "/feedback", json: #"{"labels": [\#(items)]}"#).status == 200)
        let run = try await engine.run("fraud_perf", at: setup.now.addingTimeInterval(60))

        let routerText = try rawRequest(port: port, "GET", "/metrics").text
        try Self.expectClean(routerText, "the router")
        let router = Self.samples(routerText)
        for (version, replica) in [("fraud/1", setup.good), ("fraud/2", setup.bad)] {
            let count = Double(sent.filter { $0.version == version }.count)
            let series = #"{endpoint="fraud",version="\#(version)"}"#
            #expect(count > 0 && router["mlinfra_router_requests_total" + series] == count, "\(version) in\n\(routerText)")
            #expect(router["mlinfra_router_request_duration_seconds_count" + series] == count)
            #expect(router["mlinfra_router_request_errors_total" + series] == 0)
            #expect(router["mlinfra_router_ready_replicas" + series] == 1 && router["mlinfra_router_traffic_weight" + series] == 50)
            let replicaText = try rawRequest(port: replica.port, "GET", "/metrics").text
            try Self.expectClean(replicaText, "the replica of \(version)")
            let own = Self.samples(replicaText)
            #expect(own[#"mlinfra_replica_requests_total{version="\#(version)"}"#] == count, "\(replicaText)")
            #expect(own[#"mlinfra_replica_model_info{model="fraud",version="\#(version)",format="linear-json"}"#] == 1, "\(replicaText)")
        }
        #expect(router[#"mlinfra_router_capture_written_total{endpoint="fraud"}"#] == 120)
        #expect(router[#"mlinfra_router_requests_in_flight"#] == 0)

        // The monitor's run, as the engine wrote it for node_exporter's textfile collector.
        let monitorText = try String(contentsOf: MonitorMetrics.file(dataDirectory: setup.dataDirectory.path), encoding: .utf8)
        try Self.expectClean(monitorText, "the monitors")
        let monitor = Self.samples(monitorText)
        let m = #"monitor="fraud_perf""#
        #expect(monitor[#"mlinfra_monitor_runs_total{\#(m),outcome="\#(run.verdict)"}"#] == 1, "\(monitorText)")
        #expect(monitor["mlinfra_monitor_last_run_timestamp_seconds{\(m)}"] == run.time.timeIntervalSince1970)
        #expect(monitor["mlinfra_monitor_last_run_failed{\(m)}"] == 0)
        let report = try #require(run.report)
        let x = try #require(report.features.first)
        #expect(monitor[#"mlinfra_monitor_feature_drift_value{\#(m),feature="x",method="\#(x.method.rawValue)"}"#] == x.value, "\(monitorText)")
        #expect(monitor["mlinfra_monitor_drifted_share{\(m)}"] == Double(report.driftedCount) / Double(report.features.count))
        #expect(monitor["mlinfra_monitor_labels_unmatched{\(m)}"] == 0, "every label named a captured request: \(monitorText)")
        for v in try #require(report.performance).versions {
            let series = #"\#(m),version="\#(v.version)""#
            #expect(monitor["mlinfra_monitor_label_coverage{\(series)}"] == 1, "every prediction was labelled")
            #expect(monitor[#"mlinfra_monitor_performance{\#(series),metric="roc_auc"}"#] == v.metrics?.classification?.rocAUC, "\(monitorText)")
            #expect(monitor["mlinfra_monitor_performance_degraded{\(series)}"] == (v.degraded ? 1 : 0))
        }
        await served.stop()
    }
}
