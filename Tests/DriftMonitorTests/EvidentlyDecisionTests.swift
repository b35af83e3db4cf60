import Foundation
import HTTPTesting
import MLInfraTesting
import Testing

@testable import DriftMonitor

/// Evidently's `DataDriftPreset` as the oracle of the per-column method choice (by type, reference
/// size and distinct values), the values, and the share of drifted columns.
@Suite struct EvidentlyDecisionTests {
    static let oracle = """
        import json, os, sys, warnings
        warnings.simplefilter("ignore")
        import pandas as pd
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
        ref, cur, numerical = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2]), sys.argv[3].split(",")
        categorical = [c for c in ref.columns if c not in numerical]
        for c in categorical:
            ref[c], cur[c] = ref[c].astype(str), cur[c].astype(str)
        d = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
        snap = Report([DataDriftPreset()]).run(current_data=Dataset.from_pandas(cur, data_definition=d),
                                               reference_data=Dataset.from_pandas(ref, data_definition=d))
        out = {"columns": {}}
        for m in snap.dict()["metrics"]:
            name = m["metric_name"]
            if name.startswith("DriftedColumnsCount"):
                out["count"], out["share"] = m["value"]["count"], m["value"]["share"]
            elif name.startswith("ValueDrift("):
                column = name.split("column=")[1].split(",method=")[0]
                out["columns"][column] = {"method": name.split(",method=")[1].split(",threshold=")[0], "value": m["value"]}
        print(json.dumps(out))
        """

    static let methods = ["K-S p_value": DriftMethod.ks, "Z-test p_value": .z, "chi-square p_value": .chisquare,
                          "Wasserstein distance (normed)": .wasserstein, "Jensen-Shannon distance": .jensenshannon]

    /// Columns of every kind Evidently's rule tells apart: many numeric values, at most five, two,
    /// three categories and two; shifted in the current data by different amounts.
    static func mixed(rows: Int, seed: UInt64, shift: Double) -> String {
        var rng = SplitMix64(seed: seed)
        var csv = "amount,rating,flag,color,channel\n"
        for _ in 0..<rows {
            let amount = rng.normal() + shift
            let rating = Int(Double.random(in: 0..<5, using: &rng) + shift * 2) % 5
            let flag = Double.random(in: 0..<1, using: &rng) < 0.3 + shift / 4 ? 1 : 0
            let color = ["red", "green", "blue"][Int(Double.random(in: 0..<3, using: &rng) + shift) % 3]
            let channel = Double.random(in: 0..<1, using: &rng) < 0.5 ? "web" : "app"
            csv += "\(amount),\(rating),\(flag),\(color),\(channel)\n"
        }
        return csv
    }

    @Test(arguments: [(800, 500), (3000, 2000)])
    func methodsValuesAndDriftShareEqualEvidentlys(referenceRows: Int, currentRows: Int) async throws {
        let python = try PeerPython.require(["evidently", "pandas"])
        let ws = try Workspace()
        defer { ws.remove() }
        let reference = ws.root.appendingPathComponent("mixed-ref.csv").path, current = ws.root.appendingPathComponent("mixed-cur.csv").path
        try Self.mixed(rows: referenceRows, seed: 3, shift: 0).write(toFile: reference, atomically: true, encoding: .utf8)
        try Self.mixed(rows: currentRows, seed: 4, shift: 0.4).write(toFile: current, atomically: true, encoding: .utf8)
        let engine = try DriftMonitorEngine(dataDirectory: ws.dataDir, logger: RecordingLog().logger)
        try engine.apply(MonitorDefinition(name: "mixed", source: .dataset(current), reference: reference))
        let report = try #require(try await engine.run("mixed").report)
        let numerical = report.features.filter { $0.kind == .numerical }.map(\.feature).sorted()
        #expect(numerical == ["amount", "flag", "rating"])

        let data = try PeerPython.run(python, script: Self.oracle, arguments: [reference, current, numerical.joined(separator: ",")],
                                      environment: ["DO_NOT_TRACK": "1", "EVIDENTLY_DISABLE_TELEMETRY": "1"])
        let expected = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let columns = try #require(expected["columns"] as? [String: [String: Any]])
        for f in report.features {
            let e = try #require(columns[f.feature], "Evidently has no \(f.feature)")
            let method = try #require(Self.methods[e["method"] as? String ?? ""], "unknown Evidently method \(e["method"] ?? "")")
            #expect(f.method == method, "\(f.feature): mlinfra \(f.method), Evidently \(method) (\(referenceRows) reference rows)")
            let value = try #require(e["value"] as? Double)
            #expect(abs(f.value - value) <= 1e-9 * max(1, abs(value)), "\(f.feature) \(f.method): mlinfra \(f.value), Evidently \(value)")
        }
        #expect(Double(report.driftedCount) == expected["count"] as? Double, "drifted columns")
        let share = try #require(expected["share"] as? Double)
        #expect(report.datasetDrift == (share >= 0.5))
    }

    @Test func bonferroniAndBenjaminiHochbergHoldThePValuesToCorrectedThresholds() {
        let p = [0.001, 0.012, 0.02, 0.04, 0.3]
        #expect(MultipleTesting.bonferroni.thresholds(pValues: p, threshold: Array(repeating: 0.05, count: 5)) == Array(repeating: 0.01, count: 5))
        // BH at 0.05, m = 5: rank thresholds 0.01, 0.02, 0.03, 0.04, 0.05; the largest rank under its own is 4 (0.04 ≤ 0.04).
        let bh = MultipleTesting.benjaminiHochberg.thresholds(pValues: p, threshold: Array(repeating: 0.05, count: 5))
        #expect(zip(p, bh).map { $0 <= $1 && $1 > 0 } == [true, true, true, true, false])
        // statsmodels' multipletests(p, 0.05, "fdr_bh") rejects the same four.
        let none = MultipleTesting.benjaminiHochberg.thresholds(pValues: [0.2, 0.5], threshold: [0.05, 0.05])
        #expect(none == [0, 0])
    }
}
