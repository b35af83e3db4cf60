import Foundation
import HTTPTesting
import MLInfraTesting
import Testing

@testable import DriftMonitor

/// Windows of labelled predictions on which scikit-learn is the oracle: ties, one-class windows,
/// scores of exactly 0, 0.5 and 1, no predicted positive, constant true values.
struct MetricFixtures: Encodable {
    struct Classification: Encodable { var name: String; var labels: [Double]; var scores: [Double] }
    struct Regression: Encodable { var name: String; var truth: [Double]; var predictions: [Double] }
    var classification: [Classification] = []
    var regression: [Regression] = []

    static func make() -> MetricFixtures {
        var rng = SplitMix64(seed: 2026)
        var f = MetricFixtures()
        // Scores rounded to one decimal: a few hundred ties per value.
        var labels = [Double](), scores = [Double]()
        for _ in 0..<3000 {
            let y = Double.random(in: 0..<1, using: &rng) < 0.3 ? 1.0 : 0.0
            labels.append(y)
            scores.append((min(1, max(0, 0.35 * y + Double.random(in: 0..<0.7, using: &rng))) * 10).rounded() / 10)
        }
        f.classification.append(.init(name: "ties", labels: labels, scores: scores))
        // Continuous scores past the radix sort's small-input cut-off.
        labels = []; scores = []
        for _ in 0..<20000 {
            let y = Double.random(in: 0..<1, using: &rng) < 0.1 ? 1.0 : 0.0
            labels.append(y)
            scores.append(1 / (1 + exp(-(2 * y - 1.2 + rng.normal()))))
        }
        f.classification.append(.init(name: "continuous", labels: labels, scores: scores))
        f.classification.append(.init(name: "only positives", labels: [1, 1, 1, 1], scores: [0.9, 0.2, 0.5, 0.7]))
        f.classification.append(.init(name: "only negatives", labels: [0, 0, 0], scores: [0.1, 0.6, 0.0]))
        f.classification.append(.init(name: "certain scores", labels: [0, 1, 1, 0, 1, 0], scores: [0, 1, 0, 1, 0.5, 0.5]))
        f.classification.append(.init(name: "no predicted positive", labels: [0, 1, 0, 1], scores: [0.1, 0.2, 0.3, 0.5]))
        f.classification.append(.init(name: "all tied", labels: [0, 1, 0, 1, 1], scores: [0.4, 0.4, 0.4, 0.4, 0.4]))
        var truth = [Double](), predictions = [Double]()
        for _ in 0..<5000 {
            let t = 100 + 15 * rng.normal()
            truth.append(t)
            predictions.append(t + 4 * rng.normal())
        }
        f.regression.append(.init(name: "normal", truth: truth, predictions: predictions))
        f.regression.append(.init(name: "constant exact", truth: [3, 3, 3], predictions: [3, 3, 3]))
        f.regression.append(.init(name: "constant inexact", truth: [3, 3, 3], predictions: [3, 4, 3]))
        f.regression.append(.init(name: "one value", truth: [2], predictions: [5]))
        return f
    }
}

@Suite struct PerformanceMetricsTests {
    static let oracle = """
        import json, sys, warnings
        import numpy as np
        from sklearn import metrics as m
        warnings.simplefilter("ignore")
        f = json.load(open(sys.argv[1]))
        out = {"classification": {}, "regression": {}}
        for c in f["classification"]:
            y, p = np.array(c["labels"]), np.array(c["scores"])
            pred = (p > 0.5).astype(int)
            auc = m.roc_auc_score(y, p) if len(np.unique(y)) == 2 else None
            if auc is not None and np.isnan(auc): auc = None
            out["classification"][c["name"]] = {
                "accuracy": m.accuracy_score(y, pred), "precision": m.precision_score(y, pred, zero_division=0),
                "recall": m.recall_score(y, pred, zero_division=0), "f1": m.f1_score(y, pred, zero_division=0),
                "roc_auc": auc, "log_loss": m.log_loss(y, p, labels=[0, 1]),
                "roc_curve": [list(a) for a in m.roc_curve(y, p, drop_intermediate=False)[:2]] if auc is not None else None}
        for r in f["regression"]:
            t, p = np.array(r["truth"]), np.array(r["predictions"])
            r2 = m.r2_score(t, p)
            out["regression"][r["name"]] = {"mae": m.mean_absolute_error(t, p), "rmse": m.root_mean_squared_error(t, p),
                                            "r2": None if np.isnan(r2) else r2}
        print(json.dumps(out))
        """

    @Test func metricsEqualScikitLearnsOnTiesAndOneClassWindows() throws {
        let python = try PeerPython.require(["sklearn", "numpy"])
        let fixtures = MetricFixtures.make()
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).json")
        try JSONEncoder().encode(fixtures).write(to: input)
        defer { try? FileManager.default.removeItem(at: input) }
        let data = try PeerPython.run(python, script: Self.oracle, arguments: [input.path])
        let expected = try #require(try JSONSerialization.jsonObject(with: data) as? [String: [String: [String: Any]]])

        func close(_ a: Double?, _ b: Any?, _ what: String) {
            guard let b = b as? Double else {
                #expect(a == nil, "\(what): scikit-learn has no value, mlinfra has \(a.map { "\($0)" } ?? "nil")")
                return
            }
            guard let a else { Issue.record("\(what): mlinfra has no value, scikit-learn has \(b)"); return }
            #expect(abs(a - b) <= 1e-9 * max(1, abs(b)), "\(what): mlinfra \(a), scikit-learn \(b)")
        }
        for c in fixtures.classification {
            let m = try #require(ClassificationMetrics(labels: c.labels, scores: c.scores))
            let e = try #require(expected["classification"]?[c.name])
            close(m.accuracy, e["accuracy"], "\(c.name) accuracy")
            close(m.precision, e["precision"], "\(c.name) precision")
            close(m.recall, e["recall"], "\(c.name) recall")
            close(m.f1, e["f1"], "\(c.name) f1")
            close(m.rocAUC, e["roc_auc"], "\(c.name) roc_auc")
            close(m.logLoss, e["log_loss"], "\(c.name) log_loss")
            let curve = ClassificationMetrics.rocCurve(labels: c.labels, scores: c.scores)
            if let sk = e["roc_curve"] as? [[Double]] {
                // Equal up to how Foundation's JSON reading rounds the 17 printed digits.
                #expect(curve.count == sk[0].count, "\(c.name) roc_curve has \(curve.count) points, scikit-learn \(sk[0].count)")
                for (k, point) in curve.enumerated() where k < sk[0].count {
                    #expect(abs(point.fpr - sk[0][k]) <= 1e-15 && abs(point.tpr - sk[1][k]) <= 1e-15, "\(c.name) roc_curve point \(k)")
                }
            } else {
                #expect(curve.isEmpty)
            }
        }
        for r in fixtures.regression {
            let m = try #require(RegressionMetrics(truth: r.truth, predictions: r.predictions))
            let e = try #require(expected["regression"]?[r.name])
            close(m.mae, e["mae"], "\(r.name) mae")
            close(m.rmse, e["rmse"], "\(r.name) rmse")
            close(m.r2, e["r2"], "\(r.name) r2")
        }
    }

    @Test func emptyWindowsHaveNoMetrics() {
        #expect(ClassificationMetrics(labels: [], scores: []) == nil)
        #expect(RegressionMetrics(truth: [], predictions: []) == nil)
    }
}
