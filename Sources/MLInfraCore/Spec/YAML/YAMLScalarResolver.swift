/// YAML 1.2 core-schema resolution of scalars, with the problems the loader reports.
enum YAMLScalarResolver {
    struct Resolution {
        var value: Value
        /// Set when the text cannot be what it claims to be (a one-line summary and a fix).
        var problem: (summary: String, detail: String)?
    }

    static let corePrefix = "tag:yaml.org,2002:"

    /// The tag as users write it: `tag:yaml.org,2002:str` → `!!str`.
    static func shortTag(_ tag: String) -> String {
        tag.hasPrefix(corePrefix) ? "!!" + tag.dropFirst(corePrefix.count) : tag
    }

    static func resolve(_ text: String, style: ScalarStyle, tag: String?) -> Resolution {
        let shown = { YAMLSyntaxMessages.excerpt(text) }
        switch tag {
        case nil:
            return style == .plain ? resolvePlain(text) : Resolution(value: .string(text))
        case "!", "!!str":
            return Resolution(value: .string(text))
        case "!!null":
            if isNull(text) { return Resolution(value: .null) }
            return Resolution(
                value: .string(text),
                problem: ("`\(shown())` is not a null", "A `!!null` value must be empty, `null` or `~`; remove the tag."))
        case "!!bool":
            if let b = bool(text) { return Resolution(value: .bool(b)) }
            return Resolution(
                value: .string(text),
                problem: ("`\(shown())` is not a bool", "A `!!bool` value must be `true` or `false`; remove the tag."))
        case "!!int":
            switch int(text) {
            case .some(.some(let i)): return Resolution(value: .int(i))
            case .some(nil): return Resolution(value: .string(text), problem: intOverflow(text))
            case nil:
                return Resolution(
                    value: .string(text),
                    problem: ("`\(shown())` is not an int", "A `!!int` value must be an integer such as `42`, `0x2A` or `0o52`; remove the tag or fix the number."))
            }
        case "!!float":
            if case .some(.some(let i)) = int(text) { return Resolution(value: .number(Double(i))) }
            if let special = specialFloat(text) { return Resolution(value: .string(text), problem: special) }
            if let d = float(text) {
                if d.isFinite { return Resolution(value: .number(d)) }
                return Resolution(value: .string(text), problem: floatOverflow(text))
            }
            return Resolution(
                value: .string(text),
                problem: ("`\(shown())` is not a number", "A `!!float` value must be a decimal number such as `0.25` or `1e-3`; remove the tag or fix the number."))
        default:
            return Resolution(value: .string(text))
        }
    }

    private static func resolvePlain(_ text: String) -> Resolution {
        guard let first = text.utf8.first else { return Resolution(value: .null) }
        switch first {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."):
            switch int(text) {
            case .some(.some(let i)): return Resolution(value: .int(i))
            case .some(nil): return Resolution(value: .string(text), problem: intOverflow(text))
            case nil: break
            }
            if let special = specialFloat(text) { return Resolution(value: .string(text), problem: special) }
            if let d = float(text) {
                if d.isFinite { return Resolution(value: .number(d)) }
                return Resolution(value: .string(text), problem: floatOverflow(text))
            }
            return Resolution(value: .string(text))
        case UInt8(ascii: "n"), UInt8(ascii: "N"), UInt8(ascii: "~"):
            return Resolution(value: isNull(text) ? .null : .string(text))
        case UInt8(ascii: "t"), UInt8(ascii: "T"), UInt8(ascii: "f"), UInt8(ascii: "F"):
            if let b = bool(text) { return Resolution(value: .bool(b)) }
            return Resolution(value: .string(text))
        default:
            return Resolution(value: .string(text))
        }
    }

    static func isNull(_ text: String) -> Bool {
        text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    static func bool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": true
        case "false", "False", "FALSE": false
        default: nil
        }
    }

    /// nil when the text is not a core-schema integer; `.some(nil)` when it is one but does not fit `Int`.
    static func int(_ text: String) -> Int?? {
        let u = Array(text.utf8)
        guard !u.isEmpty else { return nil }
        if u.count > 2, u[0] == UInt8(ascii: "0"), u[1] == UInt8(ascii: "x") {
            guard u[2...].allSatisfy(isHexDigit) else { return nil }
            return .some(Int(text.dropFirst(2), radix: 16))
        }
        if u.count > 2, u[0] == UInt8(ascii: "0"), u[1] == UInt8(ascii: "o") {
            guard u[2...].allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "7") }) else { return nil }
            return .some(Int(text.dropFirst(2), radix: 8))
        }
        var digits = u[...]
        if digits.first == UInt8(ascii: "+") || digits.first == UInt8(ascii: "-") { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy(isDigit) else { return nil }
        return .some(Int(text))
    }

    /// The value of a core-schema float `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`, or nil.
    static func float(_ text: String) -> Double? {
        let u = Array(text.utf8)
        var i = 0
        if i < u.count, u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        while i < u.count, isDigit(u[i]) { i += 1 }
        let intDigits = i - intStart
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            let fracStart = i
            while i < u.count, isDigit(u[i]) { i += 1 }
            if intDigits == 0 && i == fracStart { return nil }
        } else if intDigits == 0 {
            return nil
        }
        if i < u.count, u[i] == UInt8(ascii: "e") || u[i] == UInt8(ascii: "E") {
            i += 1
            if i < u.count, u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") { i += 1 }
            let expStart = i
            while i < u.count, isDigit(u[i]) { i += 1 }
            if i == expStart { return nil }
        }
        guard i == u.count else { return nil }
        // Swift's parser rejects a trailing dot before an exponent ("1.e5"), which the schema allows.
        if let d = Double(text) { return d }
        return Double(text.replacingOccurrences(of: ".e", with: ".0e").replacingOccurrences(of: ".E", with: ".0E"))
    }

    /// A problem for `.inf`/`.nan` forms, which a `Value` (and JSON) cannot carry.
    static func specialFloat(_ text: String) -> (summary: String, detail: String)? {
        if text == ".nan" || text == ".NaN" || text == ".NAN" {
            return ("not-a-number (`\(text)`) is not a supported number",
                    "mlinfra values must be finite numbers; quote `\"\(text)\"` to mean the text.")
        }
        var body = Substring(text)
        if body.first == "+" || body.first == "-" { body = body.dropFirst() }
        guard body == ".inf" || body == ".Inf" || body == ".INF" else { return nil }
        return ("infinity (`\(text)`) is not a supported number",
                "mlinfra values must be finite numbers; use a large finite number, or quote `\"\(text)\"` to mean the text.")
    }

    private static func intOverflow(_ text: String) -> (summary: String, detail: String) {
        ("integer `\(YAMLSyntaxMessages.excerpt(text))` is too large",
         "Integers must lie between \(Int.min) and \(Int.max); quote it (`\"\(text)\"`) if it is an identifier rather than a number.")
    }

    private static func floatOverflow(_ text: String) -> (summary: String, detail: String) {
        ("number `\(YAMLSyntaxMessages.excerpt(text))` is too large",
         "Numbers must be finite double-precision values (at most about 1.8e308); quote it if it is meant as text.")
    }

    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
    private static func isHexDigit(_ c: UInt8) -> Bool {
        isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }
}
