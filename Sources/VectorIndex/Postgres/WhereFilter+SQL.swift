import PostgresNIO

/// A SQL condition under construction: text with `$n` placeholders, and the values bound to them.
struct SQLCondition {
    var binds = PostgresBindings()

    /// The placeholder for a new bound value, cast to `type` (values never become SQL text).
    mutating func bind(_ value: some PostgresDynamicTypeEncodable, as type: String) -> String {
        binds.append(value)
        return "$\(binds.count)::\(type)"
    }
}

extension WhereFilter {
    /// The filter as a boolean SQL expression over the jsonb column `column`, every field name
    /// and value a bound parameter; it is never NULL, so `NOT` gives the local semantics of
    /// `$ne` and `$nin` (a record without the field matches them).
    ///
    /// Matching follows `matches(_:)`: `$eq` on a string also matches a list of strings holding
    /// it; numbers compare by value whatever their JSON spelling; `$gt`-style operators need a
    /// number in the record. Equality on strings and bools is jsonb containment (`@>`), which a
    /// GIN index on the column serves.
    func sql(column: String, into condition: inout SQLCondition) -> String {
        switch self {
        case .and(let subs): return "(" + subs.map { $0.sql(column: column, into: &condition) }.joined(separator: " AND ") + ")"
        case .or(let subs): return "(" + subs.map { $0.sql(column: column, into: &condition) }.joined(separator: " OR ") + ")"
        case .membership(let field, let negated, let values):
            let any = "(" + values.map { Self.equals(field, $0, column: column, into: &condition) }.joined(separator: " OR ") + ")"
            return negated ? "(NOT \(any))" : any
        case .compare(let field, let op, let value):
            switch op {
            case .eq: return Self.equals(field, value, column: column, into: &condition)
            case .ne: return "(NOT \(Self.equals(field, value, column: column, into: &condition)))"
            case .gt, .gte, .lt, .lte:
                let symbol = [Comparison.gt: ">", .gte: ">=", .lt: "<", .lte: "<="][op]!
                return Self.numeric(field, symbol, value.number ?? 0, column: column, into: &condition)
            }
        }
    }

    private static func equals(_ field: String, _ value: MetadataValue, column: String, into c: inout SQLCondition) -> String {
        switch value {
        case .string(let s):
            let f = c.bind(field, as: "text")
            let v = c.bind(s, as: "text")
            return "(\(column) @> jsonb_build_object(\(f), \(v)) OR \(column) @> jsonb_build_object(\(f), jsonb_build_array(\(v))))"
        case .bool(let b):
            return "(\(column) @> jsonb_build_object(\(c.bind(field, as: "text")), \(c.bind(b, as: "boolean"))))"
        case .int, .float:
            return numeric(field, "=", value.number!, column: column, into: &c)
        case .strings:
            // A filter's operands are scalars (`WhereFilter.parse`); a list never equals one.
            return "false"
        }
    }

    private static func numeric(_ field: String, _ symbol: String, _ number: Double, column: String, into c: inout SQLCondition) -> String {
        let f = c.bind(field, as: "text")
        // CASE, not AND: SQL may evaluate AND's sides in any order, and a string must never reach the cast.
        return "(CASE WHEN jsonb_typeof(\(column) -> \(f)) = 'number' THEN (\(column) ->> \(f))::float8 \(symbol) \(c.bind(number, as: "float8")) ELSE false END)"
    }
}
