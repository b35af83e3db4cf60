import CaptureStorage
import Foundation

/// A metric a performance monitor can compare with its reference.
public enum PerformanceMetric: String, Sendable, Codable, CaseIterable, Hashable {
    case accuracy, precision, recall, f1, rocAUC = "roc_auc", logLoss = "log_loss", mae, rmse, r2

    /// Whether a larger value is better (so a drop is a decrease); log loss, MAE and RMSE drop by rising.
    public var higherIsBetter: Bool {
        switch self {
        case .logLoss, .mae, .rmse: false
        default: true
        }
    }

    public var task: PerformanceSpec.Task {
        switch self {
        case .mae, .rmse, .r2: .regression
        default: .classification
        }
    }
}

/// What a performance monitor measures: the model's predictions on an endpoint's captured
/// traffic against true values that arrive later, compared with the same metric on the
/// reference dataset (which holds a `label` and a `prediction` column).
public struct PerformanceSpec: Sendable, Hashable, Codable {
    public enum Task: String, Sendable, Codable, Hashable { case classification, regression }
    public var task: Task
    /// The reference CSV's column of true values.
    public var label: String
    /// The model output scored: a key of the captured outputs and a column of the reference CSV.
    public var prediction: String
    public var metric: PerformanceMetric
    /// Alert when the metric is worse than the reference's by more than this.
    public var maxDrop: Double
    /// A CSV of labels, read at each run, besides those posted to `/feedback`: `request_id,label`,
    /// or the entity's join key columns, a time column (`event_timestamp` or `time`) and `label`.
    public var labels: String?
    /// A classifier's predicted class is 1 when its score is above this.
    public var threshold: Double

    public init(task: Task, label: String = "label", prediction: String = "prediction", metric: PerformanceMetric? = nil,
                maxDrop: Double, labels: String? = nil, threshold: Double = 0.5) {
        self.task = task
        self.label = label
        self.prediction = prediction
        self.metric = metric ?? (task == .classification ? .rocAUC : .rmse)
        self.maxDrop = maxDrop
        self.labels = labels
        self.threshold = threshold
    }

    public var problems: [String] {
        var out = [String]()
        if metric.task != task { out.append("performance.metric \(metric.rawValue) is a \(metric.task.rawValue) metric, the task is \(task.rawValue)") }
        if !(maxDrop.isFinite && maxDrop >= 0) { out.append("performance.max_drop must be a non-negative number such as 0.05") }
        if !(threshold > 0 && threshold < 1) && task == .classification { out.append("performance.threshold must be in (0, 1)") }
        return out
    }
}

/// One window's (or the reference's) metrics of one task.
public struct MetricValues: Sendable, Codable, Hashable {
    public var classification: ClassificationMetrics?
    public var regression: RegressionMetrics?

    public init?(task: PerformanceSpec.Task, truth: [Double], predictions: [Double], threshold: Double) {
        switch task {
        case .classification:
            guard let m = ClassificationMetrics(labels: truth, scores: predictions, threshold: threshold) else { return nil }
            classification = m
        case .regression:
            guard let m = RegressionMetrics(truth: truth, predictions: predictions) else { return nil }
            regression = m
        }
    }

    public func value(_ metric: PerformanceMetric) -> Double? {
        switch metric {
        case .accuracy: classification?.accuracy
        case .precision: classification?.precision
        case .recall: classification?.recall
        case .f1: classification?.f1
        case .rocAUC: classification?.rocAUC
        case .logLoss: classification?.logLoss
        case .mae: regression?.mae
        case .rmse: regression?.rmse
        case .r2: regression?.r2
        }
    }
}

/// One model version's performance over a monitor's window.
public struct VersionPerformance: Sendable, Codable, Hashable {
    public var version: String
    /// Captured predictions in the window, and how many of them have a label.
    public var predictions: Int
    public var labelled: Int
    public var metrics: MetricValues?
    /// The monitored metric, nil when undefined (no label; ROC AUC of a one-class window).
    public var value: Double?
    /// How much worse than the reference (positive is worse), when both are defined.
    public var drop: Double?
    public var degraded: Bool
    /// ROC curve points (false positive rate, true positive rate), at most 101, for plots.
    public var rocCurve: [[Double]]?

    public var coverage: Double { predictions == 0 ? 0 : Double(labelled) / Double(predictions) }
}

/// The performance part of a run.
public struct PerformanceReport: Sendable, Codable, Hashable {
    public var metric: PerformanceMetric
    public var maxDrop: Double
    public var reference: MetricValues?
    public var referenceValue: Double?
    public var versions: [VersionPerformance]
    public var degraded: Bool { versions.contains(where: \.degraded) }
    public var labelled: Int { versions.reduce(0) { $0 + $1.labelled } }
    public var predictions: Int { versions.reduce(0) { $0 + $1.predictions } }
    /// Labels that matched no captured prediction of the window (an unknown request id or entity,
    /// or an entity label older than the entity's first prediction); nil in runs stored before it was counted.
    public var unmatchedLabels: Int?
}

/// Joins captured predictions with the labels that arrived later, and measures each version.
public enum PerformanceEvaluator {
    /// Per version: the true values and the predictions of the labelled captures, and the count of captures.
    struct Joined { var truth: [Double] = []; var predictions: [Double] = []; var captured = 0 }

    /// A label belongs to the capture with its request id; an entity label to the entity's latest
    /// capture at or before the label's time. A later label for the same prediction replaces an earlier
    /// one: later received, then (entity labels) later in time, then later in the list. Returns each
    /// version's join and the count of labels that matched no capture.
    static func join(captures: [CaptureRecord], labels: [LabelRecord], prediction: String) throws -> (versions: [String: Joined], unmatched: Int) {
        var byRequest = [String: Int](), byEntity = [String: [Int]]()
        for (i, c) in captures.enumerated() {
            if let r = c.requestID { byRequest[r] = i }
            if let e = c.entity { byEntity[e, default: []].append(i) }  // captures come in time order
        }
        var labelOf = [Int: Double](), unmatched = 0
        let ordered = labels.indices.sorted { a, b in
            let (x, y) = (labels[a], labels[b])
            if x.received != y.received { return x.received < y.received }
            if (x.time ?? -.infinity) != (y.time ?? -.infinity) { return (x.time ?? -.infinity) < (y.time ?? -.infinity) }
            return a < b
        }
        for l in ordered.map({ labels[$0] }) {
            if let r = l.requestID, let i = byRequest[r] {
                labelOf[i] = l.label
            } else if let e = l.entity, let t = l.time, let list = byEntity[e] {
                // The last capture of the entity with time ≤ t.
                var lo = 0, hi = list.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if captures[list[mid]].time <= t { lo = mid + 1 } else { hi = mid }
                }
                if lo > 0 { labelOf[list[lo - 1]] = l.label } else { unmatched += 1 }
            } else {
                unmatched += 1
            }
        }
        var out = [String: Joined]()
        for (i, c) in captures.enumerated() {
            out[c.version, default: Joined()].captured += 1
            guard let label = labelOf[i] else { continue }
            out[c.version]!.truth.append(label)
            out[c.version]!.predictions.append(try predictionValue(c, prediction))
        }
        return (out, unmatched)
    }

    static func predictionValue(_ c: CaptureRecord, _ name: String) throws -> Double {
        let outputs = (try? JSONSerialization.jsonObject(with: Data(c.outputs.utf8))) as? [String: Any] ?? [:]
        guard let n = outputs[name] as? NSNumber, n.doubleValue.isFinite else {
            throw DriftError.badData("capture row \(c.id ?? 0) of endpoint \(c.endpoint) has no numeric output \"\(name)\"",
                                     remedy: "set performance.prediction to one of the model's outputs: \(outputs.keys.sorted().joined(separator: ", "))")
        }
        return n.doubleValue
    }

    public static func evaluate(spec: PerformanceSpec, reference: MetricValues?, captures: [CaptureRecord], labels: [LabelRecord]) throws -> PerformanceReport {
        let (joined, unmatched) = try join(captures: captures, labels: labels, prediction: spec.prediction)
        let referenceValue = reference?.value(spec.metric)
        var versions = [VersionPerformance]()
        for (version, j) in joined.sorted(by: { $0.key < $1.key }) {
            let metrics = MetricValues(task: spec.task, truth: j.truth, predictions: j.predictions, threshold: spec.threshold)
            let value = metrics?.value(spec.metric)
            var drop: Double?
            if let value, let referenceValue { drop = spec.metric.higherIsBetter ? referenceValue - value : value - referenceValue }
            var curve: [[Double]]?
            if spec.task == .classification {
                let points = ClassificationMetrics.rocCurve(labels: j.truth, scores: j.predictions)
                if !points.isEmpty {
                    let step = max(1, points.count / 100)
                    curve = stride(from: 0, to: points.count, by: step).map { [points[$0].fpr, points[$0].tpr] }
                    if curve?.last != [1, 1] { curve?.append([1, 1]) }
                }
            }
            versions.append(VersionPerformance(version: version, predictions: j.captured, labelled: j.truth.count, metrics: metrics,
                                               value: value, drop: drop, degraded: (drop ?? 0) > spec.maxDrop, rocCurve: curve))
        }
        return PerformanceReport(metric: spec.metric, maxDrop: spec.maxDrop, reference: reference, referenceValue: referenceValue,
                                 versions: versions, unmatchedLabels: unmatched)
    }

    /// The reference's metrics, from its label and prediction columns.
    public static func reference(spec: PerformanceSpec, table: DataTable, source: String) throws -> MetricValues? {
        func column(_ name: String, _ what: String) throws -> [Double] {
            guard let c = table.columns[name] else {
                throw DriftError.badConfig("the reference \(source) has no \(what) column \"\(name)\"",
                                           remedy: "add it, or set performance.\(what) to one of: \(table.columns.keys.sorted().joined(separator: ", "))")
            }
            guard case .numerical(let v) = c, table.missingCount(name) == 0 else {
                throw DriftError.badData("the reference \(source): column \"\(name)\" must hold a number in every row", remedy: "labels are 0/1 or numbers")
            }
            return v
        }
        let truth = try column(spec.label, "label"), predictions = try column(spec.prediction, "prediction")
        return MetricValues(task: spec.task, truth: truth, predictions: predictions, threshold: spec.threshold)
    }
}
