import Foundation
import MLInfraJSON

/// A metadata filter in Chroma's `where` syntax.
///
/// `{"genre": "jazz"}` is shorthand for `{"genre": {"$eq": "jazz"}}`; operators
/// are `$eq $ne $gt $gte $lt $lte $in $nin`, combined with `$and` / `$or`
/// (lists of filters). Several fields in one object are joined by `$and`.
///
/// Semantics, pinned by tests: `$eq` on a list-of-strings field matches when
/// the list contains the string; `$gt`-style operators need numbers on both
/// sides (an int and a float compare by value); a record without the field
/// matches neither `$eq` nor `$in`, and therefore does match `$ne` and `$nin`.
public indirect enum WhereFilter: Sendable, Hashable {
    case and([WhereFilter])
    case or([WhereFilter])
    case compare(field: String, op: Comparison, value: MetadataValue)
    case membership(field: String, negated: Bool, values: [MetadataValue])

    public enum Comparison: String, Sendable, Hashable {
        case eq = "$eq", ne = "$ne", gt = "$gt", gte = "$gte", lt = "$lt", lte = "$lte"
    }

    /// Parses a filter from JSON text; errors name the offending path (`where.$and[1].price`).
    public static func parse(json: String, field: String = "where") throws -> WhereFilter {
        try parse(try JSONValue.parse(json, field: field), path: field)
    }

    /// Parses a filter from a JSON value.
    public static func parse(_ value: JSONValue, path: String = "where") throws -> WhereFilter {
        guard case .object(let dict) = value else {
            throw VectorError.invalidField(path, "must be an object such as {\"field\": {\"$eq\": value}}, got \(value.kindName)")
        }
        guard !dict.isEmpty else { throw VectorError.invalidField(path, "is an empty object; give at least one condition") }
        var parts: [WhereFilter] = []
        for key in dict.keys.sorted() {
            let value = dict[key]!
            let here = "\(path).\(key)"
            switch key {
            case "$and", "$or":
                guard case .array(let list) = value, !list.isEmpty else {
                    throw VectorError.invalidField(here, "must be a non-empty list of filters")
                }
                let subs = try list.enumerated().map { try parse($0.element, path: "\(here)[\($0.offset)]") }
                parts.append(key == "$and" ? .and(subs) : .or(subs))
            default:
                if key.hasPrefix("$") {
                    throw VectorError.invalidField(here, "unknown logical operator; use $and or $or, or a field name")
                }
                parts.append(try parseCondition(field: key, value, path: here))
            }
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    private static func parseCondition(field: String, _ value: JSONValue, path: String) throws -> WhereFilter {
        guard case .object(let ops) = value else {
            return .compare(field: field, op: .eq, value: try scalar(value, path: path))
        }
        guard !ops.isEmpty else { throw VectorError.invalidField(path, "is an empty object; give an operator such as $eq") }
        var parts: [WhereFilter] = []
        for op in ops.keys.sorted() {
            let operand = ops[op]!
            let here = "\(path).\(op)"
            if let comparison = Comparison(rawValue: op) {
                let v = try scalar(operand, path: here)
                switch comparison {
                case .gt, .gte, .lt, .lte:
                    guard v.number != nil else {
                        throw VectorError.invalidField(here, "needs a number, got \(v)")
                    }
                default: break
                }
                parts.append(.compare(field: field, op: comparison, value: v))
            } else if op == "$in" || op == "$nin" {
                guard case .array(let list) = operand, !list.isEmpty else {
                    throw VectorError.invalidField(here, "needs a non-empty list of values")
                }
                let values = try list.enumerated().map { try scalar($0.element, path: "\(here)[\($0.offset)]") }
                parts.append(.membership(field: field, negated: op == "$nin", values: values))
            } else {
                throw VectorError.invalidField(
                    here, "unknown operator; use one of $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin")
            }
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    private static func scalar(_ value: JSONValue, path: String) throws -> MetadataValue {
        switch value {
        case .bool(let b): return .bool(b)
        case .int(let i): return .int(i)
        case .double(let d): return .float(d)
        case .string(let s): return .string(s)
        default: throw VectorError.invalidField(path, "must be a string, number or bool, got \(value.kindName)")
        }
    }

    /// Whether a record's metadata satisfies the filter.
    public func matches(_ metadata: [String: MetadataValue]) -> Bool {
        switch self {
        case .and(let subs): return subs.allSatisfy { $0.matches(metadata) }
        case .or(let subs): return subs.contains { $0.matches(metadata) }
        case .membership(let field, let negated, let values):
            guard let have = metadata[field] else { return negated }
            let found = values.contains { have.matches($0) }
            return negated ? !found : found
        case .compare(let field, let op, let value):
            guard let have = metadata[field] else { return op == .ne }
            switch op {
            case .eq: return have.matches(value)
            case .ne: return !have.matches(value)
            case .gt, .gte, .lt, .lte:
                guard let a = have.number, let b = value.number else { return false }
                switch op {
                case .gt: return a > b
                case .gte: return a >= b
                case .lt: return a < b
                default: return a <= b
                }
            }
        }
    }
}
