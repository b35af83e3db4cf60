import Foundation
import MLInfraJSON
import ModelRegistry

/// MLflow's search filter: conditions like `name = 'fraud'`, `name LIKE 'fr%'`, `tags.team = 'risk'`,
/// joined with AND.
struct SearchFilter {
    enum Op: String {
        case equal = "="
        case notEqual = "!="
        case like = "LIKE"
        case ilike = "ILIKE"
    }

    struct Condition {
        var key: String
        var op: Op
        var value: String
    }

    var conditions: [Condition]

    init(parsing text: String, keys: Set<String>) throws {
        var tokens = try SearchFilter.tokenize(text)[...]
        var conditions: [Condition] = []
        func fail(_ why: String) -> RegistryError {
            RegistryError.invalid(
                "filter", "invalid filter \"\(text)\": \(why)",
                remedy: "Write conditions like name = 'fraud', name LIKE 'fr%', tags.team = 'risk', joined with AND; allowed keys: \(keys.sorted().joined(separator: ", ")), tags.KEY.")
        }
        while let first = tokens.popFirst() {
            guard case .word(var key) = first else { throw fail("expected a key") }
            if key.hasPrefix("tag.") { key = "tags." + key.dropFirst(4) }
            guard keys.contains(key) || (key.hasPrefix("tags.") && key.count > 5) else { throw fail("unknown key '\(key)'") }
            guard case .word(let opText)? = tokens.popFirst(), let op = Op(rawValue: opText.uppercased()) else {
                throw fail("expected =, !=, LIKE or ILIKE after \(key)")
            }
            guard case .literal(let value)? = tokens.popFirst() else { throw fail("expected a quoted value after \(key) \(opText)") }
            conditions.append(Condition(key: key, op: op, value: value))
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
            guard let actual = lookup(c.key) else { return c.op == .notEqual }
            switch c.op {
            case .equal: return actual == c.value
            case .notEqual: return actual != c.value
            case .like: return SearchFilter.like(actual, c.value, caseInsensitive: false)
            case .ilike: return SearchFilter.like(actual, c.value, caseInsensitive: true)
            }
        }
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
        while let c = chars.first {
            if c.isWhitespace {
                chars.removeFirst()
            } else if c == "'" || c == "\"" {
                chars.removeFirst()
                guard let end = chars.firstIndex(of: c) else { throw bad("unterminated string") }
                tokens.append(.literal(String(chars[..<end])))
                chars = chars[(end + 1)...]
            } else if c == "=" {
                chars.removeFirst()
                tokens.append(.word("="))
            } else if c == "!" {
                chars.removeFirst()
                guard chars.first == "=" else { throw bad("expected != ") }
                chars.removeFirst()
                tokens.append(.word("!="))
            } else if c.isNumber && tokens.last.map({ if case .word(let w) = $0 { return Op(rawValue: w.uppercased()) != nil } else { return false } }) == true {
                var number = ""
                while let d = chars.first, d.isNumber { number.append(d); chars.removeFirst() }
                tokens.append(.literal(number))
            } else {
                var word = ""
                while let d = chars.first, !d.isWhitespace, d != "=", d != "!", d != "'", d != "\"" {
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
                default: less = (x.stringValue ?? "") < (y.stringValue ?? "")
                }
                return ascending ? less : !less
            }
            return false
        }
    }
}
