import Foundation

/// The two-sample Kolmogorov–Smirnov test, two-sided, computed as `scipy.stats.ks_2samp`
/// does with `method='auto'`: the exact null distribution when both samples have at
/// most 10,000 values, Smirnov's asymptotic one (the one-sample `kstwo` law at
/// `n = round(n1*n2/(n1+n2))`) otherwise.
public enum KolmogorovSmirnov {
    public enum Method: String, Sendable, Codable { case exact, asymptotic }

    public struct Result: Sendable, Hashable, Codable {
        /// sup |F_ref(x) - F_cur(x)|.
        public var statistic: Double
        public var pValue: Double
        /// The value at which the largest difference occurs.
        public var location: Double
        /// +1 when the reference's ECDF lies above the current one there, -1 otherwise.
        public var sign: Int
        public var method: Method
    }

    /// Largest sample size for which `auto` computes the exact distribution (SciPy's `MAX_AUTO_N`).
    public static let maxExactSize = 10_000

    /// Runs the test on two ascending, NaN-free samples.
    public static func test(sortedReference a: UnsafeBufferPointer<Double>, sortedCurrent b: UnsafeBufferPointer<Double>) -> Result {
        let n1 = a.count, n2 = b.count
        precondition(n1 > 0 && n2 > 0, "ks_2samp needs two non-empty samples")
        // Walk the distinct values of the merged samples; the ECDF difference is the same
        // at every copy of a value, so evaluating it once per distinct value is enough.
        // SciPy's argmax/argmin return the first position in concat(ref, cur): a value
        // present in the reference wins over one present only in the current sample.
        var maxA = -Double.infinity, locMaxA = Double.nan
        var minA = Double.infinity, locMinA = Double.nan
        var maxB = -Double.infinity, locMaxB = Double.nan
        var minB = Double.infinity, locMinB = Double.nan
        let fn1 = Double(n1), fn2 = Double(n2)
        var i = 0, j = 0
        while i < n1 || j < n2 {
            let v: Double
            if j >= n2 || (i < n1 && a[i] <= b[j]) { v = a[i] } else { v = b[j] }
            var inA = false, inB = false
            while i < n1 && a[i] == v { i += 1; inA = true }
            while j < n2 && b[j] == v { j += 1; inB = true }
            let diff = Double(i) / fn1 - Double(j) / fn2
            if inA {
                if diff > maxA { maxA = diff; locMaxA = v }
                if diff < minA { minA = diff; locMinA = v }
            }
            if inB {
                if diff > maxB { maxB = diff; locMaxB = v }
                if diff < minB { minB = diff; locMinB = v }
            }
        }
        let (maxS, locMax) = maxA >= maxB ? (maxA, locMaxA) : (maxB, locMaxB)
        let (minRaw, locMin) = minA <= minB ? (minA, locMinA) : (minB, locMinB)
        let minS = min(max(-minRaw, 0), 1)
        var d: Double, location: Double, sign: Int
        if minS > maxS {
            (d, location, sign) = (minS, locMin, -1)
        } else {
            (d, location, sign) = (maxS, locMax, 1)
        }
        var method: Method = max(n1, n2) <= maxExactSize ? .exact : .asymptotic
        var p = -Double.infinity
        if method == .exact {
            let g = NumericKernels.gcd(n1, n2)
            if let exact = exactPValue(n1, n2, g, d) {
                d = exact.d
                p = exact.p
            } else {
                method = .asymptotic
            }
        }
        if method == .asymptotic {
            let m = Double(max(n1, n2)), n = Double(min(n1, n2))
            let en = (m * n / (m + n)).rounded(.toNearestOrEven)
            p = kstwoSF(d, n: Int(en))
        }
        p = min(max(p, 0), 1)
        return Result(statistic: d, pValue: p, location: location, sign: sign, method: method)
    }

    public static func test(reference: [Double], current: [Double]) -> Result {
        let a = reference.sorted(), b = current.sorted()
        return a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in test(sortedReference: pa, sortedCurrent: pb) } }
    }

    /// SciPy's `_attempt_exact_2kssamp`: the statistic snapped to a multiple of 1/lcm and
    /// the exact tail probability; nil when the computation leaves [0, 1] (then the caller
    /// falls back to the asymptotic law, as SciPy does).
    static func exactPValue(_ n1: Int, _ n2: Int, _ g: Int, _ d0: Double) -> (d: Double, p: Double)? {
        let lcm = (n1 / g) * n2
        let h = Int((d0 * Double(lcm)).rounded(.toNearestOrEven))
        let d = Double(h) / Double(lcm)
        if h == 0 { return (d, 1.0) }
        let p = n1 == n2 ? probOutsideSquare(n1, h) : outerProbInsideMethod(n1, n2, g, h)
        guard p.isFinite, p >= 0, p <= 1 else { return nil }
        return (d, p)
    }

    /// P(D_{n,n} >= h/n): the alternating binomial series evaluated Horner-style,
    /// each term divided by binom(2n, n) first to avoid cancellation.
    static func probOutsideSquare(_ n: Int, _ h: Int) -> Double {
        var p = 0.0
        var k = n / h
        while k >= 0 {
            var p1 = 1.0
            for j in 0..<h {
                p1 = Double(n - k * h - j) * p1 / Double(n + k * h + j + 1)
            }
            p = p1 * (1.0 - p)
            k -= 1
        }
        return 2 * p
    }

    /// 1 - (share of lattice paths from (0,0) to (m,n) staying strictly inside |x/m - y/n| < h/lcm),
    /// computed directly as in Viehmann (2021) with one sliding column of the path-count table.
    static func outerProbInsideMethod(_ m0: Int, _ n0: Int, _ g: Int, _ h: Int) -> Double {
        let (m, n) = m0 < n0 ? (n0, m0) : (m0, n0)
        let mg = m / g, ng = n / g
        var minj = 0
        var maxj = min(Int((Double(h) / Double(mg)).rounded(.up)), n + 1)
        var curlen = maxj - minj
        let lenA = min(2 * maxj + 2, n + 1)
        var a = [Double](repeating: 1, count: lenA)
        for idx in minj..<min(maxj, lenA) { a[idx] = 0 }
        for i in 1...m {
            let lastminj = minj, lastlen = curlen
            minj = max(Int((Double(ng * i - h) / Double(mg)).rounded(.down)) + 1, 0)
            minj = min(minj, n)
            maxj = min(Int((Double(ng * i + h) / Double(mg)).rounded(.up)), n + 1)
            if maxj <= minj { return 1.0 }
            var val = minj == 0 ? 0.0 : 1.0
            let fi = Double(i)
            for jj in 0..<(maxj - minj) {
                let j = jj + minj
                val = (a[jj + minj - lastminj] * fi + val * Double(j)) / (fi + Double(j))
                a[jj] = val
            }
            curlen = maxj - minj
            if lastlen > curlen {
                let lo = maxj - minj, hi = min(maxj - minj + (lastlen - curlen), lenA)
                if lo < hi { for idx in lo..<hi { a[idx] = 1 } }
            }
        }
        return a[maxj - minj - 1]
    }

    /// Survival function of `scipy.stats.kstwo` (the exact one-sample two-sided KS law),
    /// including SciPy's support handling: 1 at or below 0.5/n, 0 at or above 1.
    public static func kstwoSF(_ x: Double, n: Int) -> Double {
        guard n >= 1, !x.isNaN else { return .nan }
        if x <= 0.5 / Double(n) { return 1.0 }
        if x >= 1.0 { return 0.0 }
        return KolmogorovDistribution.kolmogn(n, x, cdf: false)
    }
}
