import Foundation

/// Metrics of a binary classifier's scores against labels, as scikit-learn defines them.
///
/// Label 1 is the positive class; the predicted class is 1 when the score is above `threshold`
/// (0.5: what XGBoost's and scikit-learn's `predict` do with a probability). Windows with one
/// class are defined, never a crash: precision, recall and F1 are 0 where their denominator is
/// 0 (scikit-learn's `zero_division` default), ROC AUC is nil (scikit-learn: NaN with a
/// warning), and log loss is computed over the labels {0, 1} (scikit-learn with `labels=[0, 1]`).
public struct ClassificationMetrics: Sendable, Codable, Hashable {
    public var count: Int
    public var positives: Int
    public var accuracy: Double
    public var precision: Double
    public var recall: Double
    public var f1: Double
    /// nil when the window holds one class only.
    public var rocAUC: Double?
    public var logLoss: Double

    enum CodingKeys: String, CodingKey {
        case count, positives, accuracy, precision, recall, f1, rocAUC = "roc_auc", logLoss = "log_loss"
    }

    /// Computes every metric; `labels` are 0 or 1, `scores` probabilities of class 1. Empty input gives nil.
    public init?(labels: [Double], scores: [Double], threshold: Double = 0.5) {
        precondition(labels.count == scores.count, "one score per label")
        guard !labels.isEmpty else { return nil }
        count = labels.count
        let c = Confusion(labels: labels, scores: scores, threshold: threshold)
        positives = c.tp + c.fn
        accuracy = Double(c.tp + c.tn) / Double(count)
        precision = c.tp + c.fp == 0 ? 0 : Double(c.tp) / Double(c.tp + c.fp)
        recall = c.tp + c.fn == 0 ? 0 : Double(c.tp) / Double(c.tp + c.fn)
        f1 = c.f1
        // scikit-learn: the row [1 − p, p], each clipped to [eps, 1 − eps], then −log of the true class.
        let eps = Double.ulpOfOne
        var losses = [Double](repeating: 0, count: count)
        for i in 0..<count {
            let p = labels[i] == 1 ? scores[i] : 1 - scores[i]
            losses[i] = -Foundation.log(min(max(p, eps), 1 - eps))
        }
        logLoss = NumericKernels.pairwiseSum(losses) / Double(count)
        rocAUC = Self.rocAUC(labels: labels, scores: scores)
    }

    /// F1 of the class predicted at `threshold`, on its own.
    public static func f1(labels: [Double], scores: [Double], threshold: Double = 0.5) -> Double {
        Confusion(labels: labels, scores: scores, threshold: threshold).f1
    }

    /// The confusion counts at a threshold.
    struct Confusion {
        var tp: Int, fp: Int, fn: Int, tn: Int
        init(labels: [Double], scores: [Double], threshold: Double) {
            var tp = 0, fp = 0, fn = 0
            labels.withUnsafeBufferPointer { y in
                scores.withUnsafeBufferPointer { s in
                    // Branch-free counts: a million labels take a few passes of the adder, not a million mispredictions.
                    var positives = 0, predicted = 0
                    for i in 0..<y.count {
                        let isPositive = y[i] == 1 ? 1 : 0, isPredicted = s[i] > threshold ? 1 : 0
                        tp &+= isPositive & isPredicted
                        positives &+= isPositive
                        predicted &+= isPredicted
                    }
                    fp = predicted - tp
                    fn = positives - tp
                }
            }
            (self.tp, self.fp, self.fn, tn) = (tp, fp, fn, labels.count - tp - fp - fn)
        }
        /// As scikit-learn computes it (2·tp / (2·tp + fp + fn)), 0 when that is 0 / 0.
        var f1: Double { 2 * tp + fp + fn == 0 ? 0 : Double(2 * tp) / Double(2 * tp + fp + fn) }
    }

    /// The area under the ROC curve as the Mann–Whitney statistic: the share of (positive,
    /// negative) pairs the scores order rightly, ties counting one half — the same number as
    /// scikit-learn's trapezoids over the curve with tied scores merged. The positives' and the
    /// negatives' scores are radix-sorted apart (as order-preserving integer keys) and counted in
    /// one merge, in O(n) after the sorts.
    public static func rocAUC(labels: [Double], scores: [Double]) -> Double? {
        // The scores' order-preserving keys, per class (−0 as +0, so equal scores have equal keys).
        var positive = [UInt64](), negative = [UInt64]()
        let positives = labels.reduce(0) { $0 + ($1 == 1 ? 1 : 0) }
        positive.reserveCapacity(positives)
        negative.reserveCapacity(labels.count - positives)
        labels.withUnsafeBufferPointer { y in
            scores.withUnsafeBufferPointer { s in
                for i in 0..<y.count {
                    let key = RadixSort.key(s[i] == 0 ? 0 : s[i])
                    if y[i] == 1 { positive.append(key) } else { negative.append(key) }
                }
            }
        }
        guard !positive.isEmpty && !negative.isEmpty else { return nil }
        RadixSort.sortKeys(&positive)
        RadixSort.sortKeys(&negative)
        // Twice the U statistic, in integers: exact up to 2^63 pairs.
        var twiceU = 0
        var below = 0
        var i = 0
        positive.withUnsafeBufferPointer { p in
            negative.withUnsafeBufferPointer { n in
                while i < p.count {
                    let value = p[i]
                    var same = 1
                    while i + same < p.count && p[i + same] == value { same += 1 }
                    while below < n.count && n[below] < value { below += 1 }
                    var ties = 0
                    while below + ties < n.count && n[below + ties] == value { ties += 1 }
                    twiceU += same * (2 * below + ties)
                    i += same
                }
            }
        }
        return Double(twiceU) / (2 * Double(positive.count) * Double(negative.count))
    }

    /// The ROC curve's points (false positive rate, true positive rate), one per distinct score
    /// from the highest down, starting at (0, 0) — scikit-learn's `roc_curve` with `drop_intermediate=False`.
    public static func rocCurve(labels: [Double], scores: [Double]) -> [(fpr: Double, tpr: Double)] {
        let (positive, negative) = sortedByClass(labels: labels, scores: scores)
        guard !positive.isEmpty && !negative.isEmpty else { return [] }
        var points = [(fpr: 0.0, tpr: 0.0)]
        var p = positive.count, n = negative.count  // indices past the last unvisited score of each class
        while p > 0 || n > 0 {
            let next = max(p > 0 ? positive[p - 1] : -.infinity, n > 0 ? negative[n - 1] : -.infinity)
            while p > 0 && positive[p - 1] == next { p -= 1 }
            while n > 0 && negative[n - 1] == next { n -= 1 }
            points.append((Double(negative.count - n) / Double(negative.count), Double(positive.count - p) / Double(positive.count)))
        }
        return points
    }

    static func sortedByClass(labels: [Double], scores: [Double]) -> (positive: [Double], negative: [Double]) {
        var positive = [Double](), negative = [Double]()
        positive.reserveCapacity(labels.count)
        negative.reserveCapacity(labels.count)
        for i in 0..<labels.count {
            if labels[i] == 1 { positive.append(scores[i]) } else { negative.append(scores[i]) }
        }
        RadixSort.sort(&positive)
        RadixSort.sort(&negative)
        return (positive, negative)
    }
}

/// Metrics of a regressor's predictions against the true values, as scikit-learn defines them.
/// R² of a window whose true values are all equal is 1 when the predictions are exact, else 0
/// (scikit-learn's `force_finite`); of a window of one value it is nil (scikit-learn: NaN).
public struct RegressionMetrics: Sendable, Codable, Hashable {
    public var count: Int
    public var mae: Double
    public var rmse: Double
    public var r2: Double?

    public init?(truth: [Double], predictions: [Double]) {
        precondition(truth.count == predictions.count, "one prediction per true value")
        guard !truth.isEmpty else { return nil }
        count = truth.count
        let n = Double(count)
        let mean = NumericKernels.pairwiseSum(truth) / n
        var absolute = [Double](repeating: 0, count: count), squared = absolute, spread = absolute
        for i in 0..<count {
            let e = truth[i] - predictions[i]
            absolute[i] = abs(e)
            squared[i] = e * e
            spread[i] = (truth[i] - mean) * (truth[i] - mean)
        }
        mae = NumericKernels.pairwiseSum(absolute) / n
        let sse = NumericKernels.pairwiseSum(squared)
        rmse = (sse / n).squareRoot()
        let sst = NumericKernels.pairwiseSum(spread)
        r2 = count < 2 ? nil : sst == 0 ? (sse == 0 ? 1 : 0) : 1 - sse / sst
    }
}
