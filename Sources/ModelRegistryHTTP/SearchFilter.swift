import Foundation
import MLInfraJSON
import ModelRegistry

/// MLflow's search filter: conditions like `name = 'fraud'`, `name LIKE 'fr%'`, `tags.team = 'risk'`,
/// `name IN ('a', 'b')`, `version_number > 1`, `metrics.accuracy >= 0.9`, joined with AND.
/// Two numbers compare as numbers, anything else as text.
struct SearchFilter {
    enum Op: String {
        case equal = "="
        case notEqual = "!="
        case like = "LIKE"
        case ilike = "ILIKE"
        case greater = ">"
        case greaterOrEqual = ">="
        case less = "<"
        case lessOrEqual = "<="
        case isIn = "IN"
        case notIn = "NOT IN"
    }

    struct Condition {
        var key: String
        var op: Op
        /// One value, or the list of `IN (…)`.
        var values: [String]
    }

    var conditions: [Condition]

    /// Parses `text`; a key must be one of `keys` or start with one of `prefixes` (`tags.` always).
    init(parsing text: String, keys: Set<String>, prefixes: [String] = ["tags."]) throws {
        var tokens = try SearchFilter.tokenize(text)[...]
        var conditions: [Condition] = []
        let prefixes = Set(prefixes + ["tags."])
        func fail(_ why: String) -> RegistryError {
            RegistryError.invalid(
                "filter", "invalid filter \"\(text)\": \(why)",
                remedy: "Write conditions like name = 'fraud', name LIKE 'fr%', name IN ('a', 'b'), version_number > 1, joined with AND; "
                    + "allowed keys: \((keys.sorted() + prefixes.sorted().map { $0 + "KEY" }).joined(separator: ", ")).")
        }
        while let first = tokens.popFirst() {
            guard case .word(var key) = first else { throw fail("expected a key") }
            for (short, long) in [("tag.", "tags."), ("metric.", "metrics."), ("param.", "params."), ("attributes.", ""), ("attribute.", "")]
            where key.hasPrefix(short) {
                key = long + key.dropFirst(short.count)
            }
            guard keys.contains(key) || prefixes.contains(where: { key.hasPrefix($0) && key.count > $0.count }) else {
                throw fail("unknown key '\(key)'")
            }
            guard case .word(var opText)? = tokens.popFirst() else { throw fail("expected an operator after \(key)") }
            if opText.uppercased() == "NOT", case .word(let next)? = tokens.first, next.uppercased() == "IN" {
                tokens.removeFirst()
                opText = "NOT IN"
            }
            guard let op = Op(rawValue: opText.uppercased()) else {
                throw fail("expected =, !=, <, <=, >, >=, LIKE, ILIKE, IN or NOT IN after \(key), got '\(opText)'")
            }
            var values: [String] = []
            if op == .isIn || op == .notIn {
                guard case .word("(")? = tokens.popFirst() else { throw fail("expected ( after \(key) \(op.rawValue)") }
                while true {
                    guard case .literal(let value)? = tokens.popFirst() else { throw fail("expected a quoted value in the list of \(key)") }
                    values.append(value)
                    guard case .word(let separator)? = tokens.popFirst() else { throw fail("unterminated list after \(key) \(op.rawValue)") }
                    if separator == ")" { break }
                    guard separator == "," else { throw fail("expected , or ) in the list of \(key)") }
                }
            } else {
                guard case .literal(let value)? = tokens.popFirst() else { throw fail("expected a value after \(key) \(opText)") }
                values = [value]
            }
            conditions.append(Condition(key: key, op: op, values: values))
            if let next = tokens.popFirst() {
                guard case .word(let word) = next, word.uppercased() == "AND" else { throw fail("expected AND between conditions") }
                if tokens.isEmpty { throw fail("nothing after AND") }
            }
        }
        self.conditions = conditions
    }

    /// True when every condition holds; `lookup` gives an object's value for a key (nil: absent).
    func matches(_ lookup: (String) -> String?) -> Bool {
        conditions.allSatisfy { c in
            guard let actual = lookup(c.key) else { return c.op == .notEqual || c.op == .notIn }
            let value = c.values[0]
            switch c.op {
            case .equal: return SearchFilter.compare(actual, value) == .orderedSame
            case .notEqual: return SearchFilter.compare(actual, value) != .orderedSame
            case .like: return SearchFilter.like(actual, value, caseInsensitive: false)
            case .ilike: return SearchFilter.like(actual, value, caseInsensitive: true)
            case .greater: return SearchFilter.compare(actual, value) == .orderedDescending
            case .greaterOrEqual: return SearchFilter.compare(actual, value) != .orderedAscending
            case .less: return SearchFilter.compare(actual, value) == .orderedAscending
            case .lessOrEqual: return SearchFilter.compare(actual, value) != .orderedDescending
            case .isIn: return c.values.contains { SearchFilter.compare(actual, $0) == .orderedSame }
            case .notIn: return !c.values.contains { SearchFilter.compare(actual, $0) == .orderedSame }
            }
        }
    }

    /// Numbers by value when both sides are numbers; text by its characters otherwise.
    static func compare(_ a: String, _ b: String) -> ComparisonResult {
        if let x = Double(a), let y = Double(b) { return x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame }
        return a < b ? .orderedAscending : a > b ? .orderedDescending : .orderedSame
    }

    /// SQL LIKE: `%` any run, `_` one character.
    static func like(_ text: String, _ pattern: String, caseInsensitive: Bool) -> Bool {
        let t = Array(caseInsensitive ? text.lowercased() : text)
        let p = Array(caseInsensitive ? pattern.lowercased() : pattern)
        var memo = [[Bool?]](repeating: [Bool?](repeating: nil, count: p.count + 1), count: t.count + 1)
        func match(_ i: Int, _ j: Int) -> Bool {
            if let known = memo[i][j] { return known }
            let result: Bool
            if j == p.count {
                result = i == t.count
            } else if p[j] == "%" {
                result = match(i, j + 1) || (i < t.count && match(i + 1, j))
            } else if i < t.count && (p[j] == "_" || p[j] == t[i]) {
                result = match(i + 1, j + 1)
            } else {
                result = false
            }
            memo[i][j] = result
            return result
        }
        return match(0, 0)
    }

    private enum Token {
        case word(String)
        case literal(String)
    }

    private static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        var chars = Array(text)[...]
        func bad(_ why: String) -> RegistryError { RegistryError.invalid("filter", "invalid filter \"\(text)\": \(why)") }
        /// A bare number may follow an operator, `(` or `,`.
        func expectsValue() -> Bool {
            guard case .word(let w)? = tokens.last else { return false }
            return Op(rawValue: w.uppercased()) != nil || w == "(" || w == ","
        }
        while let c = chars.first {
            if c.isWhitespace {
                chars.removeFirst()
            } else if c == "'" || c == "\"" {
                chars.removeFirst()
                guard let end = chars.firstIndex(of: c) else { throw bad("unterminated string") }
                tokens.append(.literal(String(chars[..<end])))
                chars = chars[(end + 1)...]
            } else if "=!<>".contains(c) {
                chars.removeFirst()
                var op = String(c)
                if chars.first == "=" {
                    chars.removeFirst()
                    op += "="
                }
                guard op != "!" else { throw bad("expected != ") }
                tokens.append(.word(op))
            } else if "(),".contains(c) {
                chars.removeFirst()
                tokens.append(.word(String(c)))
            } else if (c.isNumber || c == "-" || c == ".") && expectsValue() {
                var number = ""
                while let d = chars.first, d.isNumber || "+-.eE".contains(d) { number.append(d); chars.removeFirst() }
                tokens.append(.literal(number))
            } else {
                var word = ""
                while let d = chars.first, !d.isWhitespace, !"=!<>'\"(),".contains(d) {
                    if d == "`" {
                        chars.removeFirst()
                        guard let end = chars.firstIndex(of: "`") else { throw bad("unterminated `") }
                        word += String(chars[..<end])
                        chars = chars[(end + 1)...]
                    } else {
                        word.append(d)
                        chars.removeFirst()
                    }
                }
                tokens.append(.word(word))
            }
        }
        return tokens
    }
}

/// MLflow's `order_by`: clauses like `name ASC`, `version_number DESC`.
struct SearchOrder {
    var keys: [(key: String, ascending: Bool)]

    init(_ clauses: [String], allowed: Set<String>) throws {
        keys = try clauses.map { clause in
            let parts = clause.split(separator: " ").map(String.init)
            guard let key = parts.first, allowed.contains(key), parts.count <= 2 else {
                throw RegistryError.invalid(
                    "order_by", "invalid order_by clause '\(clause)'",
                    remedy: "Use KEY [ASC|DESC] with KEY one of \(allowed.sorted().joined(separator: ", ")).")
            }
            let direction = parts.count == 2 ? parts[1].uppercased() : "ASC"
            guard direction == "ASC" || direction == "DESC" else {
                throw RegistryError.invalid("order_by", "invalid direction '\(parts[1])' in order_by", remedy: "Use ASC or DESC.")
            }
            return (key, direction == "ASC")
        }
    }

    func sorted<T>(_ items: [T], default fallback: [(key: String, ascending: Bool)], value: (T, String) -> JSONValue) -> [T] {
        let order = keys + fallback.filter { f in !keys.contains { $0.key == f.key } }
        return items.sorted { a, b in
            for (key, ascending) in order {
                let x = value(a, key), y = value(b, key)
                if x == y { continue }
                let less: Bool
                switch (x, y) {
                case (.int(let i), .int(let j)): less = i < j
                case (.double(let i), .double(let j)): less = i < j
                case (.null, _): less = false
                case (_, .null): less = true
                default: less = (x.stringValue ?? "") < (y.stringValue ?? "")
                }
                return ascending ? less : !less
            }
            return false
        }
    }
}
