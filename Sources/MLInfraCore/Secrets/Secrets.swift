import Crypto
import Foundation

/// Keeps secret values out of state, plans and output.
///
/// Sensitivity is a set of attribute paths (`token`, `alert.token`, `checks.*.secret`): `*` stands
/// for every element of a list or every value of a map. A path covers everything below it.
/// A sensitive value is stored as a keyed HMAC (`StateKey`), enough to tell whether it changed and
/// useless for reading it back; views show it as `(sensitive)`.
public enum Secrets {
    public static let markerKey = "$sensitive"

    /// What views put in place of a sensitive value they must not show.
    public static let masked: Value = .map([markerKey: .bool(true)])

    /// The stored form of a secret value. Unknown and null values stay as they are.
    public static func redact(_ value: Value, key: StateKey) -> Value {
        switch value {
        case .unknown, .null: return value
        case .map(let m) where m.count == 1 && m[markerKey] != nil: return value
        default: return .map([markerKey: .string("hmac-sha256:" + key.mac(canonicalText(value)))])
        }
    }

    public static func isRedacted(_ value: Value) -> Bool {
        if case .map(let m) = value, m.count == 1, m[markerKey] != nil { return true }
        return false
    }

    /// A value with its sensitive `paths` (relative to it; "" for the whole) redacted for storage:
    /// only the secret parts, so the same value read back from state (where those parts are
    /// redacted already) redacts to the same thing.
    public static func redact(_ value: Value, paths: Set<String>, key: StateKey) -> Value {
        if paths.contains("") { return redact(value, key: key) }
        var out = value
        for path in paths { out = transform(out, Array(split(path))[...]) { redact($0, key: key) } }
        return out
    }

    /// The attributes with the values at the sensitive `paths` redacted for storage.
    public static func redact(_ attributes: [String: Value], paths: Set<String>, key: StateKey) -> [String: Value] {
        replacing(attributes, paths: paths) { redact($0, key: key) }
    }

    /// The attributes with the values at the sensitive `paths` replaced by `masked`, for views.
    public static func mask(_ attributes: [String: Value], paths: Set<String>) -> [String: Value] {
        replacing(attributes, paths: paths) { $0.isNull || $0.isUnknown ? $0 : masked }
    }

    /// A value with everything at `paths` (relative to it; "" for the whole) masked, for views.
    public static func mask(_ value: Value, paths: Set<String>) -> Value {
        if paths.contains("") { return value.isNull || value.isUnknown ? value : masked }
        var out = value
        for path in paths { out = transform(out, Array(split(path))[...]) { $0.isNull || $0.isUnknown ? $0 : masked } }
        return out
    }

    static func replacing(_ attributes: [String: Value], paths: Set<String>, _ f: (Value) -> Value) -> [String: Value] {
        guard !paths.isEmpty else { return attributes }
        var out = attributes
        for path in paths {
            let steps = split(path)
            guard let first = steps.first, first != "*", let current = out[first] else { continue }
            out[first] = transform(current, steps.dropFirst(), f)
        }
        return out
    }

    static func transform(_ value: Value, _ steps: ArraySlice<String>, _ f: (Value) -> Value) -> Value {
        guard let head = steps.first else { return f(value) }
        let rest = steps.dropFirst()
        switch value {
        case .map(let m) where !isRedacted(value):
            if head == "*" { return .map(m.mapValues { transform($0, rest, f) }) }
            guard let inner = m[head] else { return value }
            var copy = m
            copy[head] = transform(inner, rest, f)
            return .map(copy)
        case .list(let l):
            if head == "*" { return .list(l.map { transform($0, rest, f) }) }
            guard let i = Int(head), l.indices.contains(i) else { return value }
            var copy = l
            copy[i] = transform(l[i], rest, f)
            return .list(copy)
        default:
            return value
        }
    }

    static func split(_ path: String) -> [String] {
        path.isEmpty ? [] : path.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    }

    static func matches(_ pattern: [String], _ path: [String]) -> Bool {
        guard pattern.count <= path.count else { return false }
        return zip(pattern, path).allSatisfy { $0 == "*" || $0 == $1 }
    }

    /// Whether the value at `path` is sensitive: a sensitive path is it or lies above it.
    public static func covers(_ paths: Set<String>, _ path: String) -> Bool {
        if paths.isEmpty { return false }
        let steps = split(path)
        return paths.contains { matches(split($0), steps) }
    }

    /// The sensitive paths inside the value at `path`, relative to it ("" when all of it is).
    public static func relative(_ paths: Set<String>, below path: String) -> Set<String> {
        if paths.isEmpty { return [] }
        let steps = split(path)
        var out = Set<String>()
        for p in paths {
            let pattern = split(p)
            if matches(pattern, steps) { return [""] }
            if pattern.count > steps.count, zip(pattern, steps).allSatisfy({ $0 == "*" || $0 == $1 }) {
                out.insert(pattern.dropFirst(steps.count).joined(separator: "."))
            }
        }
        return out
    }

    /// The sensitive paths a schema declares, nested objects included.
    public static func paths(of schema: ResourceSchema) -> Set<String> {
        var out = Set<String>()
        for (name, attribute) in schema.attributes { collect(attribute, path: name, into: &out) }
        return out
    }

    static func collect(_ attribute: AttributeSchema, path: String, into out: inout Set<String>) {
        if attribute.sensitive {
            out.insert(path)
            return
        }
        collect(attribute.type, path: path, into: &out)
    }

    static func collect(_ type: AttributeType, path: String, into out: inout Set<String>) {
        switch type {
        case .object(let attributes):
            for (name, a) in attributes { collect(a, path: path + "." + name, into: &out) }
        case .list(let element), .map(let element):
            collect(element, path: path + ".*", into: &out)
        default: break
        }
    }

    /// The text of the secrets at `paths` in `attributes`: every non-empty string inside them.
    public static func texts(in attributes: [String: Value], paths: Set<String>) -> Set<String> {
        var out = Set<String>()
        for path in paths {
            let steps = split(path)
            guard let first = steps.first, let value = attributes[first] else { continue }
            gather(value, steps.dropFirst(), into: &out)
        }
        return out
    }

    static func gather(_ value: Value, _ steps: ArraySlice<String>, into out: inout Set<String>) {
        guard let head = steps.first else {
            strings(value, into: &out)
            return
        }
        switch value {
        case .map(let m): for (k, v) in m where head == "*" || head == k { gather(v, steps.dropFirst(), into: &out) }
        case .list(let l): for (i, v) in l.enumerated() where head == "*" || head == String(i) { gather(v, steps.dropFirst(), into: &out) }
        default: break
        }
    }

    static func strings(_ value: Value, into out: inout Set<String>) {
        switch value {
        case .string(let s) where !s.isEmpty: out.insert(s)
        case .list(let l): for v in l { strings(v, into: &out) }
        case .map(let m) where !isRedacted(value): for v in m.values { strings(v, into: &out) }
        default: break
        }
    }

    /// Top-level attributes whose value carries the text of one of `secrets`: a provider built
    /// them from a sensitive input (an `id` such as `main/<secret>-x`), so they are sensitive too.
    /// Parts already at sensitive `paths` are not looked at.
    public static func derived(_ attributes: [String: Value], from secrets: Set<String>, besides paths: Set<String>) -> Set<String> {
        guard !secrets.isEmpty else { return [] }
        var out = Set<String>()
        for (key, value) in mask(attributes, paths: paths) {
            var found = Set<String>()
            strings(value, into: &found)
            if found.contains(where: { text in secrets.contains { text.contains($0) } }) { out.insert(key) }
        }
        return out
    }

    /// The attribute `key` as views print it, given the sensitive paths of its resource:
    /// `(sensitive)` for a secret, and for a value with secrets inside, those parts.
    public static func display(_ value: Value?, at key: String, sensitive: Set<String>) -> String {
        guard let value else { return "null" }
        return render(mask(value, paths: relative(sensitive, below: key)))
    }

    /// A value as views print it: like `Value.rendered`, with redacted and masked parts as `(sensitive)`.
    public static func render(_ value: Value) -> String {
        value.rendered { isRedacted($0) ? "(sensitive)" : nil }
    }

    /// A stable text of a value, for hashing (map keys sorted).
    public static func canonicalText(_ value: Value) -> String {
        switch value {
        case .map(let m): "{" + m.keys.sorted().map { Value.quote($0) + ":" + canonicalText(m[$0]!) }.joined(separator: ",") + "}"
        case .list(let l): "[" + l.map(canonicalText).joined(separator: ",") + "]"
        default: value.rendered
        }
    }
}
