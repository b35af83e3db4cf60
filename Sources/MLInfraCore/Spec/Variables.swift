import Foundation

/// Where variable values come from, in increasing precedence: defaults,
/// `MLINFRA_VAR_<name>` environment variables, `--var-file` files, `--var` flags.
public struct VariableInputs: Sendable, Hashable {
    public var flags: [String]
    public var files: [String]
    public var environment: [String: String]

    public init(flags: [String] = [], files: [String] = [], environment: [String: String] = [:]) {
        self.flags = flags
        self.files = files
        self.environment = environment
    }
}

/// Variable values after resolution, with which of them are sensitive.
public struct VariableValues: Sendable, Hashable {
    public var values: [String: Value]
    public var sensitive: Set<String>

    public init(values: [String: Value] = [:], sensitive: Set<String> = []) {
        self.values = values
        self.sensitive = sensitive
    }

    /// Resolves every declared variable; unknown names and bad values are diagnostics.
    public static func resolve(_ spec: SpecDocument, inputs: VariableInputs) -> (VariableValues, Diagnostics) {
        var diagnostics = Diagnostics()
        var given: [String: (Value, String)] = [:]  // value, where it came from
        let declared = spec.variables.map(\.name)

        for (key, text) in inputs.environment where key.hasPrefix("MLINFRA_VAR_") {
            let name = String(key.dropFirst("MLINFRA_VAR_".count))
            guard let decl = spec.variable(name) else { continue }
            given[name] = (parse(text, as: decl.type), "environment variable \(key)")
        }
        for file in inputs.files {
            let (root, fileDiagnostics) = YAMLLoader.load(path: file)
            diagnostics.append(contentsOf: fileDiagnostics)
            guard let root else { continue }
            guard case .mapping(let pairs) = root.content else {
                diagnostics.append(.error("a variable file must be a mapping of names to values",
                                          detail: "Write one `name: value` a line.", at: root.location))
                continue
            }
            for pair in pairs {
                guard case .scalar(let name, _) = pair.key.content else { continue }
                guard spec.variable(name) != nil else {
                    diagnostics.append(.error(
                        "`\(name)` is not a variable of this spec",
                        detail: "Declare it under `variables:`, or remove it." + Suggestions.didYouMean(name, in: declared),
                        at: pair.key.location))
                    continue
                }
                guard let expr = SpecExprReader.read(pair.value, diagnostics: &diagnostics) else { continue }
                given[name] = (SpecValue.plain(expr), "\(pair.value.location)")
            }
        }
        for flag in inputs.flags {
            guard let eq = flag.firstIndex(of: "=") else {
                diagnostics.append(.error("`--var \(flag)` must be NAME=VALUE", detail: "For example `--var env=prod`."))
                continue
            }
            let name = String(flag[..<eq])
            let text = String(flag[flag.index(after: eq)...])
            guard let decl = spec.variable(name) else {
                diagnostics.append(.error(
                    "`--var \(name)=…` names no variable of this spec",
                    detail: "Declared variables: \(declared.isEmpty ? "none" : declared.joined(separator: ", "))." + Suggestions.didYouMean(name, in: declared)))
                continue
            }
            given[name] = (parse(text, as: decl.type), "--var \(name)")
        }

        var result = VariableValues()
        for decl in spec.variables {
            if decl.sensitive { result.sensitive.insert(decl.name) }
            if let (value, source) = given[decl.name] {
                if let problem = check(value, against: decl) {
                    diagnostics.append(.error(
                        "invalid value for variable `\(decl.name)` from \(source): \(problem)",
                        detail: "Variable `\(decl.name)` is declared at \(decl.location).", at: decl.location))
                    continue
                }
                result.values[decl.name] = value
            } else if let value = decl.defaultValue {
                result.values[decl.name] = value
            } else {
                diagnostics.append(.error(
                    "no value for variable `\(decl.name)`",
                    detail: "Give one with `--var \(decl.name)=…`, a `--var-file`, or the environment variable MLINFRA_VAR_\(decl.name); or declare a default.",
                    at: decl.location))
            }
        }
        return (result, diagnostics)
    }

    /// Text from a flag or the environment, read as the declared type.
    static func parse(_ text: String, as type: VariableType) -> Value {
        switch type {
        case .string: return .string(text)
        case .int: return Int(text).map(Value.int) ?? .string(text)
        case .number: return Double(text).map(Value.number) ?? .string(text)
        case .bool:
            switch text.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: return .string(text)
            }
        case .list, .map, .any:
            let (node, d) = YAMLLoader.load(Array(text.utf8), file: "--var")
            guard !d.hasErrors, let node else { return .string(text) }
            var scratch = Diagnostics()
            return SpecExprReader.read(node, diagnostics: &scratch).map(SpecValue.plain) ?? .string(text)
        }
    }

    static func inferType(_ value: Value) -> VariableType {
        switch value {
        case .string: .string
        case .int: .int
        case .number: .number
        case .bool: .bool
        case .list: .list
        case .map: .map
        default: .any
        }
    }

    /// Why the value does not fit the declaration, or nil when it does.
    static func check(_ value: Value, against decl: VariableDecl) -> String? {
        let fits: Bool
        switch (decl.type, value) {
        case (.any, _), (.string, .string), (.int, .int), (.bool, .bool), (.list, .list), (.map, .map): fits = true
        case (.number, .int), (.number, .number): fits = true
        default: fits = false
        }
        guard fits else {
            let shown = decl.sensitive ? "(sensitive)" : value.rendered
            return "expected \(decl.type.rawValue), got \(value.kindName) \(shown)"
        }
        if let allowed = decl.allowed, !allowed.contains(value) {
            let shown = decl.sensitive ? "(sensitive)" : value.rendered
            return "\(shown) is not one of \(allowed.map(\.rendered).joined(separator: ", "))"
        }
        return nil
    }
}
