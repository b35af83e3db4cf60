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
public enum FastFloat {
    /// 10^k as UInt64 for 0 ≤ k ≤ 19 (a switch compiles to a table lookup; a global
    /// array would cost a lazy-init check and reference counting per number).
    @inlinable @inline(__always)
    static func powerOf10(_ k: Int) -> UInt64 {
        switch k {
        case 0: 1
        case 1: 10
        case 2: 100
        case 3: 1000
        case 4: 10000
        case 5: 100000
        case 6: 1000000
        case 7: 10000000
        case 8: 100000000
        case 9: 1000000000
        case 10: 10000000000
        case 11: 100000000000
        case 12: 1000000000000
        case 13: 10000000000000
        case 14: 100000000000000
        case 15: 1000000000000000
        case 16: 10000000000000000
        case 17: 100000000000000000
        case 18: 1000000000000000000
        default: 10000000000000000000
        }
    }

    /// 10^k as an exact Double for 0 ≤ k ≤ 22.
    @inlinable @inline(__always)
    static func exactPowerOf10(_ k: Int) -> Double {
        switch k {
        case 0: 1e0
        case 1: 1e1
        case 2: 1e2
        case 3: 1e3
        case 4: 1e4
        case 5: 1e5
        case 6: 1e6
        case 7: 1e7
        case 8: 1e8
        case 9: 1e9
        case 10: 1e10
        case 11: 1e11
        case 12: 1e12
        case 13: 1e13
        case 14: 1e14
        case 15: 1e15
        case 16: 1e16
        case 17: 1e17
        case 18: 1e18
        case 19: 1e19
        case 20: 1e20
        case 21: 1e21
        default: 1e22
        }
    }

    public enum Outcome: Sendable { case number(Double), notANumber, empty, invalid }

    @inlinable @inline(__always)
    public static func parse(_ p: UnsafePointer<UInt8>, _ count: Int) -> Outcome {
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
            // Eight digits at a time while they fit in the 19-digit budget (SWAR).
            while i + 8 <= count && significant + 8 <= 19 {
                let v = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self).littleEndian
                guard isEightDigits(v) else { break }
                sawDigit = true
                w = w &* 100_000_000 &+ eightDigits(v)
                if w != 0 { significant += 8 }
                exp10 -= 8
                i += 8
            }
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
            value = divide(w, powerOf10(-exp10))
        } else if exp10 > 0 && exp10 <= 19 {
            let (product, overflow) = w.multipliedReportingOverflow(by: powerOf10(exp10))
            if overflow { return slow(p, count) }
            value = Double(product)
        } else {
            return slow(p, count)
        }
        return .number(negative ? -value : value)
    }


    /// Whether eight bytes are all ASCII digits.
    @inlinable @inline(__always)
    static func isEightDigits(_ v: UInt64) -> Bool {
        ((v &+ 0x4646_4646_4646_4646) | (v &- 0x3030_3030_3030_3030)) & 0x8080_8080_8080_8080 == 0
    }

    /// The value of eight ASCII digits (first digit in the lowest byte).
    @inlinable @inline(__always)
    static func eightDigits(_ v0: UInt64) -> UInt64 {
        var v = v0 &- 0x3030_3030_3030_3030
        v = (v &* 10) &+ (v >> 8)
        let mask: UInt64 = 0x0000_00FF_0000_00FF
        v = (((v & mask) &* 0x000F_4240_0000_0064) &+ (((v >> 16) & mask) &* 0x0000_2710_0000_0001)) >> 32
        return v & 0xFFFF_FFFF
    }

    /// Correctly rounded w / b for w, b > 0.
    @inlinable @inline(__always)
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
        // Double(mantissa) is exact (≤ 2^53) and 2^(drop-s) is a normal power of two here
        // (|drop - s| < 140), so the product is exact: no libm call needed.
        let scale = Double(bitPattern: UInt64(1023 + drop - s) << 52)
        return Double(mantissa) * scale
    }

    @usableFromInline
    static func special(_ p: UnsafePointer<UInt8>, _ count: Int) -> Outcome {
        var text = ""
        for k in 0..<count { text.append(Character(Unicode.Scalar(p[k]))) }
        switch text.lowercased() {
        case "nan", "-nan", "+nan", "null", "na", "n/a", "none": return .notANumber
        case "inf", "+inf", "infinity", "+infinity": return .number(.infinity)
        case "-inf", "-infinity": return .number(-.infinity)
        default: return .invalid
        }
    }

    @usableFromInline
    static func slow(_ p: UnsafePointer<UInt8>, _ count: Int) -> Outcome {
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
