import Foundation

/// The distribution of the one-sample two-sided Kolmogorov–Smirnov statistic D_n, and
/// of the one-sided D_n^+ (Smirnov), following the algorithm selection of Simard &
/// L'Ecuyer (2011) that SciPy's `kstwo` and `smirnov` use: Ruben–Gambino closed forms at
/// the ends, the Durbin matrix (Marsaglia–Tsang–Wang), Pomeranz's recursion, the
/// Pelz–Good expansion, and the Birnbaum–Tingey sum for the upper tail.
enum KolmogorovDistribution {
    private static let ep128 = 0x1p128
    private static let em128 = 0x1p-128
    private static let sqrt2pi = (2 * Double.pi).squareRoot()
    private static let log2pi = log(2 * Double.pi)
    private static let piSquared = Double.pi * Double.pi
    private static let stirlingCoefficients: [Double] = [
        -2.955065359477124183e-2, 6.4102564102564102564e-3,
        -1.9175269175269175269e-3, 8.4175084175084175084e-4,
        -5.952380952380952381e-4, 7.9365079365079365079e-4,
        -2.7777777777777777778e-3, 8.3333333333333333333e-2,
    ]

    private static func clip(_ p: Double) -> Double { min(max(p, 0), 1) }
    private static func select(_ cdfProb: Double, _ sfProb: Double, _ cdf: Bool) -> Double {
        clip(cdf ? cdfProb : sfProb)
    }

    /// log(n!/n^n) by Stirling's series.
    private static func logFactorialOverPower(_ n: Int) -> Double {
        let fn = Double(n)
        let rn = 1.0 / fn
        var poly = 0.0
        for c in stirlingCoefficients { poly = poly * (rn / fn) + c }
        return log(fn) / 2 - fn + log2pi / 2 + rn * poly
    }

    /// P(D_n <= x) (cdf) or P(D_n > x) (sf).
    static func kolmogn(_ n: Int, _ x: Double, cdf: Bool) -> Double {
        guard n > 0 else { return .nan }
        if x >= 1.0 { return select(1.0, 0.0, cdf) }
        if x <= 0.0 { return select(0.0, 1.0, cdf) }
        let fn = Double(n)
        let t = fn * x
        if t <= 1.0 {
            if t <= 0.5 { return select(0.0, 1.0, cdf) }
            let prob: Double
            if n <= 140 {
                var p = 1.0
                for i in 1...n { p *= Double(i) * (1.0 / fn) * (2 * t - 1) }
                prob = p
            } else {
                prob = exp(logFactorialOverPower(n) + fn * log(2 * t - 1))
            }
            return select(prob, 1.0 - prob, cdf)
        }
        if t >= fn - 1 {
            let prob = 2 * pow(1.0 - x, fn)
            return select(1 - prob, prob, cdf)
        }
        if x >= 0.5 {
            let prob = 2 * smirnovSF(n, x)
            return select(1.0 - prob, prob, cdf)
        }
        let nxSquared = t * x
        if n <= 140 {
            if nxSquared <= 0.754693 {
                let prob = durbinMatrixCDF(n, x)
                return select(prob, 1.0 - prob, cdf)
            }
            if nxSquared <= 4 {
                let prob = pomeranzCDF(n, x)
                return select(prob, 1.0 - prob, cdf)
            }
            let prob = 2 * smirnovSF(n, x)
            return select(1.0 - prob, prob, cdf)
        }
        if !cdf {
            if nxSquared >= 370.0 { return 0.0 }
            if nxSquared >= 2.2 { return clip(2 * smirnovSF(n, x)) }
        }
        let cdfProb: Double
        if nxSquared >= 18.0 {
            cdfProb = 1.0
        } else if n <= 100_000 && fn * pow(x, 1.5) <= 1.4 {
            cdfProb = durbinMatrixCDF(n, x)
        } else {
            cdfProb = pelzGoodCDF(n, x)
        }
        return select(cdfProb, 1.0 - cdfProb, cdf)
    }

    /// Durbin's matrix formula, P(D_n <= d) = n!/n^n * (H^n)_{kk}, with the powers
    /// rescaled by 2^128 to keep them in range.
    static func durbinMatrixCDF(_ n: Int, _ d: Double) -> Double {
        if d >= 1.0 { return 1.0 }
        let nd = Double(n) * d
        if nd <= 0.5 { return 0.0 }
        let k = Int(nd.rounded(.up))
        let h = Double(k) - nd
        let m = 2 * k - 1
        var v = [Double](repeating: 0, count: m)
        var w = [Double](repeating: 0, count: m)
        var fac = 1.0
        for j in 1...m {
            w[j - 1] = fac
            fac /= Double(j)
            v[j - 1] = (1.0 - pow(h, Double(j))) * fac
        }
        let tt = pow(max(2 * h - 1.0, 0), Double(m)) - 2 * pow(h, Double(m))
        v[m - 1] = (1.0 + tt) * fac
        var hm = [Double](repeating: 0, count: m * m)
        for i in 1..<max(m, 1) {
            for r in (i - 1)..<m { hm[r * m + i] = w[r - (i - 1)] }
        }
        for r in 0..<m { hm[r * m] = v[r] }
        for c in 0..<m { hm[(m - 1) * m + c] = v[m - 1 - c] }
        var power = [Double](repeating: 0, count: m * m)
        for i in 0..<m { power[i * m + i] = 1 }
        var nn = n
        var expnt = 0
        var hExpnt = 0
        while nn > 0 {
            if nn % 2 == 1 {
                power = multiply(power, hm, m)
                expnt += hExpnt
            }
            hm = multiply(hm, hm, m)
            hExpnt *= 2
            if abs(hm[(k - 1) * m + (k - 1)]) > ep128 {
                for idx in hm.indices { hm[idx] /= ep128 }
                hExpnt += 128
            }
            nn /= 2
        }
        var p = power[(k - 1) * m + (k - 1)]
        let fn = Double(n)
        for i in 1...n {
            p = Double(i) * p / fn
            if abs(p) < em128 {
                p *= ep128
                expnt -= 128
            }
        }
        if expnt != 0 { p = scalbn(p, expnt) }
        return clip(p)
    }

    private static func multiply(_ a: [Double], _ b: [Double], _ m: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * m)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    for i in 0..<m {
                        for k in 0..<m {
                            let aik = pa[i * m + k]
                            if aik == 0 { continue }
                            for j in 0..<m { pc[i * m + j] += aik * pb[k * m + j] }
                        }
                    }
                }
            }
        }
        return c
    }

    private static func pomeranzBounds(_ i: Int, _ n: Int, _ ll: Int, _ ceilf: Int, _ roundf: Int) -> (Int, Int) {
        var j1: Int, j2: Int
        if i == 0 {
            (j1, j2) = (-ll - ceilf - 1, ll + ceilf - 1)
        } else {
            let ip1div2 = (i + 1) / 2, ip1mod2 = (i + 1) % 2
            if ip1mod2 == 0 {
                if ip1div2 == n + 1 {
                    (j1, j2) = (n - ll - ceilf - 1, n + ll + ceilf - 1)
                } else {
                    (j1, j2) = (ip1div2 - 1 - ll - roundf - 1, ip1div2 + ll - 1 + ceilf - 1)
                }
            } else {
                (j1, j2) = (ip1div2 - 1 - ll - 1, ip1div2 + ll + roundf - 1)
            }
        }
        return (max(j1 + 2, 0), min(j2, n))
    }

    /// Pomeranz's recursion for P(D_n <= x).
    static func pomeranzCDF(_ n: Int, _ x: Double) -> Double {
        let fn = Double(n)
        let t = fn * x
        let ll = Int(t.rounded(.down))
        let f = t - Double(ll)
        let g = min(f, 1.0 - f)
        let ceilf = f > 0 ? 1 : 0
        let roundf = f > 0.5 ? 1 : 0
        let npwrs = 2 * (ll + 1)
        var gpower = [Double](repeating: 1, count: npwrs)
        var twogpower = [Double](repeating: 1, count: npwrs)
        var onem2gpower = [Double](repeating: 1, count: npwrs)
        var expnt = 0
        let gOverN = g / fn, twoGOverN = 2 * g / fn, oneMinusTwoGOverN = (1 - 2 * g) / fn
        for m in 1..<npwrs {
            gpower[m] = gpower[m - 1] * gOverN / Double(m)
            twogpower[m] = twogpower[m - 1] * twoGOverN / Double(m)
            onem2gpower[m] = onem2gpower[m - 1] * oneMinusTwoGOverN / Double(m)
        }
        var v0 = [Double](repeating: 0, count: npwrs)
        var v1 = [Double](repeating: 0, count: npwrs)
        v1[0] = 1
        var v0s = 0, v1s = 0
        var (j1, j2) = pomeranzBounds(0, n, ll, ceilf, roundf)
        for i in 1..<(2 * n + 2) {
            let k1 = j1
            swap(&v0, &v1)
            swap(&v0s, &v1s)
            for idx in v1.indices { v1[idx] = 0 }
            (j1, j2) = pomeranzBounds(i, n, ll, ceilf, roundf)
            let pwrs = (i == 1 || i == 2 * n + 1) ? gpower : (i % 2 == 1 ? twogpower : onem2gpower)
            let ln2 = j2 - k1 + 1
            if ln2 > 0 {
                // Full convolution of V0[k1-V0s ..< k1-V0s+ln2] with pwrs[..<ln2] (slices clipped
                // to the arrays, as NumPy's are), keeping entries j1-k1 ..< j1-k1+(j2-j1+1).
                let aStart = k1 - v0s
                let aEnd = min(aStart + ln2, npwrs)
                let aLen = max(aEnd - aStart, 0)
                let bLen = min(ln2, npwrs)
                let convStart = j1 - k1
                let convLen = j2 - j1 + 1
                var maxV = -Double.infinity
                for out in 0..<max(convLen, 0) {
                    let idx = convStart + out
                    var s = 0.0
                    // conv[idx] = sum_{p} a[p] * b[idx - p]
                    let pLo = max(0, idx - bLen + 1), pHi = min(aLen - 1, idx)
                    if pLo <= pHi {
                        for p in pLo...pHi { s += v0[aStart + p] * pwrs[idx - p] }
                    }
                    v1[out] = s
                    maxV = max(maxV, s)
                }
                for idx in max(convLen, 0)..<npwrs { maxV = max(maxV, v1[idx]) }
                if maxV > 0 && maxV < em128 {
                    for idx in v1.indices { v1[idx] *= ep128 }
                    expnt -= 128
                }
                v1s = v0s + j1 - k1
            }
        }
        var ans = v1[n - v1s]
        for m in 1...n {
            if abs(ans) > ep128 {
                ans *= em128
                expnt += 128
            }
            ans *= Double(m)
        }
        if expnt != 0 { ans = scalbn(ans, expnt) }
        return clip(ans)
    }

    /// The Pelz–Good asymptotic expansion of P(D_n <= x), for large n.
    static func pelzGoodCDF(_ n: Int, _ x: Double) -> Double {
        if x <= 0.0 { return 0.0 }
        if x >= 1.0 { return 1.0 }
        let fn = Double(n)
        let z = fn.squareRoot() * x
        let z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2
        let qlog = -piSquared / 8 / z2
        if qlog < -708 { return 0.0 }
        var q = exp(qlog)
        let pi4 = piSquared * piSquared, pi6 = pi4 * piSquared
        let k1a = -z2
        let k1b = piSquared / 4
        let k2a = 6 * z6 + 2 * z4
        let k2b = (2 * z4 - 5 * z2) * piSquared / 4
        let k2c = pi4 * (1 - 2 * z2) / 16
        let k3d = pi6 * (5 - 30 * z2) / 64
        let k3c = pi4 * (-60 * z2 + 212 * z4) / 16
        let k3b = piSquared * (135 * z4 - 96 * z6) / 4
        let k3a = -30 * z6 - 90 * pow(z, 8)
        var k = [0.0, 0.0, 0.0, 0.0]
        let maxk = Int((16 * z / Double.pi).rounded(.up))
        var kk = maxk
        while kk > 0 {
            let m = Double(2 * kk - 1)
            let m2 = m * m, m4 = m2 * m2, m6 = m4 * m2
            let qpower = pow(q, Double(8 * kk))
            let coeffs = [1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6]
            for i in 0..<4 { k[i] = k[i] * qpower + coeffs[i] }
            kk -= 1
        }
        let divisors = [z, 6 * z4, 72 * pow(z, 7), 6480 * pow(z, 10)]
        for i in 0..<4 { k[i] = k[i] * q * sqrt2pi / divisors[i] }
        q = exp(-piSquared / 2 / z2)
        var k2extra = 0.0, k3extra = 0.0
        let sqrt3z = 3.0.squareRoot() * z
        kk = maxk
        while kk > 0 {
            let fk = Double(kk)
            let ks2 = fk * fk
            let qp = pow(q, ks2)
            k2extra += ks2 * qp
            let kspi = Double.pi * fk
            k3extra += (sqrt3z + kspi) * (sqrt3z - kspi) * ks2 * qp
            kk -= 1
        }
        k[2] += k2extra * piSquared * sqrt2pi / (-36 * z3)
        k[3] += k3extra * piSquared * sqrt2pi / (216 * z6)
        for i in 0..<4 { k[i] /= pow(fn, Double(i) / 2.0) }
        return k[0] + k[1] + k[2] + k[3]
    }

    /// P(D_n^+ > x), the one-sided Smirnov survival function, by the Birnbaum–Tingey sum
    /// x * sum_{v=0}^{floor(n(1-x))} C(n,v) (1-x-v/n)^(n-v) (x+v/n)^(v-1), every term positive.
    /// Terms are formed in logarithms, with n*x carried as a double-double so that
    /// n(1-x)-v keeps its precision near the end of the sum.
    static func smirnovSF(_ n: Int, _ x: Double) -> Double {
        guard n > 0, x >= 0, x <= 1 else { return .nan }
        if n == 1 { return 1 - x }
        if x == 0 { return 1.0 }
        if x == 1 { return 0.0 }
        let fn = Double(n)
        let nxHi = fn * x
        let nxLo = fma(fn, x, -nxHi)
        var nxFloor = Int(nxHi.rounded(.down))
        var alpha = (nxHi - Double(nxFloor)) + nxLo
        if alpha < 0 { nxFloor -= 1; alpha += 1 }
        if alpha >= 1 { nxFloor += 1; alpha -= 1 }
        if nxFloor == 0 || (nxFloor == 1 && alpha == 0) {
            let cdf = x * pow(1 + x, fn - 1)
            return clip(1 - cdf)
        }
        if -2 * fn * x * x < -708.39641853226408 { return 0.0 }
        if nxFloor >= n - 1 { return clip(pow(1 - x, fn)) }
        if n > 1_000_000 {
            let logp = -pow(6.0 * fn * x + 1, 2) / 18.0 / fn
            return clip(logp < -M_LN2 ? exp(logp) : 1 + expm1(logp))
        }
        var lastV = n - nxFloor - (alpha == 0 ? 0 : 1)
        if alpha == 0 { lastV -= 1 }
        let logN = log(fn)
        let logX = log(x)
        let lgN = logGamma(fn + 1)
        var sum = 0.0
        let vmid = n / 2
        for v in 0...max(lastV, 0) {
            let a = (Double(n - v) - nxHi) - nxLo  // n(1 - x - v/n)
            let b = (Double(v) + nxHi) + nxLo      // n(x + v/n)
            if a <= 0 { break }
            let logC = lgN - logGamma(Double(v) + 1) - logGamma(Double(n - v) + 1)
            let logTerm = logC + Double(n - v) * (log(a) - logN) + Double(v - 1) * (log(b) - logN)
            let term = v == 0 ? exp(Double(n) * (log(a) - logN) - logX) : exp(logTerm)
            sum += term
            if term != 0 {
                if 4 * Double(lastV + 1 - v) * term < Double.ulpOfOne * sum && v != lastV { break }
            } else if v > vmid {
                break
            }
        }
        return clip(x * sum)
    }
}
