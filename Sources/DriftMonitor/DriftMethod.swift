/// A drift test or distance, named as Evidently names them.
public enum DriftMethod: String, Sendable, Codable, CaseIterable, Hashable {
    case psi
    case ks
    case wasserstein
    case jensenshannon
    case chisquare
    case z

    /// Whether the value is a p-value (drift when small) or a distance (drift when large).
    public var isPValue: Bool {
        switch self {
        case .ks, .chisquare, .z: true
        case .psi, .wasserstein, .jensenshannon: false
        }
    }

    /// Evidently's defaults: 0.05 for p-values, 0.1 for distances.
    public var defaultThreshold: Double { isPValue ? 0.05 : 0.1 }

    /// Evidently's verdicts: KS drifts when p ≤ threshold, the other tests when p < threshold,
    /// distances when value ≥ threshold.
    public func drifts(_ value: Double, threshold: Double) -> Bool {
        switch self {
        case .ks: value <= threshold
        case .chisquare, .z: value < threshold
        case .psi, .wasserstein, .jensenshannon: value >= threshold
        }
    }

    public var displayName: String {
        switch self {
        case .psi: "PSI (10 reference-quantile bins)"
        case .ks: "Kolmogorov–Smirnov p-value"
        case .wasserstein: "Wasserstein distance (normed)"
        case .jensenshannon: "Jensen–Shannon distance"
        case .chisquare: "chi-squared p-value"
        case .z: "Z-test p-value"
        }
    }

    /// Whether the method applies to a column of this kind.
    public func applies(to kind: ColumnKind) -> Bool {
        switch self {
        case .ks, .wasserstein: kind == .numerical
        case .psi, .jensenshannon, .chisquare, .z: true
        }
    }

    /// Evidently's default choice: by column kind, reference size and the number of distinct
    /// values in reference + current (`_get_default_stattest`).
    public static func defaultMethod(kind: ColumnKind, referenceCount: Int, distinctValues: Int) -> DriftMethod {
        if referenceCount <= 1000 {
            if kind == .numerical && distinctValues > 5 { return .ks }
            return distinctValues > 2 ? .chisquare : .z
        }
        if kind == .numerical && distinctValues > 5 { return .wasserstein }
        return .jensenshannon
    }
}

public enum ColumnKind: String, Sendable, Codable, Hashable {
    case numerical
    case categorical
}

/// One check of a monitor: a feature, and optionally the method and threshold to use.
public struct DriftCheck: Sendable, Codable, Hashable {
    public var feature: String
    public var method: DriftMethod?
    public var threshold: Double?

    public init(feature: String, method: DriftMethod? = nil, threshold: Double? = nil) {
        self.feature = feature
        self.method = method
        self.threshold = threshold
    }
}

/// A correction for testing many columns at once, applied to the p-value checks of a run (the
/// distances have no false-positive rate to control and keep their thresholds).
public enum MultipleTesting: String, Sendable, Codable, CaseIterable, Hashable {
    /// Each of the m p-value checks drifts when p < threshold / m (family-wise error rate).
    case bonferroni
    /// Benjamini–Hochberg: with the m p-values sorted, p₍₁₎ ≤ … ≤ p₍ₘ₎, and k the largest rank
    /// with p₍ₖ₎ ≤ k/m · threshold, the checks of rank 1…k drift (false discovery rate).
    case benjaminiHochberg = "benjamini_hochberg"

    /// The thresholds each p-value check is held to after the correction, by index into `pValues`.
    public func thresholds(pValues: [Double], threshold: [Double]) -> [Double] {
        let m = Double(pValues.count)
        switch self {
        case .bonferroni:
            return threshold.map { $0 / m }
        case .benjaminiHochberg:
            let order = pValues.indices.sorted { pValues[$0] < pValues[$1] }
            var k = 0
            for (rank, i) in order.enumerated() where pValues[i] <= Double(rank + 1) / m * threshold[i] { k = rank + 1 }
            // Every check of rank ≤ k drifts: its threshold is just above the k-th p-value; the others' is 0.
            var out = [Double](repeating: 0, count: pValues.count)
            for (rank, i) in order.enumerated() {
                out[i] = rank < k ? Double(k) / m * threshold[i] : 0
            }
            return out
        }
    }
}
