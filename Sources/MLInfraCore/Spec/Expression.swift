import Foundation

/// A reference inside `${…}`: `var.x`, `each.key`, `each.value.a`, `TYPE.NAME`, `TYPE.NAME.attr.path`,
/// `TYPE.NAME["key"].attr`.
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    public enum Root: Hashable, Sendable {
        case variable(String)
        case eachKey
        case eachValue
        /// A named expression under `locals:`.
        case local(String)
        /// A resource, optionally one `for_each` instance of it.
        case resource(type: String, name: String, key: String?)
        /// A data source: `data.TYPE.NAME`, read at plan time.
        case data(type: String, name: String)
        /// An output of a module call: `module.NAME.OUTPUT`, `module.NAME["key"].OUTPUT`.
        case moduleOutput(call: String, key: String?, output: String)
    }

    public var root: Root
    /// Attribute path after the root (map keys or list indexes as text).
    public var path: [String]
    /// For a resource inside a module, the module path (`module.serving["dev"]`); set when modules are flattened.
    public var module: String?

    public init(root: Root, path: [String] = [], module: String? = nil) {
        self.root = root
        self.path = path
        self.module = module
    }

    /// The resource (`TYPE.NAME`, behind its module path) the reference points to, if any.
    public var resource: String? { address?.resource }

    /// The address of the data source the reference reads (`module.m.data.TYPE.NAME`), if it reads one.
    public var dataAddress: String? {
        if case .data(let type, let name) = root { return (module.map { $0 + "." } ?? "") + "data.\(type).\(name)" }
        return nil
    }

    /// The address of the resource the reference points to (with its key, when it names one).
    public var address: ResourceAddress? {
        if case .resource(let type, let name, let key) = root { return ResourceAddress(module: module, type: type, name: name, key: key) }
        return nil
    }

    public var description: String {
        let head: String
        switch root {
        case .variable(let name): head = "var.\(name)"
        case .eachKey: head = "each.key"
        case .eachValue: head = "each.value"
        case .local(let name): head = "local.\(name)"
        case .resource:
            head = address!.description
        case .moduleOutput(let call, let key, let output):
            head = "module.\(call)" + (key.map { "[\"\($0)\"]" } ?? "") + ".\(output)"
        case .data:
            head = dataAddress!
        }
        return ([head] + path).joined(separator: ".")
    }
}

/// What `${…}` holds: a reference, a literal, a function call, an operator or a conditional.
/// Every node keeps where it is written, so a diagnostic points at the argument at fault.
public indirect enum Expression: Hashable, Sendable {
    case reference(Reference, SourceLocation)
    case literal(Value, SourceLocation)
    case call(String, [Expression], SourceLocation)
    /// `cond ? a : b`
    case conditional(Expression, Expression, Expression, SourceLocation)
    case binary(BinaryOperator, Expression, Expression, SourceLocation)
    case not(Expression, SourceLocation)
    case negate(Expression, SourceLocation)
    /// `[a, b]`
    case list([Expression], SourceLocation)
    /// `{ key = a, "other key" = b }` (or `:` for `=`), keys in the order written.
    case map([String], [Expression], SourceLocation)

    public enum BinaryOperator: String, Hashable, Sendable {
        case equal = "==", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case and = "&&", or = "||"
        case add = "+", subtract = "-", multiply = "*", divide = "/"
    }

    public var location: SourceLocation {
        switch self {
        case .reference(_, let l), .literal(_, let l), .call(_, _, let l), .conditional(_, _, _, let l), .binary(_, _, _, let l),
            .not(_, let l), .negate(_, let l), .list(_, let l), .map(_, _, let l):
            l
        }
    }

    /// Every reference inside, in the order written.
    public var references: [(Reference, SourceLocation)] {
        switch self {
        case .reference(let r, let l): [(r, l)]
        case .literal: []
        case .call(_, let args, _): args.flatMap(\.references)
        case .conditional(let c, let a, let b, _): c.references + a.references + b.references
        case .binary(_, let a, let b, _): a.references + b.references
        case .not(let e, _), .negate(let e, _): e.references
        case .list(let items, _), .map(_, let items, _): items.flatMap(\.references)
        }
    }

    /// Every function call inside, with its arguments.
    public var calls: [(name: String, arguments: [Expression], location: SourceLocation)] {
        switch self {
        case .reference, .literal: []
        case .call(let name, let args, let l): [(name, args, l)] + args.flatMap(\.calls)
        case .conditional(let c, let a, let b, _): c.calls + a.calls + b.calls
        case .binary(_, let a, let b, _): a.calls + b.calls
        case .not(let e, _), .negate(let e, _): e.calls
        case .list(let items, _), .map(_, let items, _): items.flatMap(\.calls)
        }
    }
}

/// A string from a spec, split into literal text and `${…}` expressions.
public struct Template: Hashable, Sendable {
    public enum Part: Hashable, Sendable {
        case text(String)
        case expression(Expression, SourceLocation)
    }

    public var parts: [Part]

    /// The one expression when the whole string is `${…}`: its value keeps its type.
    public var soleExpression: (Expression, SourceLocation)? {
        if parts.count == 1, case .expression(let e, let l) = parts[0] { return (e, l) }
        return nil
    }

    /// The one reference when the whole string is `${REFERENCE}`.
    public var soleReference: (Reference, SourceLocation)? {
        if let (e, l) = soleExpression, case .reference(let r, _) = e { return (r, l) }
        return nil
    }

    /// True when the string holds at least one `${…}`.
    public var hasExpressions: Bool { parts.contains { if case .expression = $0 { true } else { false } } }

    /// The expressions, in the order written.
    public var expressions: [Expression] {
        parts.compactMap { part -> Expression? in
            if case .expression(let e, _) = part { return e }
            return nil
        }
    }

    public var references: [(Reference, SourceLocation)] { expressions.flatMap(\.references) }

    public var calls: [(name: String, arguments: [Expression], location: SourceLocation)] { expressions.flatMap(\.calls) }
}

/// Parses `${…}` expressions in spec strings.
public enum TemplateParser {
    /// Splits `text` into parts. `location` is where the string starts; `offset` is how many
    /// columns the text is shifted from it (1 for a quoted scalar).
    /// Returns nil (and appends diagnostics) when an expression is malformed.
    public static func parse(
        _ text: String, at location: SourceLocation, columnOffset: Int = 0, diagnostics: inout Diagnostics
    ) -> Template? {
        guard SpecText.holdsExpression(text) else { return Template(parts: [.text(text)]) }
        var parts: [Template.Part] = []
        var literal = ""
        var index = text.startIndex
        var column = location.column + columnOffset
        var line = location.line
        var failed = false
        while index < text.endIndex {
            let ch = text[index]
            if ch == "$", text[index...].hasPrefix("$${") {
                literal += "${"
                index = text.index(index, offsetBy: 3)
                column += 3
                continue
            }
            if ch == "$", text[index...].hasPrefix("${") {
                let exprLocation = SourceLocation(file: location.file, line: line, column: column)
                let bodyStart = text.index(index, offsetBy: 2)
                guard let close = ExpressionParser.closingBrace(in: text, from: bodyStart) else {
                    diagnostics.append(.error(
                        "unclosed `${` in string",
                        detail: "Close the expression with `}`, or write `$${` for a literal `${`.",
                        at: exprLocation))
                    return nil
                }
                if !literal.isEmpty {
                    parts.append(.text(literal))
                    literal = ""
                }
                let bodyLocation = SourceLocation(file: location.file, line: line, column: column + 2)
                if let expression = ExpressionParser.parse(
                    String(text[bodyStart..<close]), at: bodyLocation, whole: exprLocation, diagnostics: &diagnostics)
                {
                    parts.append(.expression(expression, exprLocation))
                } else {
                    failed = true
                }
                column += text.distance(from: index, to: close) + 1
                index = text.index(after: close)
                continue
            }
            literal.append(ch)
            if ch == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
            index = text.index(after: index)
        }
        if !literal.isEmpty { parts.append(.text(literal)) }
        return failed ? nil : Template(parts: parts)
    }

    /// Parses the inside of `${…}`.
    public static func parseReference(_ body: String) -> Reference? {
        var segments: [String] = []
        var key: String?
        var rest = Substring(body)
        // Split on dots, but let `["key"]` ride on the segment before it.
        while !rest.isEmpty {
            if rest.hasPrefix("[\"") {
                guard let end = rest.range(of: "\"]") else { return nil }
                let inner = String(rest[rest.index(rest.startIndex, offsetBy: 2)..<end.lowerBound])
                if segments.count == 2 && key == nil {
                    key = inner
                } else {
                    segments.append(inner)
                }
                rest = rest[end.upperBound...]
                if rest.hasPrefix(".") { rest = rest.dropFirst() }
                continue
            }
            if rest.hasPrefix("[") {
                guard let end = rest.firstIndex(of: "]") else { return nil }
                let inner = rest[rest.index(after: rest.startIndex)..<end]
                guard Int(inner) != nil else { return nil }
                segments.append(String(inner))
                rest = rest[rest.index(after: end)...]
                if rest.hasPrefix(".") { rest = rest.dropFirst() }
                continue
            }
            let end = rest.firstIndex(where: { $0 == "." || $0 == "[" }) ?? rest.endIndex
            let segment = rest[..<end]
            guard !segment.isEmpty,
                segment.utf8.allSatisfy(SpecText.isNameByte)
            else { return nil }
            segments.append(String(segment))
            rest = rest[end...]
            if rest.hasPrefix(".") {
                rest = rest.dropFirst()
                if rest.isEmpty { return nil }
            }
        }
        guard segments.count >= 2 else { return nil }
        switch segments[0] {
        case "var":
            guard key == nil else { return nil }
            return Reference(root: .variable(segments[1]), path: Array(segments.dropFirst(2)))
        case "data":
            guard segments.count >= 3, key == nil, ResourceAddress.isIdentifier(Substring(segments[1])),
                ResourceAddress.isIdentifier(Substring(segments[2]))
            else { return nil }
            return Reference(root: .data(type: segments[1], name: segments[2]), path: Array(segments.dropFirst(3)))
        case "module":
            guard segments.count >= 3, ResourceAddress.isIdentifier(Substring(segments[1])) else { return nil }
            return Reference(root: .moduleOutput(call: segments[1], key: key, output: segments[2]), path: Array(segments.dropFirst(3)))
        case "local":
            guard key == nil else { return nil }
            return Reference(root: .local(segments[1]), path: Array(segments.dropFirst(2)))
        case "each":
            guard key == nil else { return nil }
            if segments[1] == "key", segments.count == 2 { return Reference(root: .eachKey) }
            if segments[1] == "value" { return Reference(root: .eachValue, path: Array(segments.dropFirst(2))) }
            return nil
        default:
            guard ResourceAddress.isIdentifier(Substring(segments[0])), ResourceAddress.isIdentifier(Substring(segments[1]))
            else { return nil }
            return Reference(
                root: .resource(type: segments[0], name: segments[1], key: key), path: Array(segments.dropFirst(2)))
        }
    }
}
