import Foundation

/// Points in time as microseconds since the Unix epoch (UTC), parsed straight from bytes.
///
/// Feature files hold millions of timestamps; going through `DateFormatter` or
/// `ISO8601DateFormatter` would cost more than the whole join.
public enum Timestamp {
    public static let microsPerSecond: Int64 = 1_000_000

    /// Parses ISO-8601 (`2024-01-01T00:00:00Z`, `2024-01-01 00:00:00.5+02:00`, `2024-01-01`)
    /// or whole seconds since the epoch (`1704067200`). Nil when the text is neither.
    public static func parse(_ text: String) -> Int64? {
        var copy = text
        return copy.withUTF8 { buf in parse(buf.baseAddress!, buf.count) }
    }

    /// Parses `count` bytes at `p`; see `parse(_:)`.
    @inlinable
    public static func parse(_ p: UnsafePointer<UInt8>, _ count: Int) -> Int64? {
        if count == 20, let t = parseUTCSeconds(p) { return t }
        var n = count
        var s = p
        while n > 0, s[0] == 0x20 { s += 1; n -= 1 }
        while n > 0, s[n - 1] == 0x20 { n -= 1 }
        guard n > 0 else { return nil }
        @inline(__always) func digit(_ i: Int) -> Int64? {
            let c = s[i]
            return c >= 0x30 && c <= 0x39 ? Int64(c &- 0x30) : nil
        }
        // Epoch seconds: all digits, optional sign.
        if n < 4 || s[4] != 0x2D {
            var i = 0
            var neg = false
            if s[0] == 0x2D { neg = true; i = 1 }
            guard i < n else { return nil }
            var v: Int64 = 0
            while i < n {
                guard let d = digit(i), v < 1_000_000_000_000 else { return nil }
                v = v * 10 + d
                i += 1
            }
            return (neg ? -v : v) * microsPerSecond
        }
        guard n >= 10, let y0 = digit(0), let y1 = digit(1), let y2 = digit(2), let y3 = digit(3), s[4] == 0x2D,
            let m0 = digit(5), let m1 = digit(6), s[7] == 0x2D, let d0 = digit(8), let d1 = digit(9)
        else { return nil }
        let year = y0 * 1000 + y1 * 100 + y2 * 10 + y3
        let month = m0 * 10 + m1
        let day = d0 * 10 + d1
        guard month >= 1, month <= 12, day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        var seconds = daysFromCivil(year, month, day) * 86400
        var micros: Int64 = 0
        var i = 10
        if i < n {
            guard s[i] == 0x54 || s[i] == 0x20 || s[i] == 0x74, n >= i + 9, let h0 = digit(i + 1), let h1 = digit(i + 2),
                s[i + 3] == 0x3A, let mi0 = digit(i + 4), let mi1 = digit(i + 5), s[i + 6] == 0x3A,
                let s0 = digit(i + 7), let s1 = digit(i + 8)
            else { return nil }
            let hour = h0 * 10 + h1
            let minute = mi0 * 10 + mi1
            let second = s0 * 10 + s1
            guard hour < 24, minute < 60, second < 61 else { return nil }
            seconds += hour * 3600 + minute * 60 + second
            i += 9
            if i < n, s[i] == 0x2E {
                i += 1
                var scale: Int64 = 100_000
                var any = false
                while i < n, let d = digit(i) {
                    micros += d * scale
                    scale /= 10
                    any = true
                    i += 1
                }
                guard any else { return nil }
            }
            if i < n {
                if s[i] == 0x5A || s[i] == 0x7A {
                    i += 1
                } else if s[i] == 0x2B || s[i] == 0x2D {
                    let sign: Int64 = s[i] == 0x2B ? 1 : -1
                    guard n >= i + 5, let a = digit(i + 1), let b = digit(i + 2) else { return nil }
                    var j = i + 3
                    if s[j] == 0x3A { j += 1 }
                    guard n >= j + 2, let c = digit(j), let d = digit(j + 1) else { return nil }
                    seconds -= sign * ((a * 10 + b) * 3600 + (c * 10 + d) * 60)
                    i = j + 2
                } else {
                    return nil
                }
            }
            guard i == n else { return nil }
        }
        return seconds * microsPerSecond + micros
    }

    /// Days since the epoch, seconds into that day and microseconds into that second, all
    /// rounded towards the past (so times before 1970 split the same way).
    @inline(__always)
    static func split(_ micros: Int64) -> (days: Int64, seconds: Int64, micros: Int64) {
        var seconds = micros / microsPerSecond
        var frac = micros % microsPerSecond
        if frac < 0 { frac += microsPerSecond; seconds -= 1 }
        var days = seconds / 86400
        var rem = seconds % 86400
        if rem < 0 { rem += 86400; days -= 1 }
        return (days, rem, frac)
    }

    /// `2024-01-01T00:00:00Z`, with `.ffffff` only when the time has a fraction of a second.
    public static func format(_ micros: Int64) -> String {
        let (days, rem, frac) = split(micros)
        let (y, m, d) = civilFromDays(days)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        // ISO 8601: at least four year digits; years before 0 carry a minus sign before them.
        let digits = String(y.magnitude)
        let year = (y < 0 ? "-" : "") + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        var out = "\(year)-\(two(m))-\(two(d))T"
        out += "\(two(rem / 3600)):\(two(rem % 3600 / 60)):\(two(rem % 60))"
        if frac != 0 {
            let f = String(frac)
            out += "." + String(repeating: "0", count: 6 - f.count) + f
        }
        return out + "Z"
    }

    /// Appends `format(micros)` as bytes, without building a string (years 0–9999; others fall back).
    static func write(_ micros: Int64, into out: inout [UInt8]) {
        let (days, rem, frac) = split(micros)
        let (y, m, d) = civilFromDays(days)
        guard y >= 0, y <= 9999 else { out.append(contentsOf: format(micros).utf8); return }
        @inline(__always) func digits(_ v: Int64, _ count: Int) {
            var div: Int64 = 1
            for _ in 1..<count { div *= 10 }
            var x = v
            while div > 0 {
                out.append(UInt8(truncatingIfNeeded: x / div) + 0x30)
                x %= div
                div /= 10
            }
        }
        digits(y, 4); out.append(0x2D); digits(m, 2); out.append(0x2D); digits(d, 2); out.append(0x54)
        digits(rem / 3600, 2); out.append(0x3A); digits(rem % 3600 / 60, 2); out.append(0x3A); digits(rem % 60, 2)
        if frac != 0 { out.append(0x2E); digits(frac, 6) }
        out.append(0x5A)
    }

    /// Now, in microseconds since the epoch.
    public static func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1e6).rounded()) }

    /// `YYYY-MM-DDTHH:MM:SSZ` exactly (what most files hold), in one pass; nil for anything else,
    /// which `parse` then reads in full.
    @inline(__always) @usableFromInline
    static func parseUTCSeconds(_ p: UnsafePointer<UInt8>) -> Int64? {
        // Three overlapping words: `YYYY-MM-`, `DDTHH:MM` and `H:MM:SSZ`. Separators are compared
        // bytewise through masks; the digits are checked eight at a time (a byte is a digit when
        // it is 0x30...0x39, i.e. when `byte ^ 0x30` is below 10).
        let raw = UnsafeRawPointer(p)
        let w0 = UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self))
        let w1 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let w2 = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 12, as: UInt64.self))
        guard w0 & 0xFF00_00FF_0000_0000 == 0x2D00_002D_0000_0000,  // - at 4 and 7
            w1 & 0x0000_FF00_00FF_0000 == 0x0000_3A00_0054_0000,  // T at 10, : at 13
            w2 & 0xFF00_00FF_0000_0000 == 0x5A00_003A_0000_0000  // : at 16, Z at 19
        else { return nil }
        let t0 = (w0 ^ 0x3030_3030_3030_3030) & 0x00FF_FF00_FFFF_FFFF
        let t1 = (w1 ^ 0x3030_3030_3030_3030) & 0xFFFF_00FF_FF00_FFFF
        let t2 = (w2 ^ 0x3030_3030_3030_3030) & 0x00FF_FF00_0000_0000
        @inline(__always) func notDigits(_ t: UInt64) -> UInt64 { (t | (t &+ 0x0606_0606_0606_0606)) & 0xF0F0_F0F0_F0F0_F0F0 }
        guard notDigits(t0) | notDigits(t1) | notDigits(t2) == 0 else { return nil }
        @inline(__always) func d(_ t: UInt64, _ byte: UInt64) -> Int64 { Int64((t >> (byte &* 8)) & 0xFF) }
        let year = d(t0, 0) &* 1000 &+ d(t0, 1) &* 100 &+ d(t0, 2) &* 10 &+ d(t0, 3)
        let month = d(t0, 5) &* 10 &+ d(t0, 6)
        let day = d(t1, 0) &* 10 &+ d(t1, 1)
        let hour = d(t1, 3) &* 10 &+ d(t1, 4)
        let minute = d(t1, 6) &* 10 &+ d(t1, 7)
        let second = d(t2, 5) &* 10 &+ d(t2, 6)
        guard month >= 1, month <= 12, day >= 1, hour < 24, minute < 60, second < 61 else { return nil }
        let index = Int((year - 1900) * 12 + month - 1)
        let days: Int64
        if index >= 0 && index + 1 < monthStarts.count {
            // The month's length is the distance to the next month's start: no divisions per row.
            let start = monthStarts[index]
            guard day <= monthStarts[index + 1] - start else { return nil }
            days = start + day - 1
        } else {
            guard day <= daysIn(month: month, year: year) else { return nil }
            days = daysFromCivil(year, month, day)
        }
        return (days * 86400 + hour * 3600 + minute * 60 + second) * microsPerSecond
    }

    /// Days since the epoch of the first of each month from 1900 to 2199 (no divisions per row).
    @usableFromInline
    static let monthStarts: [Int64] = (0..<(300 * 12)).map { i in daysFromCivil(1900 + Int64(i / 12), Int64(i % 12) + 1, 1) }

    @usableFromInline
    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    @usableFromInline
    static func daysFromCivil(_ year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func civilFromDays(_ days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, m, d)
    }
}
