/// Parses the inside of `${…}` into an `Expression`.
///
/// ```
/// expression  := or ( "?" expression ":" expression )?
/// or          := and ( "||" and )*
/// and         := comparison ( "&&" comparison )*
/// comparison  := sum ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) sum )?
/// sum         := product ( ( "+" | "-" ) product )*
/// product     := unary ( ( "*" | "/" ) unary )*
/// unary       := ( "!" | "-" ) unary | primary
/// primary     := NUMBER | STRING | true | false | null | "(" expression ")" | NAME "(" arguments ")" | REFERENCE
///              | "[" ( expression ( "," expression )* ","? )? "]"
///              | "{" ( KEY ( "=" | ":" ) expression ( "," KEY ( "=" | ":" ) expression )* ","? )? "}"
/// KEY         := NAME | STRING
/// ```
///
/// Names may hold `-` (resource names do), so subtraction needs spaces around its `-`.
public enum ExpressionParser {
    /// Parses `body`, written at `location`; `whole` is where its `${` starts (for messages about all of it).
    public static func parse(
        _ body: String, at location: SourceLocation, whole: SourceLocation, diagnostics: inout Diagnostics
    ) -> Expression? {
        // Most expressions are one plain reference (`item.a.url`): read it without the parser.
        if let first = body.utf8.first, SpecText.isLetterByte(first) || first == UInt8(ascii: "_"),
            body.utf8.allSatisfy({ SpecText.isNameByte($0) || $0 == UInt8(ascii: ".") }),
            !["true", "false", "null"].contains(body.prefix { $0 != "." }),
            let reference = TemplateParser.parseReference(body)
        {
            return .reference(reference, whole)
        }
        var parser = Parser(text: Array(body.unicodeScalars), start: location)
        do {
            parser.skipSpace()
            let expression = try parser.expression()
            parser.skipSpace()
            if !parser.atEnd { throw parser.failure("unexpected `\(parser.rest(12))`", "End the expression, or join the parts with an operator.") }
            // Names of functions are checked here, so `validate` reports a misspelt one without evaluating anything.
            for call in expression.calls where SpecFunctions.all[call.name] == nil {
                diagnostics.append(.error(
                    "`\(call.name)()` is not a function mlinfra knows",
                    detail: "The functions are \(SpecFunctions.all.keys.sorted().map { "`\($0)()`" }.joined(separator: ", "))."
                        + Suggestions.didYouMean(call.name, in: SpecFunctions.all.keys),
                    at: call.location))
                return nil
            }
            // A lone reference is located at its `${`, as diagnostics about references always were.
            if case .reference(let reference, _) = expression { return .reference(reference, whole) }
            return expression
        } catch let error as Failure {
            let text = body.trimmingCharacters(in: .whitespaces)
            diagnostics.append(.error(
                "`${\(text)}` is not an expression mlinfra understands: \(error.message)",
                detail: error.remedy + " References are `var.NAME`, `local.NAME`, `each.key`, `each.value`, `TYPE.NAME` and `TYPE.NAME.attribute`.",
                at: error.location))
            return nil
        } catch {
            return nil
        }
    }

    /// The index of the `}` that closes an expression starting at `from`, skipping `}` inside quoted
    /// strings and the braces of map literals (`${merge(var.tags, { team = "ml" })}`).
    static func closingBrace(in text: String, from: String.Index) -> String.Index? {
        var index = from
        var inString = false
        var escaped = false
        var depth = 0
        while index < text.endIndex {
            let ch = text[index]
            if inString {
                if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { inString = false }
            } else if ch == "\"" {
                inString = true
            } else if ch == "{" {
                depth += 1
            } else if ch == "}" {
                if depth == 0 { return index }
                depth -= 1
            }
            index = text.index(after: index)
        }
        return nil
    }

    struct Failure: Error {
        var message: String
        var remedy: String
        var location: SourceLocation
    }

    struct Parser {
        let text: [Unicode.Scalar]
        let start: SourceLocation
        var position = 0

        var atEnd: Bool { position >= text.count }
        var current: Unicode.Scalar? { position < text.count ? text[position] : nil }

        func location(_ at: Int) -> SourceLocation {
            var line = start.line, column = start.column
            for scalar in text[0..<min(at, text.count)] {
                if scalar == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            return SourceLocation(file: start.file, line: line, column: column)
        }

        func rest(_ limit: Int) -> String {
            var s = String(String.UnicodeScalarView(text[position..<min(text.count, position + limit)]))
            if position + limit < text.count { s += "…" }
            return s
        }

        func failure(_ message: String, _ remedy: String) -> Failure {
            Failure(message: message, remedy: remedy, location: location(position))
        }

        mutating func skipSpace() {
            while let c = current, c == " " || c == "\t" || c == "\n" || c == "\r" { position += 1 }
        }

        /// Consumes `token` (after spaces) when it comes next.
        mutating func take(_ token: String) -> Bool {
            skipSpace()
            let scalars = Array(token.unicodeScalars)
            guard position + scalars.count <= text.count, Array(text[position..<position + scalars.count]) == scalars else { return false }
            // `<` is not `<=`, `!` is not `!=`, `=` alone is not an operator.
            if scalars.count == 1, ["<", ">", "!"].contains(token), position + 1 < text.count, text[position + 1] == "=" { return false }
            position += scalars.count
            return true
        }

        mutating func expect(_ token: String, _ remedy: String) throws {
            guard take(token) else {
                throw failure(atEnd ? "expected `\(token)` before the end" : "expected `\(token)`, found `\(rest(12))`", remedy)
            }
        }

        mutating func expression() throws -> Expression {
            let condition = try or()
            let at = location(position)
            guard take("?") else { return condition }
            let whenTrue = try expression()
            try expect(":", "A conditional is `${CONDITION ? VALUE_IF_TRUE : VALUE_IF_FALSE}`.")
            let whenFalse = try expression()
            return .conditional(condition, whenTrue, whenFalse, at)
        }

        mutating func or() throws -> Expression {
            var left = try and()
            while true {
                let at = location(position)
                guard take("||") else { return left }
                left = .binary(.or, left, try and(), at)
            }
        }

        mutating func and() throws -> Expression {
            var left = try comparison()
            while true {
                let at = location(position)
                guard take("&&") else { return left }
                left = .binary(.and, left, try comparison(), at)
            }
        }

        mutating func comparison() throws -> Expression {
            let left = try sum()
            skipSpace()
            let at = location(position)
            for op in [Expression.BinaryOperator.equal, .notEqual, .lessOrEqual, .greaterOrEqual, .less, .greater] where take(op.rawValue) {
                return .binary(op, left, try sum(), at)
            }
            return left
        }

        mutating func sum() throws -> Expression {
            var left = try product()
            while true {
                skipSpace()
                let at = location(position)
                if take("+") {
                    left = .binary(.add, left, try product(), at)
                } else if take("-") {
                    left = .binary(.subtract, left, try product(), at)
                } else {
                    return left
                }
            }
        }

        mutating func product() throws -> Expression {
            var left = try unary()
            while true {
                skipSpace()
                let at = location(position)
                if take("*") {
                    left = .binary(.multiply, left, try unary(), at)
                } else if take("/") {
                    left = .binary(.divide, left, try unary(), at)
                } else {
                    return left
                }
            }
        }

        mutating func unary() throws -> Expression {
            skipSpace()
            let at = location(position)
            if take("!") { return .not(try unary(), at) }
            if let c = current, c == "-", position + 1 < text.count, text[position + 1].properties.numericType != nil {
                return try primary()
            }
            if take("-") { return .negate(try unary(), at) }
            return try primary()
        }

        mutating func primary() throws -> Expression {
            skipSpace()
            let at = location(position)
            guard let c = current else {
                throw failure("it ends where a value should be", "Write a value, a reference or a function call.")
            }
            if take("(") {
                let inner = try expression()
                try expect(")", "Close the parenthesis.")
                return inner
            }
            if c == "\"" { return .literal(.string(try string()), at) }
            if c == "-" || c.properties.numericType != nil { return .literal(try number(), at) }
            if take("[") {
                var items: [Expression] = []
                while !take("]") {
                    items.append(try expression())
                    if !take(",") {
                        try expect("]", "Separate the items of a list with `,` and close it with `]`.")
                        break
                    }
                }
                return .list(items, at)
            }
            if take("{") {
                var keys: [String] = []
                var values: [Expression] = []
                while !take("}") {
                    skipSpace()
                    let keyAt = position
                    let key = try mapKey()
                    if keys.contains(key) {
                        position = keyAt
                        throw failure("the key `\(key)` is given twice", "Give each key of a map once.")
                    }
                    guard take("=") || take(":") else {
                        throw failure(atEnd ? "expected `=` before the end" : "expected `=` after `\(key)`, found `\(rest(12))`",
                            "A map is `{ KEY = VALUE, … }`.")
                    }
                    keys.append(key)
                    values.append(try expression())
                    if !take(",") {
                        try expect("}", "Separate the entries of a map with `,` and close it with `}`.")
                        break
                    }
                }
                return .map(keys, values, at)
            }
            guard c.properties.isAlphabetic || c == "_" else {
                throw failure("unexpected `\(rest(12))`", "Write a value, a reference or a function call.")
            }
            let nameStart = position
            while let n = current, n.isASCII, n.properties.isAlphabetic || n.properties.numericType != nil || n == "_" || n == "-" {
                position += 1
            }
            let name = String(String.UnicodeScalarView(text[nameStart..<position]))
            if current == "(" {
                position += 1
                var arguments: [Expression] = []
                if !take(")") {
                    repeat { arguments.append(try expression()) } while take(",")
                    try expect(")", "Separate arguments with `,` and close the call with `)`.")
                }
                return .call(name, arguments, at)
            }
            switch name {
            case "true": return .literal(.bool(true), at)
            case "false": return .literal(.bool(false), at)
            case "null": return .literal(.null, at)
            default: break
            }
            // The rest of a reference: `.name`, `["key"]`, `[0]`.
            while let n = current {
                if n == "." || n.isASCII && (n.properties.isAlphabetic || n.properties.numericType != nil || n == "_" || n == "-") {
                    position += 1
                } else if n == "[" {
                    guard let close = text[position...].firstIndex(of: "]") else {
                        throw failure("`[` is not closed", "Write `[\"KEY\"]` or `[INDEX]`.")
                    }
                    position = close + 1
                } else {
                    break
                }
            }
            let body = String(String.UnicodeScalarView(text[nameStart..<position]))
            guard let reference = TemplateParser.parseReference(body) else {
                position = nameStart
                throw failure("`\(body)` is not a reference", "Check the spelling; a function call needs `(`.")
            }
            return .reference(reference, at)
        }

        /// A map literal's key: a name (`team`) or a string (`"team name"`).
        mutating func mapKey() throws -> String {
            if current == "\"" { return try string() }
            let begin = position
            while let n = current, n.isASCII, n.properties.isAlphabetic || n.properties.numericType != nil || n == "_" || n == "-" {
                position += 1
            }
            guard position > begin else { throw failure("expected a key, found `\(rest(12))`", "A map is `{ KEY = VALUE, … }`; quote a key with spaces.") }
            return String(String.UnicodeScalarView(text[begin..<position]))
        }

        mutating func string() throws -> String {
            position += 1  // opening quote
            var out = String.UnicodeScalarView()
            while let c = current {
                position += 1
                switch c {
                case "\"": return String(out)
                case "\\":
                    guard let e = current else { break }
                    position += 1
                    switch e {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "r": out.append("\r")
                    case "\"", "\\": out.append(e)
                    default:
                        position -= 2
                        throw failure("`\\\(e)` is not an escape mlinfra knows", "Use `\\n`, `\\t`, `\\r`, `\\\"` or `\\\\`.")
                    }
                default: out.append(c)
                }
            }
            throw failure("a string is not closed", "Close the string with `\"`.")
        }

        mutating func number() throws -> Value {
            let begin = position
            if current == "-" { position += 1 }
            while let c = current, c.properties.numericType != nil || c == "." { position += 1 }
            let text = String(String.UnicodeScalarView(self.text[begin..<position]))
            if let i = Int(text) { return .int(i) }
            if let d = Double(text) { return .number(d) }
            position = begin
            throw failure("`\(text)` is not a number", "Write a number such as `3` or `0.25`.")
        }
    }
}
