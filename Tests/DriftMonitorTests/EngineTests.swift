import CaptureStorage
import Crypto
import Foundation
import Logging
import MLInfraTesting
import Synchronization
import Testing

@testable import DriftMonitor

/// A temporary data directory with a reference CSV and a drifted and a stable current CSV.
struct Workspace {
    let root: URL
    var dataDir: String { root.appendingPathComponent("data").path }
    var reference: String { root.appendingPathComponent("reference.csv").path }
    var drifted: String { root.appendingPathComponent("drifted.csv").path }
    var stable: String { root.appendingPathComponent("stable.csv").path }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("drift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var rng = SplitMix64(seed: 7)
        func table(_ n: Int, shift: Double, colors: [String]) -> String {
            var s = "amount,age,color\n"
            for i in 0..<n {
                s += "\(rng.normal() + shift),\(Int(30 + 10 * rng.normal())),\(colors[i % colors.count])\n"
            }
            return s
        }
        try table(1500, shift: 0, colors: ["red", "green", "blue"]).write(toFile: reference, atomically: true, encoding: .utf8)
        try table(1200, shift: 0, colors: ["red", "green", "blue"]).write(toFile: stable, atomically: true, encoding: .utf8)
        try table(1200, shift: 1.0, colors: ["red", "red", "blue"]).write(toFile: drifted, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(at: root) }
}

/// Standard normal samples from the seeded generator (Box–Muller).
extension SplitMix64 {
    mutating func normal() -> Double {
        let u1 = Double.random(in: Double.ulpOfOne..<1, using: &self), u2 = Double.random(in: 0..<1, using: &self)
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}

/// Collects log lines, to check that secrets never reach the log.
final class RecordingLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ s: String) { lines.withLock { $0.append(s) } }
    var all: String { lines.withLock { $0.joined(separator: "\n") } }

    var logger: Logger {
        Logger(label: "test") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: RecordingLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { sink.append("\(event.level) \(event.message)") }
    }
}

@Suite struct EngineTests {
    @Test func profileIsStoredAndRunsNeverRereadTheReference() async throws {
        let ws = try Workspace()
        defer { ws.remove() }
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir)
        let def = MonitorDefinition(name: "fraud", source: .dataset(ws.drifted), reference: ws.reference,
                                    checks: [DriftCheck(feature: "amount", method: .psi, threshold: 0.2), DriftCheck(feature: "color")])
        #expect(try engine.apply(def))
        #expect(try engine.apply(def) == false, "an unchanged reference is not profiled again")
        // Delete the reference: runs work from the stored profile alone.
        try FileManager.default.removeItem(atPath: ws.reference)
        let run = try await engine.run("fraud", at: utc("2026-11-22T10:00:00Z"))
        let report = try #require(run.report)
        #expect(report.features.map(\.feature) == ["amount", "color"])
        #expect(report.features[0].method == .psi && report.features[0].threshold == 0.2 && report.features[0].drifted)
        #expect(report.features[1].method == .jensenshannon && report.features[1].defaultMethod)
        #expect(report.datasetDrift)
        #expect(run.alert == "logged")
        let history = try engine.store.runs("fraud")
        #expect(history.count == 1 && history[0].time == utc("2026-11-22T10:00:00Z") && history[0].verdict == "drift")
    }

    @Test func stableDataDoesNotDriftAndDefaultsApplyToAllColumns() async throws {
        let ws = try Workspace()
        defer { ws.remove() }
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir)
        try engine.apply(MonitorDefinition(name: "m", source: .dataset(ws.stable), reference: ws.reference))
        let report = try #require(try await engine.run("m").report)
        #expect(report.features.map(\.feature) == ["age", "amount", "color"])
        #expect(report.features.first { $0.feature == "amount" }?.method == .wasserstein)
        #expect(!report.datasetDrift)
    }

    @Test func badChecksAndMissingDataGiveClearErrors() async throws {
        let ws = try Workspace()
        defer { ws.remove() }
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir)
        #expect(throws: DriftError.self) {
            try engine.apply(MonitorDefinition(name: "m", source: .dataset(ws.stable), reference: ws.reference, checks: [DriftCheck(feature: "nope")]))
        }
        #expect(throws: DriftError.self) {
            try engine.apply(MonitorDefinition(name: "m", source: .dataset(ws.stable), reference: ws.reference, schedule: "61 * * * *"))
        }
        try engine.apply(MonitorDefinition(name: "m", source: .dataset(ws.stable), reference: ws.reference,
                                           checks: [DriftCheck(feature: "color", method: .ks)]))
        await #expect(throws: DriftError.self) { try await engine.run("m") }
        // The failed run is in the history, with its error.
        let runs = try engine.store.runs("m")
        #expect(runs.count == 1 && runs[0].verdict == "error" && runs[0].error?.contains("categorical") == true)
        await #expect(throws: DriftError.self) { try await engine.run("missing") }
    }

    @Test func captureWindowIsTheCurrentData() async throws {
        let ws = try Workspace()
        defer { ws.remove() }
        let capture = try CaptureFixture(dataDirectory: ws.dataDir)
        let now = utc("2026-11-22T12:00:00Z")
        var rng = SplitMix64(seed: 3)
        for i in 0..<600 {
            // Old rows (two hours ago) are stable; the last hour is shifted.
            let old = i < 300
            let t = now.addingTimeInterval(old ? -7200 + Double(i) : -3000 + Double(i))
            try capture.insert(endpoint: "fraud", time: t, inputs: ["amount": rng.normal() + (old ? 0 : 2), "color": "red"])
        }
        try capture.insert(endpoint: "other", time: now.addingTimeInterval(-10), inputs: ["amount": 100.0, "color": "red"])
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir)
        try engine.apply(MonitorDefinition(name: "m", source: .endpoint("fraud"), reference: ws.reference, window: 3600,
                                           checks: [DriftCheck(feature: "amount", method: .ks)]))
        let report = try #require(try await engine.run("m", at: now).report)
        #expect(report.currentRows == 300)
        #expect(report.features[0].drifted)
        let earlier = try #require(try await engine.run("m", at: now.addingTimeInterval(-3600 - 100)).report)
        #expect(earlier.currentRows == 300 && !earlier.features[0].drifted)
    }
}

/// Writes captured requests into the store the serving engine writes, through its protocol.
struct CaptureFixture {
    let store: SQLiteCaptureStore
    init(dataDirectory: String) throws {
        store = try SQLiteCaptureStore(directory: URL(fileURLWithPath: dataDirectory).appendingPathComponent("serving").path)
    }
    func insert(endpoint: String, time: Date, inputs: [String: Any]) throws {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: inputs, options: [.sortedKeys]), as: UTF8.self)
        try store.append([CaptureRecord(endpoint: endpoint, version: "1", time: time.timeIntervalSince1970, inputs: json, outputs: "{}", latencyMs: 1)])
    }
}
