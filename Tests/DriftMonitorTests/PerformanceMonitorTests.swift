import CaptureStorage
import Foundation
import Testing

@testable import DriftMonitor

@Suite struct PerformanceMonitorTests {
    /// A regressor's captured predictions, labelled from a CSV of request ids, measured per version.
    @Test func labelsFromACSVJoinByRequestIdPerVersion() async throws {
        let ws = try Workspace()
        defer { ws.remove() }
        let capture = try CaptureFixture(dataDirectory: ws.dataDir)
        let now = utc("2026-12-01T12:00:00Z")
        var records = [CaptureRecord](), labels = "request_id,amount_true\n"
        for i in 0..<40 {
            let truth = Double(i)
            let version = i % 2 == 0 ? "m/1" : "m/2"
            let prediction = version == "m/1" ? truth + 0.5 : truth + 6  // m/2 is off by 6
            records.append(CaptureRecord(endpoint: "price", version: version, time: now.timeIntervalSince1970 - 100 + Double(i), requestID: "r\(i)",
                                         inputs: #"{"amount":\#(i % 7)}"#, outputs: #"{"price":\#(prediction)}"#, latencyMs: 1))
            if i < 30 { labels += "r\(i),\(truth)\n" }
        }
        try capture.store.append(records)
        let labelsPath = ws.root.appendingPathComponent("labels.csv").path
        try labels.write(toFile: labelsPath, atomically: true, encoding: .utf8)
        var reference = "amount,amount_true,price\n"
        for i in 0..<50 { reference += "\(i % 7),\(Double(i)),\(Double(i) + 0.5)\n" }
        let referencePath = ws.root.appendingPathComponent("reference-price.csv").path
        try reference.write(toFile: referencePath, atomically: true, encoding: .utf8)

        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir, logger: RecordingLog().logger)
        let spec = PerformanceSpec(task: .regression, label: "amount_true", prediction: "price", maxDrop: 1, labels: labelsPath)
        #expect(spec.metric == .rmse)
        try engine.apply(MonitorDefinition(name: "price", source: .endpoint("price"), reference: referencePath, checks: [DriftCheck(feature: "amount")],
                                           performance: spec))
        let performance = try #require(try await engine.run("price", at: now).report?.performance)
        #expect(performance.referenceValue == 0.5)
        let v1 = try #require(performance.versions.first { $0.version == "m/1" }), v2 = try #require(performance.versions.first { $0.version == "m/2" })
        #expect(v1.predictions == 20 && v1.labelled == 15 && v2.labelled == 15)
        #expect(v1.value == 0.5 && v1.drop == 0 && !v1.degraded)
        #expect(v2.value == 6 && v2.drop == 5.5 && v2.degraded)
        #expect(v1.metrics?.regression?.mae == 0.5 && v1.metrics?.regression?.r2 != nil)
        #expect(performance.degraded)
    }

    @Test func performanceSettingsAreChecked() throws {
        let ws = try Workspace()
        defer { ws.remove() }
        var definition = MonitorDefinition(name: "p", source: .dataset(ws.stable), reference: ws.reference,
                                           performance: PerformanceSpec(task: .regression, metric: .rocAUC, maxDrop: -1))
        let problems = DriftMonitorEngine.problems(in: definition)
        #expect(problems.contains { $0.contains("roc_auc is a classification metric") })
        #expect(problems.contains { $0.contains("max_drop") } && problems.contains { $0.contains("endpoint source") })
        definition.source = .endpoint("e")
        definition.performance = PerformanceSpec(task: .classification, label: "nope", maxDrop: 0.05)
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir)
        let error = #expect(throws: DriftError.self) { try engine.apply(definition) }
        #expect(error?.message.contains("nope") == true)
    }
}
