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
