import Crypto
import Foundation

/// What functions may read besides their arguments: files relative to the spec, and the environment.
public struct FunctionContext: Sendable {
    /// The directory `file()` and `filesha256()` resolve relative paths against.
    public var baseDirectory: String
    public var environment: [String: String]

    public init(baseDirectory: String = ".", environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.baseDirectory = baseDirectory
        self.environment = environment
    }
}

/// The functions of the spec language. Each checks the types of its arguments and reports a
/// mistake at the argument's own location, with how to fix it.
public enum SpecFunctions {
    /// One evaluated argument: its value, where it is written, and what it carries.
    public struct Argument {
        public var value: Value
        public var location: SourceLocation
        public var sensitive: Bool
    }

    /// A function's name, how many arguments it takes, and what it does.
    struct Function: Sendable {
        var arity: ClosedRange<Int>
        var usage: String
        var body: @Sendable (_ arguments: [Argument], _ call: Call) -> Value?
    }

    /// One call being evaluated: where it is, and where its problems go.
    final class Call {
        let name: String
        let location: SourceLocation
        let context: FunctionContext
        var diagnostics = Diagnostics()

        init(name: String, location: SourceLocation, context: FunctionContext) {
            self.name = name
            self.location = location
            self.context = context
        }

        func fail(_ summary: String, _ remedy: String, at location: SourceLocation? = nil) -> Value? {
            diagnostics.append(.error(summary, detail: remedy, at: location ?? self.location))
            return nil
        }

        /// Reports that argument `index` is not of the `expected` kind.
        func wrongType(_ arguments: [Argument], _ index: Int, _ expected: String, _ remedy: String) -> Value? {
            let got = arguments[index].value
            let shown = arguments[index].sensitive ? "(sensitive)" : got.rendered
            return fail(
                "argument \(index + 1) of `\(name)()` must be \(expected), not \(SchemaCheck.article(got.kindName)) (\(shown))", remedy,
                at: arguments[index].location)
        }

        func string(_ arguments: [Argument], _ index: Int) -> String? {
            if case .string(let s) = arguments[index].value { return s }
            _ = wrongType(arguments, index, "a string", "Pass text, e.g. `\(name)(\"…\")`, or convert with `tostring()`.")
            return nil
        }

        func readFile(_ arguments: [Argument]) -> Data? {
            guard let path = string(arguments, 0) else { return nil }
            let full = path.hasPrefix("/") ? path : (context.baseDirectory as NSString).appendingPathComponent(path)
            guard let data = FileManager.default.contents(atPath: full) else {
                _ = fail(
                    "`\(name)()` cannot read \(Value.quote(path))", "No readable file at \(full); paths are relative to the spec's directory.",
                    at: arguments[0].location)
                return nil
            }
            return data
        }
    }

    /// Names of the functions whose result is secret whatever their arguments.
    static let marking: Set<String> = ["sensitive"]

    static let all: [String: Function] = [
        "file": Function(arity: 1...1, usage: "file(PATH)") { args, call in
            guard let data = call.readFile(args) else { return nil }
            guard let text = String(data: data, encoding: .utf8) else {
                return call.fail("`file()` reads text, and this file is not UTF-8", "Use `filesha256()` for a binary file.", at: args[0].location)
            }
            return .string(text)
        },
        "filesha256": Function(arity: 1...1, usage: "filesha256(PATH)") { args, call in
            call.readFile(args).map { .string(hex(SHA256.hash(data: $0))) }
        },
        "sha256": Function(arity: 1...1, usage: "sha256(TEXT)") { args, call in
            call.string(args, 0).map { .string(hex(SHA256.hash(data: Data($0.utf8)))) }
        },
        "env": Function(arity: 1...2, usage: "env(NAME) or env(NAME, DEFAULT)") { args, call in
            guard let name = call.string(args, 0) else { return nil }
            if let value = call.context.environment[name] { return .string(value) }
            if args.count == 2 { return args[1].value }
            return call.fail(
                "the environment variable `\(name)` is not set",
                "Set it before running mlinfra, or give a default: `env(\"\(name)\", \"…\")`.", at: args[0].location)
        },
        "sensitive": Function(arity: 1...1, usage: "sensitive(VALUE)") { args, _ in args[0].value },
        "format": Function(arity: 1...64, usage: "format(FORMAT, VALUES…)") { args, call in
            guard let format = call.string(args, 0) else { return nil }
            return Formatter.format(format, Array(args.dropFirst()), call: call, at: args[0].location).map(Value.string)
        },
        "join": Function(arity: 2...2, usage: "join(SEPARATOR, LIST)") { args, call in
            guard let separator = call.string(args, 0) else { return nil }
            guard case .list(let items) = args[1].value else {
                return call.wrongType(args, 1, "a list", "Write `join(\", \", [a, b])` or pass a list reference.")
            }
            var texts: [String] = []
            for item in items {
                guard let text = item.interpolated else {
                    return call.fail(
                        "`join()` can only join strings, numbers and booleans; the list holds \(SchemaCheck.article(item.kindName))",
                        "Join a list of scalars, or `jsonencode()` the list.", at: args[1].location)
                }
                texts.append(text)
            }
            return .string(texts.joined(separator: separator))
        },
        "lower": Function(arity: 1...1, usage: "lower(TEXT)") { args, call in call.string(args, 0).map { .string($0.lowercased()) } },
        "upper": Function(arity: 1...1, usage: "upper(TEXT)") { args, call in call.string(args, 0).map { .string($0.uppercased()) } },
        "merge": Function(arity: 1...64, usage: "merge(MAP, MAP…)") { args, call in
            var out: [String: Value] = [:]
            for i in args.indices {
                if args[i].value.isNull { continue }
                guard case .map(let m) = args[i].value else {
                    return call.wrongType(args, i, "a map", "Each argument of `merge()` is a map; later maps win on equal keys.")
                }
                out.merge(m) { _, later in later }
            }
            return .map(out)
        },
        "lookup": Function(arity: 2...3, usage: "lookup(MAP, KEY) or lookup(MAP, KEY, DEFAULT)") { args, call in
            guard case .map(let m) = args[0].value else {
                return call.wrongType(args, 0, "a map", "Pass a map, e.g. `lookup(var.sizes, var.env)`.")
            }
            guard let key = call.string(args, 1) else { return nil }
            if let found = m[key] { return found }
            if args.count == 3 { return args[2].value }
            return call.fail(
                "the map has no key \(Value.quote(key))",
                "Its keys: \(m.keys.sorted().map(Value.quote).joined(separator: ", ")). Give a default: `lookup(MAP, KEY, DEFAULT)`."
                    + Suggestions.didYouMean(key, in: m.keys),
                at: args[1].location)
        },
        "coalesce": Function(arity: 1...64, usage: "coalesce(VALUE, VALUE…)") { args, call in
            if let first = args.first(where: { !$0.value.isNull && $0.value != .string("") }) { return first.value }
            return call.fail("every argument of `coalesce()` is null or empty", "Add a last argument that always has a value.")
        },
        "jsonencode": Function(arity: 1...1, usage: "jsonencode(VALUE)") { args, _ in .string(JSONText.encode(args[0].value, pretty: false)) },
        "yamlencode": Function(arity: 1...1, usage: "yamlencode(VALUE)") { args, _ in .string(YAMLText.encode(args[0].value)) },
        "length": Function(arity: 1...1, usage: "length(TEXT, LIST or MAP)") { args, call in
            switch args[0].value {
            case .string(let s): return .int(s.count)
            case .list(let l): return .int(l.count)
            case .map(let m): return .int(m.count)
            default: return call.wrongType(args, 0, "a string, a list or a map", "`length()` counts characters, items or keys.")
            }
        },
        "tostring": Function(arity: 1...1, usage: "tostring(VALUE)") { args, call in
            if let text = args[0].value.interpolated { return .string(text) }
            return call.wrongType(args, 0, "a string, a number or a boolean", "Use `jsonencode()` for a list or a map.")
        },
        "tonumber": Function(arity: 1...1, usage: "tonumber(VALUE)") { args, call in
            switch args[0].value {
            case .int, .number: return args[0].value
            case .string(let s):
                let text = s.trimmingCharacters(in: .whitespaces)
                if let i = Int(text) { return .int(i) }
                if let d = Double(text), d.isFinite { return .number(d) }
                return call.fail("\(args[0].sensitive ? "the value" : Value.quote(s)) is not a number", "Pass digits, e.g. \"8\" or \"0.5\".", at: args[0].location)
            default: return call.wrongType(args, 0, "a string or a number", "Pass digits, e.g. \"8\".")
            }
        },
    ]

    /// Calls `name` on evaluated arguments; nil (with diagnostics) when the call is wrong.
    static func call(
        _ name: String, _ arguments: [Argument], at location: SourceLocation, context: FunctionContext, diagnostics: inout Diagnostics
    ) -> Value? {
        guard let function = all[name] else {
            diagnostics.append(.error(
                "`\(name)()` is not a function mlinfra knows", detail: "Check the name." + Suggestions.didYouMean(name, in: all.keys), at: location))
            return nil
        }
        guard function.arity.contains(arguments.count) else {
            let count = function.arity.lowerBound == function.arity.upperBound
                ? "\(function.arity.lowerBound)" : "\(function.arity.lowerBound) to \(function.arity.upperBound)"
            diagnostics.append(.error(
                "`\(name)()` takes \(count) argument\(function.arity.upperBound == 1 ? "" : "s"), not \(arguments.count)",
                detail: "Write `\(function.usage)`.", at: location))
            return nil
        }
        let call = Call(name: name, location: location, context: context)
        let result = function.body(arguments, call)
        diagnostics.append(contentsOf: call.diagnostics)
        return result
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// `format()`'s verbs: `%s` text, `%d` whole number, `%f` / `%.Nf` number, `%q` quoted text, `%v` any value, `%%`.
    enum Formatter {
        static func format(_ format: String, _ values: [Argument], call: Call, at location: SourceLocation) -> String? {
            var out = ""
            var next = 0
            var scalars = Substring(format)
            while let c = scalars.first {
                scalars = scalars.dropFirst()
                guard c == "%" else {
                    out.append(c)
                    continue
                }
                if scalars.first == "%" {
                    scalars = scalars.dropFirst()
                    out.append("%")
                    continue
                }
                var precision: Int?
                if scalars.first == "." {
                    let digits = scalars.dropFirst().prefix { $0.isNumber }
                    precision = Int(digits)
                    scalars = scalars.dropFirst(1 + digits.count)
                }
                guard let verb = scalars.first, "sdfqv".contains(verb) else {
                    _ = call.fail(
                        "`format()` does not know the verb `%\(scalars.first.map(String.init) ?? "")`",
                        "Use %s, %d, %f (or %.2f), %q, %v, or %% for a percent sign.", at: location)
                    return nil
                }
                scalars = scalars.dropFirst()
                guard next < values.count else {
                    _ = call.fail("`format()` has more verbs than values", "Pass a value for each verb after the format.", at: location)
                    return nil
                }
                let argument = values[next]
                let index = next + 1
                next += 1
                let all = [Argument(value: .string(format), location: location, sensitive: false)] + values
                switch verb {
                case "s":
                    guard let text = argument.value.interpolated else {
                        _ = call.wrongType(all, index, "a string, a number or a boolean", "`%s` prints text; use `%v` for a list or a map.")
                        return nil
                    }
                    out += text
                case "d":
                    guard let i = argument.value.intValue else {
                        _ = call.wrongType(all, index, "a whole number", "`%d` prints a whole number; use `%f` or `%v` otherwise.")
                        return nil
                    }
                    out += String(i)
                case "f":
                    guard let d = argument.value.doubleValue else {
                        _ = call.wrongType(all, index, "a number", "`%f` prints a number; convert text with `tonumber()`.")
                        return nil
                    }
                    out += String(format: "%.\(precision ?? 6)f", d)
                case "q":
                    guard let text = argument.value.interpolated else {
                        _ = call.wrongType(all, index, "a string", "`%q` prints quoted text.")
                        return nil
                    }
                    out += Value.quote(text)
                default:
                    out += argument.value.interpolated ?? JSONText.encode(argument.value, pretty: false)
                }
            }
            guard next == values.count else {
                _ = call.fail(
                    "`format()` has \(values.count) value\(values.count == 1 ? "" : "s") but only \(next) verb\(next == 1 ? "" : "s")",
                    "Add a verb such as `%s` for each value, or drop the extra values.", at: values[next].location)
                return nil
            }
            return out
        }
    }
}

/// YAML text for values (`yamlencode()`): block style, keys sorted, strings quoted where YAML would read them otherwise.
enum YAMLText {
    static func encode(_ value: Value) -> String {
        var out = ""
        write(value, indent: 0, into: &out, inline: false)
        return out
    }

    private static func write(_ value: Value, indent: Int, into out: inout String, inline: Bool) {
        let pad = String(repeating: "  ", count: indent)
        switch value {
        case .map(let m) where !m.isEmpty:
            if inline { out += "\n" }
            for key in m.keys.sorted() {
                out += pad + scalar(.string(key)) + ":"
                let child = m[key]!
                if child.isContainer {
                    write(child, indent: indent + 1, into: &out, inline: true)
                } else {
                    out += " " + scalar(child) + "\n"
                }
            }
        case .list(let l) where !l.isEmpty:
            if inline { out += "\n" }
            for item in l {
                out += pad + "-"
                if item.isContainer {
                    var nested = ""
                    write(item, indent: indent + 1, into: &nested, inline: false)
                    out += " " + nested.dropFirst(pad.count + 2)
                } else {
                    out += " " + scalar(item) + "\n"
                }
            }
        default:
            out += (inline ? " " : "") + scalar(value) + "\n"
        }
    }

    private static func scalar(_ value: Value) -> String {
        switch value {
        case .string(let s):
            let plain = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "_-./".contains($0) }
                && !["true", "false", "null", "yes", "no", "on", "off", "~"].contains(s.lowercased()) && Double(s) == nil
                && !s.hasPrefix("-")
            return plain ? s : Value.quote(s)
        case .map: return "{}"
        case .list: return "[]"
        case .unknown: return "null"
        default: return value.rendered
        }
    }
}

extension Value {
    fileprivate var isContainer: Bool {
        switch self {
        case .map(let m): !m.isEmpty
        case .list(let l): !l.isEmpty
        default: false
        }
    }
}
