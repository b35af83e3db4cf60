import Foundation

/// A configuration or attribute value, as a spec, a provider or the state holds it.
///
/// `unknown` stands for a value that is only known after apply (an id, a
/// version number, a URL); it appears in plans, never in state.
public enum Value: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case number(Double)
    case string(String)
    case list([Value])
    case map([String: Value])
    case unknown

    public var isNull: Bool { if case .null = self { true } else { false } }
    public var isUnknown: Bool { if case .unknown = self { true } else { false } }

    /// True when this value or anything inside it is unknown.
    public var containsUnknown: Bool {
        switch self {
        case .unknown: true
        case .list(let items): items.contains { $0.containsUnknown }
        case .map(let entries): entries.values.contains { $0.containsUnknown }
        default: false
        }
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var intValue: Int? {
        switch self {
        case .int(let i): i
        case .number(let d) where d.rounded() == d && abs(d) < 9.0e15: Int(d)
        default: nil
        }
    }
    public var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }
    public var listValue: [Value]? { if case .list(let l) = self { l } else { nil } }
    public var mapValue: [String: Value]? { if case .map(let m) = self { m } else { nil } }

    public subscript(key: String) -> Value? {
        if case .map(let m) = self { m[key] } else { nil }
    }

    /// The value at a dotted path such as `replicas.max` or `checks.0.feature`.
    public func value(at path: String) -> Value? {
        var current: Value = self
        for step in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch current {
            case .map(let m):
                guard let next = m[String(step)] else { return nil }
                current = next
            case .list(let l):
                guard let i = Int(step), l.indices.contains(i) else { return nil }
                current = l[i]
            case .unknown:
                return .unknown
            default:
                return nil
            }
        }
        return current
    }

    /// Equality that treats an int and a number of the same value as equal (JSON does not keep the
    /// difference between `2` and `2.0`), recursively.
    public func sameValue(as other: Value) -> Bool {
        switch (self, other) {
        case (.int(let a), .number(let b)), (.number(let b), .int(let a)): return Double(a) == b
        case (.list(let a), .list(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.sameValue(as: $1) }
        case (.map(let a), .map(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { value.sameValue(as: $0) } ?? false }
        default: return self == other
        }
    }

    /// A short, human rendering used in plans and messages (strings quoted).
    public var rendered: String { rendered(replacing: { _ in nil }) }

    /// `rendered`, with the text `replace` gives for a part (a redacted secret) in place of that part.
    func rendered(replacing replace: (Value) -> String?) -> String {
        if let text = replace(self) { return text }
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .number(let d): return Value.format(d)
        case .string(let s): return Value.quote(s)
        case .unknown: return "(known after apply)"
        case .list(let items): return "[" + items.map { $0.rendered(replacing: replace) }.joined(separator: ", ") + "]"
        case .map(let entries) where entries.isEmpty: return "{}"
        case .map(let entries):
            return "{ " + entries.keys.sorted().map { "\($0) = \(entries[$0]!.rendered(replacing: replace))" }.joined(separator: ", ") + " }"
        }
    }

    /// The value as text when it is a scalar, for string interpolation.
    public var interpolated: String? {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        case .number(let d): Value.format(d)
        case .bool(let b): b ? "true" : "false"
        default: nil
        }
    }

    /// The name of the value's kind, for messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "bool"
        case .int: "int"
        case .number: "number"
        case .string: "string"
        case .list: "list"
        case .map: "map"
        case .unknown: "unknown"
        }
    }

    static func format(_ d: Double) -> String {
        if d.rounded() == d && abs(d) < 1e15 { return String(Int(d)) + ".0" }
        return String(d)
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if ch.value < 0x20 { out += String(format: "\\u%04x", ch.value) } else { out.unicodeScalars.append(ch) }
            }
        }
        return out + "\""
    }
}

extension Value: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(arrayLiteral elements: Value...) { self = .list(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) {
        self = .map(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

/// The same decoding ladder as the engines' `MLInfraJSON.JSONValue`, on purpose: the core imports
/// no engine-side module (ImportDirectionTests keeps it so), and `Value` has a case JSON lacks,
/// `unknown`, written as `{"$mlinfra_unknown": true}`.
extension Value: Codable {
    /// How an unknown value is written where JSON must carry one (plan files, the plugin protocol).
    public static let unknownMarker = "$mlinfra_unknown"

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .number(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let l = try? container.decode([Value].self) {
            self = .list(l)
        } else {
            let m = try container.decode([String: Value].self)
            if m.count == 1, m[Value.unknownMarker] == .bool(true) {
                self = .unknown
            } else {
                self = .map(m)
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .number(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .list(let l): try container.encode(l)
        case .map(let m): try container.encode(m)
        case .unknown: try container.encode([Value.unknownMarker: true])
        }
    }
}
