import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One field of a CSV record: its raw byte range, quotes included.
public struct CSVField: Sendable {
    public var start: Int
    public var end: Int
    public var quoted: Bool

    @inlinable public init(start: Int, end: Int, quoted: Bool) {
        self.start = start
        self.end = end
        self.quoted = quoted
    }

    /// The range of the value, without the enclosing quotes.
    @inlinable @inline(__always) public var innerStart: Int { quoted ? start + 1 : start }
    @inlinable @inline(__always) public var innerEnd: Int { quoted ? end - 1 : end }
    /// The value's length in bytes, without the enclosing quotes.
    @inlinable @inline(__always) public var length: Int { innerEnd - innerStart }
}

/// The engines' one CSV scanner (RFC 4180: comma separated, `"` quoting with `""` escapes, LF or
/// CRLF line ends) over bytes in memory: records split into fields without building strings,
/// a word-at-a-time path for data without quotes, and line numbers for error messages. What the
/// cells mean (feature values, drift columns) stays with each engine.
public enum CSVScanner {
    /// Scans one record starting at `offset`, appending up to `limit` fields. Returns the offset
    /// just past the record's line end, or `offset` itself at the end of the data.
    @inlinable @inline(__always)
    public static func scanRecord(
        _ base: UnsafePointer<UInt8>, _ count: Int, from offset: Int, into fields: inout [CSVField], limit: Int
    ) -> Int {
        if !fields.isEmpty { fields.removeLast(fields.count) }
        var i = offset
        guard i < count else { return offset }
        var fieldStart = i
        var quoted = false
        while i < count {
            let c = base[i]
            if c == 0x22, i == fieldStart {
                quoted = true
                i += 1
                while i < count {
                    if base[i] == 0x22 {
                        if i + 1 < count, base[i + 1] == 0x22 { i += 2; continue }
                        break
                    }
                    i += 1
                }
                i += 1
                continue
            }
            if c == 0x2C {
                if fields.count < limit { fields.append(CSVField(start: fieldStart, end: i, quoted: quoted)) }
                i += 1
                fieldStart = i
                quoted = false
                continue
            }
            if c == 0x0A {
                var end = i
                if end > fieldStart, base[end - 1] == 0x0D { end -= 1 }
                if fields.count < limit { fields.append(CSVField(start: fieldStart, end: end, quoted: quoted)) }
                return i + 1
            }
            i += 1
        }
        var end = min(i, count)
        if end > fieldStart, base[end - 1] == 0x0D { end -= 1 }
        if fields.count < limit { fields.append(CSVField(start: fieldStart, end: end, quoted: quoted)) }
        return count
    }

    /// `scanRecord` for data without any `"`: fields end at the next `,` or line end, which are
    /// found eight bytes at a time; past `limit` fields the line end is found with `memchr`.
    /// Gives exactly what `scanRecord` gives on such data (`CSVScanTests`).
    @inlinable @inline(__always)
    public static func scanPlainRecord(
        _ base: UnsafePointer<UInt8>, _ count: Int, from offset: Int, into fields: inout [CSVField], limit: Int
    ) -> Int {
        if !fields.isEmpty { fields.removeLast(fields.count) }
        guard offset < count else { return offset }
        var fieldStart = offset
        var i = offset
        @inline(__always) func lineEnd(_ at: Int) -> Int {
            var end = at
            if end > fieldStart, base[end - 1] == 0x0D { end -= 1 }
            if fields.count < limit { fields.append(CSVField(start: fieldStart, end: end, quoted: false)) }
            return at + 1
        }
        while i + 8 <= count {
            if fields.count >= limit {
                guard let nl = memchr(base + i, 0x0A, count - i) else { i = count; break }
                return lineEnd(UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) - base)
            }
            let word = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            var hits = delimiters(in: word)
            while hits != 0 {
                let at = i + hits.trailingZeroBitCount >> 3
                if base[at] == 0x0A { return lineEnd(at) }
                if fields.count < limit { fields.append(CSVField(start: fieldStart, end: at, quoted: false)) }
                fieldStart = at + 1
                hits &= hits - 1
            }
            i += 8
        }
        while i < count {
            if base[i] == 0x0A { return lineEnd(i) }
            if base[i] == 0x2C {
                if fields.count < limit { fields.append(CSVField(start: fieldStart, end: i, quoted: false)) }
                fieldStart = i + 1
            }
            i += 1
        }
        var end = count
        if end > fieldStart, base[end - 1] == 0x0D { end -= 1 }
        if fields.count < limit { fields.append(CSVField(start: fieldStart, end: end, quoted: false)) }
        return count
    }

    /// The high bit of each byte of `word` that is a comma or a line feed, and no other bit.
    @inlinable @inline(__always)
    public static func delimiters(in word: UInt64) -> UInt64 {
        zeroBytes(word ^ 0x2C2C_2C2C_2C2C_2C2C) | zeroBytes(word ^ 0x0A0A_0A0A_0A0A_0A0A)
    }

    /// The high bit of each byte of `x` that is zero, and no other bit.
    @inlinable @inline(__always)
    public static func zeroBytes(_ x: UInt64) -> UInt64 {
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        return ~(((x & low7) &+ low7) | x | low7)
    }

    /// The value of a field as a string, quotes removed and `""` unescaped.
    @inlinable
    public static func string(_ base: UnsafePointer<UInt8>, _ f: CSVField) -> String {
        let buf = UnsafeBufferPointer(start: base + f.innerStart, count: max(0, f.innerEnd - f.innerStart))
        let s = String(decoding: buf, as: UTF8.self)
        return f.quoted && s.contains("\"\"") ? s.replacingOccurrences(of: "\"\"", with: "\"") : s
    }

    /// The 1-based line number of a byte offset in `base[0..<count]`.
    public static func lineNumber(_ base: UnsafePointer<UInt8>, _ count: Int, at offset: Int) -> Int {
        var line = 1
        var p = base
        let end = base + min(offset, count)
        while p < end, let nl = memchr(p, 0x0A, end - p) {
            line += 1
            p = UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) + 1
        }
        return line
    }
}
