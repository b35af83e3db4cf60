/// What a reference to a resource finds.
public enum ResourceLookup: Sendable {
    /// A single instance's attributes (known, or `unknown` where only apply can tell).
    case instance([String: Value])
    /// A `for_each` resource referenced without a key: its instances by key.
    case instances([String: [String: Value]])
    case missing
}

/// Evaluates spec expressions: variables, `each`, and references to other resources.
public struct Evaluator {
    public var variables: VariableValues
    public var each: (key: String, value: Value)?
    public var lookup: ((_ type: String, _ name: String, _ key: String?) -> ResourceLookup)?

    public init(
        variables: VariableValues,
        each: (key: String, value: Value)? = nil,
        lookup: ((String, String, String?) -> ResourceLookup)? = nil
    ) {
        self.variables = variables
        self.each = each
        self.lookup = lookup
    }

    /// The value of `expr`, and whether it carries a sensitive variable's value.
    public mutating func evaluate(_ expr: SpecExpr, diagnostics: inout Diagnostics) -> (value: Value, sensitive: Bool) {
        switch expr {
        case .literal(let v, _):
            return (v, false)
        case .list(let items, _):
            var sensitive = false
            let values = items.map { item -> Value in
                let r = evaluate(item, diagnostics: &diagnostics)
                sensitive = sensitive || r.sensitive
                return r.value
            }
            return (.list(values), sensitive)
        case .map(let entries, _):
            var sensitive = false
            var out: [String: Value] = [:]
            for entry in entries {
                let r = evaluate(entry.value, diagnostics: &diagnostics)
                sensitive = sensitive || r.sensitive
                out[entry.key] = r.value
            }
            return (.map(out), sensitive)
        case .template(let template, _):
            if let (reference, location) = template.soleReference {
                return resolve(reference, at: location, diagnostics: &diagnostics)
            }
            var text = ""
            var sensitive = false
            var unknown = false
            for part in template.parts {
                switch part {
                case .text(let t): text += t
                case .reference(let reference, let location):
                    let r = resolve(reference, at: location, diagnostics: &diagnostics)
                    sensitive = sensitive || r.sensitive
                    if r.value.containsUnknown {
                        unknown = true
                    } else if let piece = r.value.interpolated {
                        text += piece
                    } else if r.value.isNull {
                        diagnostics.append(.error(
                            "`${\(reference)}` is null and cannot be put into a string",
                            detail: "Give it a value, or use it on its own (not inside text).", at: location))
                    } else {
                        diagnostics.append(.error(
                            "`${\(reference)}` is a \(r.value.kindName) and cannot be put into a string",
                            detail: "Only strings, numbers and booleans can be interpolated; use the reference on its own.", at: location))
                    }
                }
            }
            return (unknown ? .unknown : .string(text), sensitive)
        }
    }

    mutating func resolve(_ reference: Reference, at location: SourceLocation, diagnostics: inout Diagnostics) -> (value: Value, sensitive: Bool) {
        switch reference.root {
        case .variable(let name):
            guard let value = variables.values[name] else {
                diagnostics.append(.error(
                    "`var.\(name)` is not a declared variable",
                    detail: "Declare it under `variables:`." + Suggestions.didYouMean(name, in: variables.values.keys),
                    at: location))
                return (.null, false)
            }
            return (descend(value, reference.path, reference, location, &diagnostics), variables.sensitive.contains(name))
        case .eachKey:
            guard let each else {
                diagnostics.append(.error("`each.key` is only available in a resource with `for_each`", at: location))
                return (.null, false)
            }
            return (.string(each.key), false)
        case .eachValue:
            guard let each else {
                diagnostics.append(.error("`each.value` is only available in a resource with `for_each`", at: location))
                return (.null, false)
            }
            return (descend(each.value, reference.path, reference, location, &diagnostics), false)
        case .resource(let type, let name, let key):
            guard let lookup else {
                diagnostics.append(.error(
                    "`${\(reference)}` cannot be used here", detail: "Only variables can be referenced in this place.", at: location))
                return (.null, false)
            }
            switch lookup(type, name, key) {
            case .missing:
                diagnostics.append(.error("`${\(reference)}` refers to a resource that is not in the spec", at: location))
                return (.null, false)
            case .instance(let attributes):
                guard let first = reference.path.first else { return (attributes["id"] ?? .unknown, false) }
                guard let value = attributes[first] else { return (.unknown, false) }
                return (descend(value, Array(reference.path.dropFirst()), reference, location, &diagnostics), false)
            case .instances(let byKey):
                if reference.path.isEmpty {
                    return (.map(byKey.mapValues { $0["id"] ?? .unknown }), false)
                }
                diagnostics.append(.error(
                    "`\(type).\(name)` has `for_each`; name one instance",
                    detail: "Write `${\(type).\(name)[\"KEY\"].\(reference.path.joined(separator: "."))}`.", at: location))
                return (.null, false)
            }
        }
    }

    private func descend(_ value: Value, _ path: [String], _ reference: Reference, _ location: SourceLocation, _ diagnostics: inout Diagnostics) -> Value {
        guard !path.isEmpty else { return value }
        guard let found = value.value(at: path.joined(separator: ".")) else {
            diagnostics.append(.error("`${\(reference)}` has no value at `\(path.joined(separator: "."))`", at: location))
            return .null
        }
        return found
    }
}
