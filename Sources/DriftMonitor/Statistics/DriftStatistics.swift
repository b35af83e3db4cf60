import Foundation

/// The distance and test statistics, on ascending NaN-free samples.
///
/// Conventions (each matches the peer named, see docs/monitoring.md):
/// - **PSI** — mlinfra's own convention, stated because PSI depends on it: 10 bins
///   whose inner edges are the reference's 10%…90% quantiles (`np.quantile`, linear
///   interpolation); bins are left-closed, `(-inf, e1) [e1, e2) … [e9, +inf)`, so a value
///   equal to an edge goes to the upper bin (`np.digitize(x, edges)`). Repeated edges
///   (ties in the reference) simply leave empty bins. An empty bin's proportion, on either
///   side, is replaced by 1e-4 before `PSI = Σ (cur − ref) · ln(cur / ref)`; a bin empty on
///   both sides therefore contributes 0.
/// - **KS** — `scipy.stats.ks_2samp(ref, cur)` (two-sided, `method='auto'`).
/// - **Wasserstein** — `scipy.stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)`
///   (population std, ddof = 0), as Evidently's `wasserstein` test.
/// - **Jensen–Shannon** — `scipy.spatial.distance.jensenshannon` (natural log) on Evidently's
///   binning: when the reference has more than 20 distinct values, Sturges bins over
///   reference + current (`np.histogram_bin_edges(…, "sturges")`); otherwise one bin per
///   distinct value. No zero filling.
/// - **Chi-squared** — Evidently's goodness-of-fit test: observed current counts against
///   reference counts scaled to the current size, p from the χ² law with k − 1 degrees of freedom.
/// - **Z** — Evidently's two-proportion z-test for two-valued columns.
public enum DriftStatistics {
    /// Proportion used in place of an empty PSI bin.
    public static let psiEmptyBinProportion = 1e-4
    public static let psiBins = 10

    public struct Binned: Sendable, Hashable, Codable {
        /// Bin edges (numeric bins) — `edges.count == reference.count + 1` — or nil for one bin per value.
        public var edges: [Double]?
        /// The value of each bin, when bins are single values.
        public var labels: [String]?
        public var reference: [Double]
        public var current: [Double]
    }

    /// The PSI inner edges: the reference's quantiles at 1/bins … (bins-1)/bins.
    public static func psiEdges(sortedReference a: UnsafeBufferPointer<Double>, bins: Int = psiBins) -> [Double] {
        (1..<bins).map { NumericKernels.quantile(sorted: a, Double($0) / Double(bins)) }
    }

    /// Proportions per left-closed bin `(-inf,e1) [e1,e2) … [ek,inf)` of a sorted sample.
    public static func digitizeProportions(sorted a: UnsafeBufferPointer<Double>, innerEdges: [Double]) -> [Double] {
        var counts = [Int]()
        var previous = 0
        for e in innerEdges {
            let c = NumericKernels.searchSorted(a, e, right: false)
            counts.append(c - previous)
            previous = c
        }
        counts.append(a.count - previous)
        return counts.map { Double($0) / Double(a.count) }
    }

    /// PSI with mlinfra's quantile binning; also returns the bins, for reports.
    public static func psi(referenceProportions r0: [Double], currentProportions c0: [Double]) -> Double {
        var total = 0.0
        for (r1, c1) in zip(r0, c0) {
            let r = r1 == 0 ? psiEmptyBinProportion : r1
            let c = c1 == 0 ? psiEmptyBinProportion : c1
            total += (c - r) * log(c / r)
        }
        return total
    }

    public static func psi(sortedReference a: UnsafeBufferPointer<Double>, sortedCurrent b: UnsafeBufferPointer<Double>,
                           innerEdges: [Double]) -> (value: Double, bins: Binned) {
        let r = digitizeProportions(sorted: a, innerEdges: innerEdges)
        let c = digitizeProportions(sorted: b, innerEdges: innerEdges)
        let edges = [-Double.infinity] + innerEdges + [Double.infinity]
        return (psi(referenceProportions: r, currentProportions: c), Binned(edges: edges, labels: nil, reference: r, current: c))
    }

    /// `scipy.stats.wasserstein_distance` on two sorted samples: Σ |F_u − F_v| · Δx over the
    /// merged sample, summed pairwise as NumPy does.
    public static func wasserstein(sortedReference u: UnsafeBufferPointer<Double>, sortedCurrent v: UnsafeBufferPointer<Double>) -> Double {
        let nu = u.count, nv = v.count
        let total = nu + nv
        guard total > 1 else { return 0 }
        let terms = UnsafeMutableBufferPointer<Double>.allocate(capacity: total - 1)
        defer { terms.deallocate() }
        let fu = Double(nu), fv = Double(nv)
        var i = 0, j = 0, ci = 0, cj = 0
        func next() -> Double {
            if j >= nv || (i < nu && u[i] <= v[j]) { i += 1; return u[i - 1] }
            j += 1
            return v[j - 1]
        }
        var x = next()
        for k in 0..<(total - 1) {
            // ECDFs at all_values[k] (searchsorted 'right'), times the gap to the next value.
            while ci < nu && u[ci] <= x { ci += 1 }
            while cj < nv && v[cj] <= x { cj += 1 }
            let y = next()
            terms[k] = abs(Double(ci) / fu - Double(cj) / fv) * (y - x)
            x = y
        }
        return NumericKernels.pairwiseSum(UnsafeBufferPointer(terms))
    }

    /// Distinct values of a sorted sample with their counts.
    public static func valueCounts(sorted a: UnsafeBufferPointer<Double>) -> (values: [Double], counts: [Int]) {
        var values = [Double](), counts = [Int]()
        var i = 0
        while i < a.count {
            let x = a[i]
            var j = i + 1
            while j < a.count && a[j] == x { j += 1 }
            values.append(x)
            counts.append(j - i)
            i = j
        }
        return (values, counts)
    }

    /// Number of distinct values in the union of two sorted samples, stopping early past `limit`.
    public static func distinctCount(sorted a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>, limit: Int) -> Int {
        var i = 0, j = 0, count = 0
        while i < a.count || j < b.count {
            let x: Double
            if j >= b.count || (i < a.count && a[i] <= b[j]) { x = a[i] } else { x = b[j] }
            count += 1
            if count > limit { return count }
            while i < a.count && a[i] == x { i += 1 }
            while j < b.count && b[j] == x { j += 1 }
        }
        return count
    }

    /// Reference and current counts aligned on the union of the values of two sorted samples.
    public static func alignedCounts(sorted a: UnsafeBufferPointer<Double>, _ b: UnsafeBufferPointer<Double>)
        -> (values: [Double], reference: [Int], current: [Int])
    {
        var values = [Double](), ra = [Int](), cb = [Int]()
        var i = 0, j = 0
        while i < a.count || j < b.count {
            let x: Double
            if j >= b.count || (i < a.count && a[i] <= b[j]) { x = a[i] } else { x = b[j] }
            let i0 = i, j0 = j
            while i < a.count && a[i] == x { i += 1 }
            while j < b.count && b[j] == x { j += 1 }
            values.append(x)
            ra.append(i - i0)
            cb.append(j - j0)
        }
        return (values, ra, cb)
    }

    /// Evidently's binning for Jensen–Shannon: Sturges bins over reference + current when the
    /// reference has more than 20 distinct values, else one bin per value. Proportions of each
    /// sample's size.
    public static func evidentlyBins(sortedReference a: UnsafeBufferPointer<Double>, sortedCurrent b: UnsafeBufferPointer<Double>,
                                     referenceDistinct: Int) -> Binned {
        let fa = Double(a.count), fb = Double(b.count)
        if referenceDistinct > 20 {
            let lo = min(a[0], b[0]), hi = max(a[a.count - 1], b[b.count - 1])
            let edges = NumericKernels.sturgesEdges(minimum: lo, maximum: hi, count: a.count + b.count)
            let r = NumericKernels.histogram(sorted: a, edges: edges).map { Double($0) / fa }
            let c = NumericKernels.histogram(sorted: b, edges: edges).map { Double($0) / fb }
            return Binned(edges: edges, labels: nil, reference: r, current: c)
        }
        let aligned = alignedCounts(sorted: a, b)
        return Binned(edges: nil, labels: aligned.values.map(formatNumber),
                      reference: aligned.reference.map { Double($0) / fa },
                      current: aligned.current.map { Double($0) / fb })
    }

    /// `scipy.spatial.distance.jensenshannon(p, q)` with natural logarithms.
    public static func jensenShannon(_ p0: [Double], _ q0: [Double]) -> Double {
        let sp = NumericKernels.pairwiseSum(p0), sq = NumericKernels.pairwiseSum(q0)
        var left = [Double](), right = [Double]()
        for (a, b) in zip(p0, q0) {
            let p = a / sp, q = b / sq
            let m = (p + q) / 2.0
            left.append(relativeEntropy(p, m))
            right.append(relativeEntropy(q, m))
        }
        let js = NumericKernels.pairwiseSum(left) + NumericKernels.pairwiseSum(right)
        return (js / 2.0).squareRoot()
    }

    private static func relativeEntropy(_ x: Double, _ y: Double) -> Double {
        if x > 0 && y > 0 { return x * log(x / y) }
        if x == 0 && y >= 0 { return 0 }
        return .infinity
    }

    /// Evidently's chi-squared test: `scipy.stats.chisquare(f_obs=current counts,
    /// f_exp=reference counts * n_cur/n_ref)`; returns (statistic, p-value).
    public static func chiSquared(referenceCounts: [Int], currentCounts: [Int], referenceTotal: Int, currentTotal: Int) -> (statistic: Double, pValue: Double) {
        let kNorm = Double(currentTotal) / Double(referenceTotal)
        var terms = [Double]()
        for (r, c) in zip(referenceCounts, currentCounts) {
            let expected = Double(r) * kNorm
            let diff = Double(c) - expected
            terms.append(expected == 0 ? (diff == 0 ? .nan : .infinity) : diff * diff / expected)
        }
        let stat = NumericKernels.pairwiseSum(terms)
        let dof = referenceCounts.count - 1
        guard dof >= 1 else { return (stat, .nan) }
        if stat.isNaN { return (stat, .nan) }
        return (stat, SpecialFunctions.chiSquaredSF(stat, dof: dof))
    }

    /// Evidently's two-proportion z-test for a column with at most two values: the share of
    /// rows different from the smallest value, compared between the samples. p = 1 when both
    /// samples hold the same single value.
    public static func zTest(referenceCounts: [Int], currentCounts: [Int]) -> Double {
        let n1 = referenceCounts.reduce(0, +), n2 = currentCounts.reduce(0, +)
        let refValues = referenceCounts.enumerated().filter { $0.element > 0 }.map(\.offset)
        let curValues = currentCounts.enumerated().filter { $0.element > 0 }.map(\.offset)
        if refValues.count == 1 && curValues == refValues { return 1 }
        // Rows equal to the first key count as 0, all others as 1.
        let p1 = Double(n1 - referenceCounts[0]) / Double(n1)
        let p2 = Double(n2 - currentCounts[0]) / Double(n2)
        let pooled = (p1 * Double(n1) + p2 * Double(n2)) / Double(n1 + n2)
        let z = (p1 - p2) / (pooled * (1 - pooled) * (1.0 / Double(n1) + 1.0 / Double(n2))).squareRoot()
        return SpecialFunctions.twoSidedNormalTail(z)
    }

    static func formatNumber(_ x: Double) -> String {
        if x.rounded() == x && abs(x) < 1e15 { return String(Int(x)) }
        return String(x)
    }
}
