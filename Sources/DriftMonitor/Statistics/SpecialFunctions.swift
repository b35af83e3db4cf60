import Foundation

/// Special functions needed for p-values.
public enum SpecialFunctions {
    /// The regularized upper incomplete gamma function Q(a, x) = Γ(a, x)/Γ(a)
    /// (SciPy's `gammaincc`): the power series for x < a + 1, Lentz's continued
    /// fraction otherwise; both converge to full double precision.
    public static func regularizedGammaQ(_ a: Double, _ x: Double) -> Double {
        precondition(a > 0, "gammaincc needs a > 0")
        if x.isNaN { return .nan }
        if x <= 0 { return 1 }
        if x.isInfinite { return 0 }
        let logPrefix = a * log(x) - x - logGamma(a)
        if x < a + 1 {
            var term = 1.0 / a
            var sum = term
            var ap = a
            for _ in 0..<10_000 {
                ap += 1
                term *= x / ap
                sum += term
                if abs(term) < abs(sum) * 1e-17 { break }
            }
            return max(0, 1 - sum * exp(logPrefix))
        }
        let tiny = 1e-300
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var h = d
        for i in 1...10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) < 1e-16 { break }
        }
        return min(1, exp(logPrefix) * h)
    }

    /// Survival function of the chi-squared distribution with `dof` degrees of freedom.
    public static func chiSquaredSF(_ statistic: Double, dof: Int) -> Double {
        if statistic.isInfinite { return 0 }
        return regularizedGammaQ(Double(dof) / 2, statistic / 2)
    }

    /// 2 * (1 - Φ(|z|)), the two-sided normal tail.
    public static func twoSidedNormalTail(_ z: Double) -> Double {
        erfc(abs(z) / 2.0.squareRoot())
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// log Γ(x) for x > 0 (the C library's thread-safe lgamma_r).
@inline(__always)
func logGamma(_ x: Double) -> Double {
    var sign: Int32 = 0
    return lgamma_r(x, &sign)
}
