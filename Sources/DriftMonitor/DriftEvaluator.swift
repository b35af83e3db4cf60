import Foundation

/// The outcome of one check on one feature.
public struct FeatureDrift: Sendable, Codable, Hashable {
    public var feature: String
    public var kind: ColumnKind
    public var method: DriftMethod
    /// The p-value or the distance, compared with `threshold`.
    public var value: Double
    public var threshold: Double
    public var drifted: Bool
    /// The test statistic behind a p-value (KS D, χ²), when there is one.
    public var statistic: Double?
    /// Whether the method was chosen by default (Evidently's rule) rather than by the check.
    public var defaultMethod: Bool
    public var referenceCount: Int
    public var currentCount: Int
    /// Reference and current proportions on shared bins, for plots.
    public var histogram: DriftStatistics.Binned
    /// The feature's missing values and their own drift check (nil in reports stored before
    /// missing values were counted).
    public var missing: MissingValues?
}

/// Missing values of one feature: counted in both datasets, left out of the drift statistic
/// (whose sample sizes are `referenceCount` and `currentCount`), and compared on their own.
///
/// The check is a two-proportion Z-test on the share of rows without a value (the test
/// Evidently applies to a binary column); it drifts when p < `threshold` (0.05).
public struct MissingValues: Sendable, Codable, Hashable {
    public var referenceMissing: Int
    public var referenceRows: Int
    public var currentMissing: Int
    public var currentRows: Int
    /// The Z-test p-value (1 when both shares are 0, or both 1).
    public var pValue: Double
    public var threshold: Double
    public var drifted: Bool

    public var referenceShare: Double { referenceRows == 0 ? 0 : Double(referenceMissing) / Double(referenceRows) }
    public var currentShare: Double { currentRows == 0 ? 0 : Double(currentMissing) / Double(currentRows) }

    public static let defaultThreshold = 0.05

    public init(referenceMissing: Int, referenceRows: Int, currentMissing: Int, currentRows: Int, threshold: Double = defaultThreshold) {
        self.referenceMissing = referenceMissing
        self.referenceRows = referenceRows
        self.currentMissing = currentMissing
        self.currentRows = currentRows
        self.threshold = threshold
        pValue = DriftStatistics.zTest(referenceCounts: [referenceRows - referenceMissing, referenceMissing],
                                       currentCounts: [currentRows - currentMissing, currentMissing])
        drifted = pValue < threshold
    }
}

/// The outcome of a monitor run over all its checks.
public struct DriftReport: Sendable, Codable, Hashable {
    public var monitor: String
    public var time: Date
    public var reference: String
    public var current: String
    public var referenceRows: Int
    public var currentRows: Int
    public var features: [FeatureDrift]
    public var driftedCount: Int
    /// Dataset drift when at least this share of the checked features drift (Evidently: 0.5).
    public var driftShare: Double
    public var datasetDrift: Bool
    /// The multiple-testing correction applied to the p-value checks, if any.
    public var correction: MultipleTesting?
    /// The model's performance on labelled captured predictions, per version (performance monitors).
    public var performance: PerformanceReport?
    /// Drift of the model's output (`performance.prediction`) in the window against the reference's
    /// column of it, labelled or not; not counted in `drift_share`.
    public var predictionDrift: FeatureDrift?

    /// Whether any feature's share of missing values drifted.
    public var missingDrift: Bool { features.contains { $0.missing?.drifted == true } }
    /// Whether the run alerts: dataset drift, a drifted share of missing values, or a version
    /// whose performance dropped by more than `max_drop`.
    public var alerting: Bool { datasetDrift || missingDrift || performance?.degraded == true || predictionDrift?.drifted == true }
    public var verdict: String { alerting ? "drift" : "no drift" }

    /// What the run alerts on, one key per problem: `drift:<feature>`, `missing:<feature>`,
    /// `prediction:<output>`, `performance:<version>` — deduplicated across runs until it resolves.
    public var alertKeys: Set<String> {
        var keys = Set<String>()
        if datasetDrift { for f in features where f.drifted { keys.insert("drift:\(f.feature)") } }
        for f in features where f.missing?.drifted == true { keys.insert("missing:\(f.feature)") }
        if let p = predictionDrift, p.drifted { keys.insert("prediction:\(p.feature)") }
        for v in performance?.versions ?? [] where v.degraded { keys.insert("performance:\(v.version)") }
        return keys
    }
}

/// Runs checks against a stored profile. Features are evaluated concurrently.
public enum DriftEvaluator {
    public static func evaluate(
        monitor: String, profile: ReferenceProfile, current: DataTable, currentSource: String,
        checks requested: [DriftCheck], driftShare: Double = 0.5, correction: MultipleTesting? = nil, time: Date = Date()
    ) throws -> DriftReport {
        let checks = requested.isEmpty
            ? profile.columns.keys.sorted().filter { current.columns[$0] != nil }.map { DriftCheck(feature: $0) }
            : requested
        guard !checks.isEmpty else {
            throw DriftError.badData("the current data (\(currentSource)) shares no column with the reference",
                                     remedy: "reference columns: \(profile.columns.keys.sorted().joined(separator: ", "))")
        }
        guard current.rowCount > 0 else {
            throw DriftError.badData("the current data (\(currentSource)) has no rows",
                                     remedy: "for an endpoint, widen the window or check that capture is on; for a dataset, check the file")
        }
        for check in checks {
            guard let column = profile.columns[check.feature] else {
                throw DriftError.badConfig("feature \"\(check.feature)\" is not a column of the reference \(profile.source)",
                                           remedy: "reference columns: \(profile.columns.keys.sorted().joined(separator: ", "))")
            }
            guard current.columns[check.feature] != nil else {
                throw DriftError.badData("feature \"\(check.feature)\" is missing from the current data (\(currentSource))",
                                         remedy: "the current data must carry every checked feature")
            }
            if let m = check.method, !m.applies(to: column.kind) {
                throw DriftError.badConfig("method \(m.rawValue) does not apply to the categorical feature \"\(check.feature)\"",
                                           remedy: "use chisquare, z, jensenshannon or psi for categorical features")
            }
            if let t = check.threshold, !(t.isFinite && t >= 0) {
                throw DriftError.badConfig("threshold \(t) for \"\(check.feature)\" is not a non-negative number", remedy: "use e.g. 0.05 or 0.1")
            }
        }
        let results = ResultSlots(count: checks.count)
        DispatchQueue.concurrentPerform(iterations: checks.count) { i in
            let check = checks[i]
            let column = profile.columns[check.feature]!
            results.set(i, Result {
                var drift = try evaluate(check: check, column: column, sortedReference: profile.sorted[check.feature],
                                         current: current.columns[check.feature]!)
                drift.missing = MissingValues(referenceMissing: column.missing ?? 0, referenceRows: profile.rowCount,
                                              currentMissing: current.missingCount(check.feature), currentRows: current.rowCount)
                return drift
            })
        }
        var features = [FeatureDrift]()
        for i in 0..<checks.count { features.append(try results.get(i).get()) }
        if let correction { correct(&features, correction) }
        let drifted = features.filter(\.drifted).count
        return DriftReport(
            monitor: monitor, time: time, reference: profile.source, current: currentSource,
            referenceRows: profile.rowCount, currentRows: current.rowCount, features: features,
            driftedCount: drifted, driftShare: driftShare,
            datasetDrift: Double(drifted) >= driftShare * Double(features.count), correction: correction)
    }

    /// Holds the p-value checks with a value to the corrected thresholds.
    static func correct(_ features: inout [FeatureDrift], _ correction: MultipleTesting) {
        let tested = features.indices.filter { features[$0].method.isPValue && features[$0].value.isFinite }
        guard tested.count > 1 else { return }
        let thresholds = correction.thresholds(pValues: tested.map { features[$0].value }, threshold: tested.map { features[$0].threshold })
        for (j, i) in tested.enumerated() {
            features[i].threshold = thresholds[j]
            // Benjamini–Hochberg includes the k-th p-value itself; Bonferroni keeps each method's rule.
            features[i].drifted = correction == .benjaminiHochberg
                ? features[i].value <= thresholds[j] && thresholds[j] > 0
                : features[i].method.drifts(features[i].value, threshold: thresholds[j])
        }
    }

    final class ResultSlots: @unchecked Sendable {
        // Safe: each concurrent worker writes only its own index; reads follow the join.
        private var slots: [Result<FeatureDrift, any Error>?]
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ v: Result<FeatureDrift, any Error>) { slots.withUnsafeMutableBufferPointer { $0[i] = v } }
        func get(_ i: Int) -> Result<FeatureDrift, any Error> { slots[i]! }
    }

    static func evaluate(check: DriftCheck, column: ColumnProfile, sortedReference: [Double]?, current: ColumnValues) throws -> FeatureDrift {
        if current.count == 0 { return unmeasured(check: check, column: column) }
        switch (column.kind, current) {
        case (.numerical, .numerical(let values)):
            guard let ref = sortedReference else {
                throw DriftError.badData("the stored profile lacks the values of \"\(column.name)\"", remedy: "re-profile the reference (apply again)")
            }
            if let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw DriftError.badData("feature \"\(column.name)\" has a NaN or infinite value at row \(bad + 1) of the current data",
                                         remedy: "drift statistics refuse NaN; drop or impute those rows first")
            }
            var cur = values
            RadixSort.sort(&cur)
            return ref.withUnsafeBufferPointer { a in
                cur.withUnsafeBufferPointer { b in numerical(check: check, column: column, a, b) }
            }
        case (.categorical, .categorical(let labels)):
            return categorical(check: check, column: column, labels: labels)
        case (.categorical, .numerical(let values)):
            // Numbers in the current data for a categorical reference column: compare as labels.
            return categorical(check: check, column: column, labels: values.map(DriftStatistics.formatNumber))
        case (.numerical, .categorical):
            throw DriftError.badData("feature \"\(column.name)\" is numerical in the reference but not in the current data",
                                     remedy: "the current data must hold numbers in that column")
        }
    }

    /// A feature without a single value in the current data: no statistic (NaN), no drift
    /// verdict of its own; its missing-value check tells what happened.
    static func unmeasured(check: DriftCheck, column: ColumnProfile) -> FeatureDrift {
        let method = check.method ?? DriftMethod.defaultMethod(kind: column.kind, referenceCount: column.count, distinctValues: column.distinct)
        return FeatureDrift(
            feature: column.name, kind: column.kind, method: method, value: .nan, threshold: check.threshold ?? method.defaultThreshold,
            drifted: false, statistic: nil, defaultMethod: check.method == nil, referenceCount: column.count, currentCount: 0,
            histogram: DriftStatistics.Binned(edges: nil, labels: [], reference: [], current: []))
    }

    static func numerical(check: DriftCheck, column: ColumnProfile, _ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> FeatureDrift {
        let method = check.method ?? DriftMethod.defaultMethod(
            kind: .numerical, referenceCount: a.count, distinctValues: DriftStatistics.distinctCount(sorted: a, b, limit: 5))
        let threshold = check.threshold ?? method.defaultThreshold
        var statistic: Double?
        let value: Double
        switch method {
        case .psi:
            value = DriftStatistics.psi(sortedReference: a, sortedCurrent: b, innerEdges: column.psiEdges ?? DriftStatistics.psiEdges(sortedReference: a)).value
        case .ks:
            let r = KolmogorovSmirnov.test(sortedReference: a, sortedCurrent: b)
            value = r.pValue
            statistic = r.statistic
        case .wasserstein:
            value = DriftStatistics.wasserstein(sortedReference: a, sortedCurrent: b) / max(column.std ?? 0, 0.001)
        case .jensenshannon:
            let bins = DriftStatistics.evidentlyBins(sortedReference: a, sortedCurrent: b, referenceDistinct: column.distinct)
            value = DriftStatistics.jensenShannon(bins.reference, bins.current)
        case .chisquare:
            let aligned = DriftStatistics.alignedCounts(sorted: a, b)
            let r = DriftStatistics.chiSquared(referenceCounts: aligned.reference, currentCounts: aligned.current,
                                               referenceTotal: a.count, currentTotal: b.count)
            value = r.pValue
            statistic = r.statistic
        case .z:
            let aligned = DriftStatistics.alignedCounts(sorted: a, b)
            value = DriftStatistics.zTest(referenceCounts: aligned.reference, currentCounts: aligned.current)
        }
        return FeatureDrift(
            feature: column.name, kind: .numerical, method: method, value: value, threshold: threshold,
            drifted: method.drifts(value, threshold: threshold), statistic: statistic, defaultMethod: check.method == nil,
            referenceCount: a.count, currentCount: b.count, histogram: displayHistogram(a, b))
    }

    /// Up to 30 equal-width bins over the joint range (Sturges' count when smaller), or one
    /// bar per value for columns with at most 20 distinct values.
    static func displayHistogram(_ a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>) -> DriftStatistics.Binned {
        if DriftStatistics.distinctCount(sorted: a, b, limit: 20) <= 20 {
            let aligned = DriftStatistics.alignedCounts(sorted: a, b)
            return DriftStatistics.Binned(edges: nil, labels: aligned.values.map(DriftStatistics.formatNumber),
                                          reference: aligned.reference.map { Double($0) / Double(a.count) },
                                          current: aligned.current.map { Double($0) / Double(b.count) })
        }
        let lo = min(a[0], b[0]), hi = max(a[a.count - 1], b[b.count - 1])
        let sturges = Int((log2(Double(a.count + b.count)) + 1).rounded(.up))
        let edges = NumericKernels.linspace(lo, hi, min(max(sturges, 5), 30) + 1)
        return DriftStatistics.Binned(
            edges: edges, labels: nil,
            reference: NumericKernels.histogram(sorted: a, edges: edges).map { Double($0) / Double(a.count) },
            current: NumericKernels.histogram(sorted: b, edges: edges).map { Double($0) / Double(b.count) })
    }

    static func categorical(check: DriftCheck, column: ColumnProfile, labels: [String]) -> FeatureDrift {
        var currentCounts = [String: Int]()
        for l in labels { currentCounts[l, default: 0] += 1 }
        let referenceCounts = column.categories ?? [:]
        let keys = Set(referenceCounts.keys).union(currentCounts.keys).sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
        let r = keys.map { referenceCounts[$0] ?? 0 }, c = keys.map { currentCounts[$0] ?? 0 }
        let nRef = column.count, nCur = labels.count
        let method = check.method ?? DriftMethod.defaultMethod(kind: .categorical, referenceCount: nRef, distinctValues: keys.count)
        let threshold = check.threshold ?? method.defaultThreshold
        let rp = r.map { Double($0) / Double(nRef) }, cp = c.map { Double($0) / Double(nCur) }
        var statistic: Double?
        let value: Double
        switch method {
        case .chisquare:
            let x = DriftStatistics.chiSquared(referenceCounts: r, currentCounts: c, referenceTotal: nRef, currentTotal: nCur)
            value = x.pValue
            statistic = x.statistic
        case .z:
            value = DriftStatistics.zTest(referenceCounts: r, currentCounts: c)
        case .jensenshannon:
            value = DriftStatistics.jensenShannon(rp, cp)
        default:
            // PSI on categories: one bin per category, the same empty-bin rule as for numbers.
            value = DriftStatistics.psi(referenceProportions: rp, currentProportions: cp)
        }
        return FeatureDrift(
            feature: column.name, kind: .categorical, method: method, value: value, threshold: threshold,
            drifted: method.drifts(value, threshold: threshold), statistic: statistic, defaultMethod: check.method == nil,
            referenceCount: nRef, currentCount: nCur,
            histogram: DriftStatistics.Binned(edges: nil, labels: keys, reference: rp, current: cp))
    }
}
