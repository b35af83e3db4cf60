import Foundation

/// Small numeric building blocks that reproduce NumPy's conventions, so our
/// statistics agree with SciPy/Evidently to the last few ulps.
public enum NumericKernels {
    /// NumPy's pairwise summation (`np.sum` on a contiguous float64 array):
    /// blocks of at most 128 summed with eight accumulators, halves added recursively.
    /// Matching it keeps sums over a million terms within an ulp or two of NumPy's.
    public static func pairwiseSum(_ values: UnsafeBufferPointer<Double>) -> Double {
        pairwiseSum(values.baseAddress, values.count)
    }

    public static func pairwiseSum(_ values: [Double]) -> Double {
        values.withUnsafeBufferPointer { pairwiseSum($0) }
    }

    static func pairwiseSum(_ base: UnsafePointer<Double>?, _ n: Int) -> Double {
        guard let a = base, n > 0 else { return 0 }
        if n < 8 {
            var res = 0.0
            for i in 0..<n { res += a[i] }
            return res
        }
        if n <= 128 {
            var r0 = a[0], r1 = a[1], r2 = a[2], r3 = a[3], r4 = a[4], r5 = a[5], r6 = a[6], r7 = a[7]
            var i = 8
            let limit = n - n % 8
            while i < limit {
                r0 += a[i]; r1 += a[i + 1]; r2 += a[i + 2]; r3 += a[i + 3]
                r4 += a[i + 4]; r5 += a[i + 5]; r6 += a[i + 6]; r7 += a[i + 7]
                i += 8
            }
            var res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while i < n { res += a[i]; i += 1 }
            return res
        }
        var n2 = n / 2
        n2 -= n2 % 8
        return pairwiseSum(a, n2) + pairwiseSum(a + n2, n - n2)
    }

    /// Mean and population standard deviation (ddof = 0) the way `np.std` computes them.
    public static func meanAndStd(_ values: UnsafeBufferPointer<Double>) -> (mean: Double, std: Double) {
        let n = values.count
        guard n > 0 else { return (.nan, .nan) }
        let mean = pairwiseSum(values) / Double(n)
        var squares = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let d = values[i] - mean
            squares[i] = d * d
        }
        let variance = pairwiseSum(squares) / Double(n)
        return (mean, variance.squareRoot())
    }

    /// `np.quantile(sorted, p)` with the default 'linear' method, on an ascending array.
    public static func quantile(sorted a: UnsafeBufferPointer<Double>, _ p: Double) -> Double {
        let n = a.count
        precondition(n > 0, "quantile of an empty sample")
        let vi = Double(n - 1) * p
        if vi >= Double(n - 1) { return a[n - 1] }
        if vi < 0 { return a[0] }
        let prev = Int(vi.rounded(.down))
        let gamma = vi - Double(prev)
        let lo = a[prev], hi = a[prev + 1]
        let diff = hi - lo
        return gamma >= 0.5 ? hi - diff * (1 - gamma) : lo + diff * gamma
    }

    /// Index of the first element `>= value` (`side='left'`) or `> value` (`side='right'`).
    @inline(__always)
    public static func searchSorted(_ a: UnsafeBufferPointer<Double>, _ value: Double, right: Bool) -> Int {
        var lo = 0, hi = a.count
        if right {
            while lo < hi {
                let mid = (lo + hi) >> 1
                if a[mid] <= value { lo = mid + 1 } else { hi = mid }
            }
        } else {
            while lo < hi {
                let mid = (lo + hi) >> 1
                if a[mid] < value { lo = mid + 1 } else { hi = mid }
            }
        }
        return lo
    }

    /// `np.histogram(a, edges)` for explicit edges on a sorted sample: bins `[e_i, e_{i+1})`,
    /// the last one closed; values outside the edges are not counted.
    public static func histogram(sorted a: UnsafeBufferPointer<Double>, edges: [Double]) -> [Int] {
        guard edges.count >= 2 else { return [] }
        var cumulative = [Int]()
        cumulative.reserveCapacity(edges.count)
        for e in edges.dropLast() { cumulative.append(searchSorted(a, e, right: false)) }
        cumulative.append(searchSorted(a, edges[edges.count - 1], right: true))
        return (0..<(edges.count - 1)).map { cumulative[$0 + 1] - cumulative[$0] }
    }

    /// `np.histogram_bin_edges(x, bins="sturges")` for a sample of `count` values spanning [minimum, maximum].
    public static func sturgesEdges(minimum: Double, maximum: Double, count: Int) -> [Double] {
        var first = minimum, last = maximum
        if first == last {
            first -= 0.5
            last += 0.5
        }
        let width = (maximum - minimum) / (log2(Double(count)) + 1.0)
        let bins = width != 0 ? Int(((last - first) / width).rounded(.up)) : 1
        return linspace(first, last, bins + 1)
    }

    /// `np.linspace(start, stop, num)`: `i * step + start`, the last value exactly `stop`.
    public static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        guard num > 1 else { return [start] }
        let div = Double(num - 1)
        let delta = stop - start
        let step = delta / div
        var out = [Double](repeating: 0, count: num)
        for i in 0..<num {
            out[i] = step == 0 ? (Double(i) / div) * delta + start : Double(i) * step + start
        }
        out[num - 1] = stop
        return out
    }

    /// Greatest common divisor.
    public static func gcd(_ a: Int, _ b: Int) -> Int {
        var x = a, y = b
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }
}
