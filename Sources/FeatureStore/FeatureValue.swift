import Foundation
import MLInfraJSON

/// One feature value, typed.
public enum FeatureValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case int(Int64)
    case double(Double)
    case string(String)
    case bool(Bool)

    public var isNull: Bool { if case .null = self { true } else { false } }

    /// Parses cell text as a value of `type`; empty text is null. Nil when the text does not fit the type.
    static func parse(_ p: UnsafePointer<UInt8>, _ n: Int, as type: ValueType) -> FeatureValue? {
        if n == 0 { return .null }
        switch type {
        case .int64, .int32:
            return CellText.parseInt(p, n).map { .int($0) }
        case .float64, .float32:
            guard let d = CellText.parseDouble(p, n) else { return nil }
            if d.isNaN { return .null }
            return .double(type == .float32 ? Double(Float(d)) : d)
        case .string:
            return .string(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
        case .bool:
            return CellText.parseBool(p, n).map { .bool($0) }
        case .unixTimestamp:
            return Timestamp.parse(p, n).map { .int($0 / Timestamp.microsPerSecond) }
        }
    }

    /// Parses a string as a value of `type`.
    public static func parse(_ text: String, as type: ValueType) -> FeatureValue? {
        var copy = text
        return copy.withUTF8 { buf in
            buf.count == 0 ? .null : parse(buf.baseAddress!, buf.count, as: type)
        }
    }

    /// The value as a CSV cell (empty for null; quoted when it must be).
    public var csvText: String {
        switch self {
        case .null: return ""
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? FeatureValue.shortest(d) : (d.isNaN ? "" : (d > 0 ? "inf" : "-inf"))
        case .bool(let b): return b ? "True" : "False"
        case .string(let s):
            guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }

    /// The value as JSON text.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? FeatureValue.shortest(d) : "null"
        case .bool(let b): return b ? "true" : "false"
        case .string(let s): return JSONText.quote(s)
        }
    }

    public var description: String { jsonText }

    /// Appends the value as JSON text (what `jsonText` gives, without the intermediate string).
    @inline(__always)
    func writeJSON(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(static: "null")
        case .int(let i): appendDecimal(i, to: &out)
        case .double(let d):
            if d.isFinite { out.append(contentsOf: FeatureValue.shortest(d).utf8) } else { out.append(static: "null") }
        case .bool(let b): out.append(static: b ? "true" : "false")
        case .string(let s): JSONText.quote(s, into: &out)
        }
    }

    /// Shortest text that reads back as the same double (`57.258116`, `1e-07`, `3.0`).
    static func shortest(_ d: Double) -> String {
        d.description
    }
}

extension Array where Element == UInt8 {
    /// Appends the bytes of a literal (without going through `String`).
    @inline(__always)
    mutating func append(static text: StaticString) {
        append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

/// Minimal JSON text helpers for the writers that build output byte by byte.
enum JSONText {
    /// Appends `s` as a JSON string literal.
    static func quote(_ s: String, into out: inout [UInt8]) {
        out.append(0x22)
        var clean = true
        for b in s.utf8 where b < 0x20 || b == 0x22 || b == 0x5C { clean = false; break }
        if clean {
            out.append(contentsOf: s.utf8)
        } else {
            out.append(contentsOf: quote(s).utf8.dropFirst().dropLast())
        }
        out.append(0x22)
    }

    static func quote(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count + 2)
        JSONValue.quote(s, into: &out)
        return out
    }
}
