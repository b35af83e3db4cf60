import Foundation

/// What is kept of one reference column: enough to run every statistic without the CSV.
///
/// A numerical column keeps its values sorted (stored as a little-endian float64 file
/// beside the database): the exact KS p-value, the Wasserstein distance and Evidently's
/// Sturges bins (which depend on the current sample's range) all need the whole ECDF.
/// Summary numbers (mean, std in NumPy's order of summation, quantile edges) are computed
/// once from the reference in its original row order.
public struct ColumnProfile: Sendable, Codable, Hashable {
    public var name: String
    public var kind: ColumnKind
    /// Rows with a value (the statistics' sample size).
    public var count: Int
    /// Rows without one; nil in profiles stored before missing values were counted (none then).
    public var missing: Int?
    public var mean: Double?
    /// Population standard deviation (ddof = 0), as `np.std`.
    public var std: Double?
    public var minimum: Double?
    public var maximum: Double?
    /// Distinct values in the reference.
    public var distinct: Int
    /// PSI inner edges: the 10%…90% quantiles.
    public var psiEdges: [Double]?
    /// Category counts (categorical columns, and numerical ones with at most 20 values).
    public var categories: [String: Int]?

    public init(name: String, kind: ColumnKind, count: Int, distinct: Int) {
        self.name = name
        self.kind = kind
        self.count = count
        self.distinct = distinct
    }
}

/// A reference dataset profiled once.
public struct ReferenceProfile: Sendable {
    public var source: String
    /// SHA-256 of the reference file, to notice when it changes.
    public var sha256: String
    public var rowCount: Int
    public var created: Date
    public var columns: [String: ColumnProfile]
    /// Sorted values of each numerical column.
    public var sorted: [String: [Double]]

    public init(source: String, sha256: String, rowCount: Int, created: Date, columns: [String: ColumnProfile], sorted: [String: [Double]]) {
        self.source = source
        self.sha256 = sha256
        self.rowCount = rowCount
        self.created = created
        self.columns = columns
        self.sorted = sorted
    }

    /// Profiles a table; numerical columns in parallel.
    public static func build(from table: DataTable, source: String, sha256: String, created: Date = Date()) throws -> ReferenceProfile {
        guard table.rowCount > 0 else {
            throw DriftError.badData("reference \(source) has no rows", remedy: "a reference needs at least one row per column")
        }
        let names = table.columns.keys.sorted()
        for name in names where table.columns[name]!.count == 0 {
            throw DriftError.badData("reference \(source): column \"\(name)\" has no value in any of its \(table.rowCount) rows",
                                     remedy: "give the reference values for it, or leave it out of the reference")
        }
        for name in names {
            if case .numerical(let values) = table.columns[name]!, let bad = values.firstIndex(where: { !$0.isFinite }) {
                throw DriftError.badData("reference \(source): column \"\(name)\" has a NaN or infinite value at row \(bad + 1)",
                                         remedy: "drift statistics refuse NaN; drop or impute those rows first")
            }
        }
        let slots = ProfileSlots(count: names.count)
        DispatchQueue.concurrentPerform(iterations: names.count) { i in
            let name = names[i]
            switch table.columns[name]! {
            case .numerical(let values):
                slots.set(i, profileNumerical(name: name, values: values))
            case .categorical(let labels):
                var counts = [String: Int]()
                for l in labels { counts[l, default: 0] += 1 }
                var p = ColumnProfile(name: name, kind: .categorical, count: labels.count, distinct: counts.count)
                p.categories = counts
                slots.set(i, (p, nil))
            }
        }
        var columns = [String: ColumnProfile](), sorted = [String: [Double]]()
        for (i, name) in names.enumerated() {
            var (p, s) = slots.get(i)
            p.missing = table.missingCount(name)
            columns[name] = p
            if let s { sorted[name] = s }
        }
        return ReferenceProfile(source: source, sha256: sha256, rowCount: table.rowCount, created: created, columns: columns, sorted: sorted)
    }

    static func profileNumerical(name: String, values: [Double]) -> (ColumnProfile, [Double]) {
        var sortedValues = values
        RadixSort.sort(&sortedValues)
        let stats = values.withUnsafeBufferPointer { NumericKernels.meanAndStd($0) }
        var p = ColumnProfile(name: name, kind: .numerical, count: values.count, distinct: 0)
        sortedValues.withUnsafeBufferPointer { s in
            let vc = DriftStatistics.valueCounts(sorted: s)
            p.distinct = vc.values.count
            p.minimum = s.first
            p.maximum = s.last
            p.psiEdges = DriftStatistics.psiEdges(sortedReference: s)
            if vc.values.count <= 20 {
                p.categories = Dictionary(uniqueKeysWithValues: zip(vc.values.map(DriftStatistics.formatNumber), vc.counts))
            }
        }
        p.mean = stats.mean
        p.std = stats.std
        return (p, sortedValues)
    }

    final class ProfileSlots: @unchecked Sendable {
        // Safe: each concurrent worker writes only its own index; reads follow the join.
        private var slots: [(ColumnProfile, [Double]?)?]
        init(count: Int) { slots = Array(repeating: nil, count: count) }
        func set(_ i: Int, _ v: (ColumnProfile, [Double]?)) { slots.withUnsafeMutableBufferPointer { $0[i] = v } }
        func get(_ i: Int) -> (ColumnProfile, [Double]?) { slots[i]! }
    }
}
