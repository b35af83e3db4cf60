import Foundation

extension JSONValue {
    /// Parses a JSON document with `JSONReader`; nil when the bytes are not exactly one JSON value.
    public static func read(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { bytes in
            var reader = JSONReader(bytes)
            return reader.document()
        }
    }

    /// Whether bytes are a number in JSON's grammar (so they can be copied into JSON as they are).
    /// Inlinable: the historical retrieval asks it of every feature value it writes.
    @inlinable
    public static func isNumber(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        @inline(__always) func isDigit(_ k: Int) -> Bool { k < n && p[k] >= 0x30 && p[k] <= 0x39 }
        if i < n, p[i] == 0x2D { i += 1 }
        guard isDigit(i) else { return false }
        if p[i] == 0x30 { i += 1 } else { while isDigit(i) { i += 1 } }
        if i < n, p[i] == 0x2E {
            i += 1
            guard isDigit(i) else { return false }
            while isDigit(i) { i += 1 }
        }
        if i < n, p[i] == 0x65 || p[i] == 0x45 {
            i += 1
            if i < n, p[i] == 0x2B || p[i] == 0x2D { i += 1 }
            guard isDigit(i) else { return false }
            while isDigit(i) { i += 1 }
        }
        return i == n
    }
}

/// A small strict JSON reader for request bodies (RFC 8259): objects, arrays, strings with every
/// escape, numbers (integers without fraction or exponent that fit 64 bits stay integers), true,
/// false, null. Nesting deeper than 64 levels is refused rather than recursed into.
///
/// It produces `JSONValue` but reads the bytes itself rather than through `JSONValue.parse`
/// (Foundation's decoder): the feature server parses every request body that misses its
/// `ScannedRequest` fast path here, and a serving replica every inference request, without
/// copies (docs/benchmarks.md). Numbers are read as Swift reads them (`Int`, else `Double`:
/// correctly rounded), not through Foundation's `Decimal`.
public struct JSONReader {
    let p: UnsafeRawBufferPointer
    var i = 0
    var depth = 0

    public init(_ bytes: UnsafeRawBufferPointer) { p = bytes }

    /// The whole body as one value; nil when it is not exactly one JSON value.
    public mutating func document() -> JSONValue? {
        guard let v = value() else { return nil }
        skipSpace()
        return i == p.count ? v : nil
    }

    @inline(__always) mutating func skipSpace() {
        while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard i + n <= p.count else { return false }
        for k in 0..<n where p[i + k] != text.utf8Start[k] { return false }
        i += n
        return true
    }

    mutating func value() -> JSONValue? {
        skipSpace()
        guard i < p.count else { return nil }
        switch p[i] {
        case 0x7B:  // {
            guard depth < 64 else { return nil }
            depth += 1
            defer { depth -= 1 }
            i += 1
            var dict: [String: JSONValue] = [:]
            skipSpace()
            if i < p.count, p[i] == 0x7D { i += 1; return .object(dict) }
            while true {
                skipSpace()
                guard i < p.count, p[i] == 0x22, let key = string() else { return nil }
                skipSpace()
                guard i < p.count, p[i] == 0x3A else { return nil }
                i += 1
                guard let v = value() else { return nil }
                dict[key] = v
                skipSpace()
                guard i < p.count else { return nil }
                if p[i] == 0x2C { i += 1; continue }
                if p[i] == 0x7D { i += 1; return .object(dict) }
                return nil
            }
        case 0x5B:  // [
            guard depth < 64 else { return nil }
            depth += 1
            defer { depth -= 1 }
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < p.count, p[i] == 0x5D { i += 1; return .array(items) }
            while true {
                guard let v = value() else { return nil }
                items.append(v)
                skipSpace()
                guard i < p.count else { return nil }
                if p[i] == 0x2C { i += 1; continue }
                if p[i] == 0x5D { i += 1; return .array(items) }
                return nil
            }
        case 0x22:
            return string().map { .string($0) }
        case 0x74: return literal("true") ? .bool(true) : nil
        case 0x66: return literal("false") ? .bool(false) : nil
        case 0x6E: return literal("null") ? .null : nil
        default:
            return number()
        }
    }

    mutating func number() -> JSONValue? {
        let start = i
        var integral = true
        scan: while i < p.count {
            switch p[i] {
            case 0x30...0x39, 0x2D: i += 1
            case 0x2E, 0x65, 0x45, 0x2B: integral = false; i += 1
            default: break scan
            }
        }
        let span = UnsafeRawBufferPointer(rebasing: p[start..<i])
        guard !span.isEmpty else { return nil }
        let digits = span.assumingMemoryBound(to: UInt8.self)
        guard JSONValue.isNumber(digits.baseAddress!, digits.count) else { return nil }
        let text = String(decoding: span, as: UTF8.self)
        if integral, let v = Int(text) { return .int(v) }
        return Double(text).map { .double($0) }
    }

    /// A string starting at the opening quote.
    mutating func string() -> String? {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < p.count, p[i] != 0x22, p[i] != 0x5C, p[i] >= 0x20 { i += 1 }
        guard i < p.count else { return nil }
        if p[i] == 0x22 {
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
            i += 1
            return s
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: p[start..<i]))
        while i < p.count {
            let c = p[i]
            if c == 0x22 { i += 1; return String(decoding: out, as: UTF8.self) }
            guard c >= 0x20 else { return nil }
            if c != 0x5C { out.append(c); i += 1; continue }
            i += 1
            guard i < p.count else { return nil }
            let e = p[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard var scalar = hex4() else { return nil }
                if scalar >= 0xD800, scalar < 0xDC00 {
                    guard i + 1 < p.count, p[i] == 0x5C, p[i + 1] == 0x75 else { return nil }
                    i += 2
                    guard let low = hex4(), low >= 0xDC00, low < 0xE000 else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00, scalar < 0xE000 {
                    return nil
                }
                guard let u = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: String(Character(u)).utf8)
            default: return nil
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard i + 4 <= p.count else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = p[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: return nil
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
