#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Correctly rounded decimal → Double parsing for CSV fields, without allocating.
///
/// Up to 19 significant digits are gathered into a UInt64 `w` and the value is
/// `w · 10^e`. When both `w` and `10^|e|` are exact doubles one IEEE operation
/// rounds correctly (Clinger's fast path). Otherwise, for `-19 ≤ e < 0`, the
/// quotient `w / 10^|e|` is computed with one 128-by-64-bit integer division to 64
/// significant bits plus a sticky remainder, and rounded to 53 bits half-to-even.
/// Anything else (more digits, huge exponents) goes to `strtod`.
enum FastFloat {
    private static let powersOf10: [UInt64] = {
        var p: [UInt64] = [1]
        for _ in 1...19 { p.append(p[p.count - 1] * 10) }
        return p
    }()

    enum Outcome { case number(Double), notANumber, empty, invalid }

    @inline(__always)
    static func parse(_ p: UnsafePointer<UInt8>, _ count: Int) -> Outcome {
        if count == 0 { return .empty }
        var i = 0
        var negative = false
        if p[0] == UInt8(ascii: "-") { negative = true; i = 1 } else if p[0] == UInt8(ascii: "+") { i = 1 }
        var w: UInt64 = 0
        var significant = 0
        var dropped = 0
        var exp10 = 0
        var sawDigit = false
        while i < count, p[i] &- 48 < 10 {
            sawDigit = true
            let d = UInt64(p[i] &- 48)
            if significant < 19 {
                if w != 0 || d != 0 { w = w &* 10 &+ d; significant += (w == 0 ? 0 : 1) }
            } else {
                dropped += 1
            }
            i += 1
        }
        exp10 += dropped
        if i < count, p[i] == UInt8(ascii: ".") {
            i += 1
            while i < count, p[i] &- 48 < 10 {
                sawDigit = true
                let d = UInt64(p[i] &- 48)
                if significant < 19 {
                    if w != 0 || d != 0 { w = w &* 10 &+ d; significant += 1 }
                    exp10 -= 1
                } else if d != 0 {
                    return slow(p, count)
                }
                i += 1
            }
        }
        if !sawDigit { return special(p, count) }
        if i < count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            i += 1
            var expNegative = false
            if i < count, p[i] == UInt8(ascii: "-") { expNegative = true; i += 1 } else if i < count, p[i] == UInt8(ascii: "+") { i += 1 }
            var e = 0
            var expDigits = false
            while i < count, p[i] &- 48 < 10 {
                expDigits = true
                if e < 100_000 { e = e * 10 + Int(p[i] &- 48) }
                i += 1
            }
            if !expDigits { return .invalid }
            exp10 += expNegative ? -e : e
        }
        if i != count { return .invalid }
        if dropped > 0 { return slow(p, count) }
        if w == 0 { return .number(negative ? -0.0 : 0.0) }
        var value: Double
        if exp10 == 0 {
            value = Double(w)
        } else if w <= 1 << 53 && exp10 >= -22 && exp10 <= 22 {
            let scale = exactPowerOf10(abs(exp10))
            value = exp10 < 0 ? Double(w) / scale : Double(w) * scale
        } else if exp10 < 0 && exp10 >= -19 {
            value = divide(w, powersOf10[-exp10])
        } else if exp10 > 0 && exp10 <= 19 {
            let (product, overflow) = w.multipliedReportingOverflow(by: powersOf10[exp10])
            if overflow { return slow(p, count) }
            value = Double(product)
        } else {
            return slow(p, count)
        }
        return .number(negative ? -value : value)
    }

    @inline(__always)
    private static func exactPowerOf10(_ k: Int) -> Double {
        var r = 1.0
        for _ in 0..<k { r *= 10 }
        return r
    }

    /// Correctly rounded w / b for w, b > 0.
    @inline(__always)
    static func divide(_ w: UInt64, _ b: UInt64) -> Double {
        let bitsW = 64 - w.leadingZeroBitCount
        let bitsB = 64 - b.leadingZeroBitCount
        let s = 63 - bitsW + bitsB  // makes the quotient fall in [2^62, 2^64)
        let high: UInt64, low: UInt64
        if s >= 64 {
            high = w << UInt64(s - 64); low = 0
        } else if s > 0 {
            high = w >> UInt64(64 - s); low = w << UInt64(s)
        } else {
            high = 0; low = w
        }
        let (q, r) = b.dividingFullWidth((high: high, low: low))
        let drop = 11 - q.leadingZeroBitCount  // 64 - lz - 53
        var mantissa = q >> UInt64(drop)
        let rest = q & ((1 << UInt64(drop)) - 1)
        let half: UInt64 = 1 << UInt64(drop - 1)
        if rest > half || (rest == half && (r != 0 || mantissa & 1 == 1)) { mantissa += 1 }
        return scalbn(Double(mantissa), drop - s)
    }

    private static func special(_ p: UnsafePointer<UInt8>, _ count: Int) -> Outcome {
        var text = ""
        for k in 0..<count { text.append(Character(Unicode.Scalar(p[k]))) }
        switch text.lowercased() {
        case "nan", "-nan", "+nan", "null", "na", "n/a", "none": return .notANumber
        case "inf", "+inf", "infinity", "+infinity": return .number(.infinity)
        case "-inf", "-infinity": return .number(-.infinity)
        default: return .invalid
        }
    }

    private static func slow(_ p: UnsafePointer<UInt8>, _ count: Int) -> Outcome {
        var buffer = [CChar](repeating: 0, count: count + 1)
        for k in 0..<count { buffer[k] = CChar(bitPattern: p[k]) }
        return buffer.withUnsafeBufferPointer { b -> Outcome in
            var end: UnsafeMutablePointer<CChar>?
            let v = strtod(b.baseAddress!, &end)
            guard let end, end - UnsafeMutablePointer(mutating: b.baseAddress!) == count else { return .invalid }
            return v.isNaN ? .notANumber : .number(v)
        }
    }
}
