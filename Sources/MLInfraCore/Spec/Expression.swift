import Foundation

/// A reference inside `${…}`: `var.x`, `each.key`, `each.value.a`, `TYPE.NAME`, `TYPE.NAME.attr.path`,
/// `TYPE.NAME["key"].attr`.
public struct Reference: Hashable, Sendable, CustomStringConvertible {
    public enum Root: Hashable, Sendable {
        case variable(String)
        case eachKey
        case eachValue
        /// A resource, optionally one `for_each` instance of it.
        case resource(type: String, name: String, key: String?)
    }

    public var root: Root
    /// Attribute path after the root (map keys or list indexes as text).
    public var path: [String]

    public init(root: Root, path: [String] = []) {
        self.root = root
        self.path = path
    }

    /// The resource (`TYPE.NAME`) the reference points to, if any.
    public var resource: String? {
        if case .resource(let type, let name, _) = root { return "\(type).\(name)" }
        return nil
    }

    public var description: String {
        let head: String
        switch root {
        case .variable(let name): head = "var.\(name)"
        case .eachKey: head = "each.key"
        case .eachValue: head = "each.value"
        case .resource(let type, let name, let key):
            head = key.map { "\(type).\(name)[\"\($0)\"]" } ?? "\(type).\(name)"
        }
        return ([head] + path).joined(separator: ".")
    }
}

/// A string from a spec, split into literal text and `${…}` references.
public struct Template: Hashable, Sendable {
    public enum Part: Hashable, Sendable {
        case text(String)
        case reference(Reference, SourceLocation)
    }

    public var parts: [Part]

    /// The one reference when the whole string is `${…}`: its value keeps its type.
    public var soleReference: (Reference, SourceLocation)? {
        if parts.count == 1, case .reference(let r, let l) = parts[0] { return (r, l) }
        return nil
    }

    public var references: [(Reference, SourceLocation)] {
        parts.compactMap { if case .reference(let r, let l) = $0 { (r, l) } else { nil } }
    }
}

/// Parses `${…}` expressions in spec strings.
public enum TemplateParser {
    /// Splits `text` into parts. `location` is where the string starts; `offset` is how many
    /// columns the text is shifted from it (1 for a quoted scalar).
    /// Returns nil (and appends diagnostics) when an expression is malformed.
    public static func parse(
        _ text: String, at location: SourceLocation, columnOffset: Int = 0, diagnostics: inout Diagnostics
    ) -> Template? {
        guard text.contains("${") else { return Template(parts: [.text(text)]) }
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
                guard let close = text[bodyStart...].firstIndex(of: "}") else {
                    diagnostics.append(.error(
                        "unclosed `${` in string",
                        detail: "Close the expression with `}`, or write `$${` for a literal `${`.",
                        at: exprLocation))
                    return nil
                }
                let body = text[bodyStart..<close].trimmingCharacters(in: .whitespaces)
                if !literal.isEmpty {
                    parts.append(.text(literal))
                    literal = ""
                }
                if let reference = parseReference(body) {
                    parts.append(.reference(reference, exprLocation))
                } else {
                    diagnostics.append(.error(
                        "`${\(body)}` is not a reference mlinfra understands",
                        detail: "Write `${var.NAME}`, `${each.key}`, `${each.value}`, `${TYPE.NAME}` or `${TYPE.NAME.attribute}`.",
                        at: exprLocation))
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
                segment.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
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
