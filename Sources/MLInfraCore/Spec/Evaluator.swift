/// What a reference to a resource finds.
public enum ResourceLookup: Sendable {
    /// A single instance's attributes (known, or `unknown` where only apply can tell), and the
    /// paths among them whose values are sensitive (`id` when the id carries a secret).
    case instance([String: Value], sensitive: Set<String>)
    /// A `for_each` resource referenced without a key: its instances by key, and whether any id is sensitive.
    case instances([String: [String: Value]], sensitive: Bool)
    case missing
}

/// A value the evaluator computed, and which parts of it are sensitive.
public struct Evaluated: Sendable {
    public var value: Value
    /// Paths inside `value` whose content is secret ("" for all of it).
    public var sensitivePaths: Set<String>

    public init(_ value: Value, sensitivePaths: Set<String> = []) {
        self.value = value
        self.sensitivePaths = sensitivePaths
    }

    /// True when any part of the value is secret.
    public var sensitive: Bool { !sensitivePaths.isEmpty }

    /// The sensitive paths of this value once it is stored under `key`.
    public func paths(under key: String) -> Set<String> {
        Set(sensitivePaths.map { $0.isEmpty ? key : key + "." + $0 })
    }
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

    /// The value of `expr`, with the paths inside it that carry a sensitive value: a sensitive
    /// variable, a sensitive attribute of a resource, or text built from either.
    public mutating func evaluate(_ expr: SpecExpr, diagnostics: inout Diagnostics) -> Evaluated {
        switch expr {
        case .literal(let v, _):
            return Evaluated(v)
        case .list(let items, _):
            var paths = Set<String>()
            var values: [Value] = []
            for (i, item) in items.enumerated() {
                let r = evaluate(item, diagnostics: &diagnostics)
                paths.formUnion(r.paths(under: String(i)))
                values.append(r.value)
            }
            return Evaluated(.list(values), sensitivePaths: paths)
        case .map(let entries, _):
            var paths = Set<String>()
            var out: [String: Value] = [:]
            for entry in entries {
                let r = evaluate(entry.value, diagnostics: &diagnostics)
                paths.formUnion(r.paths(under: entry.key))
                out[entry.key] = r.value
            }
            return Evaluated(.map(out), sensitivePaths: paths)
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
            // Text built from a secret is a secret.
            return Evaluated(unknown ? .unknown : .string(text), sensitivePaths: sensitive ? [""] : [])
        }
    }

    mutating func resolve(_ reference: Reference, at location: SourceLocation, diagnostics: inout Diagnostics) -> Evaluated {
        switch reference.root {
        case .variable(let name):
            guard let value = variables.values[name] else {
                diagnostics.append(.error(
                    "`var.\(name)` is not a declared variable",
                    detail: "Declare it under `variables:`." + Suggestions.didYouMean(name, in: variables.values.keys),
                    at: location))
                return Evaluated(.null)
            }
            return Evaluated(
                descend(value, reference.path, reference, location, &diagnostics),
                sensitivePaths: variables.sensitive.contains(name) ? [""] : [])
        case .eachKey:
            guard let each else {
                diagnostics.append(.error("`each.key` is only available in a resource with `for_each`", at: location))
                return Evaluated(.null)
            }
            return Evaluated(.string(each.key))
        case .eachValue:
            guard let each else {
                diagnostics.append(.error("`each.value` is only available in a resource with `for_each`", at: location))
                return Evaluated(.null)
            }
            return Evaluated(descend(each.value, reference.path, reference, location, &diagnostics))
        case .resource(let type, let name, let key):
            guard let lookup else {
                diagnostics.append(.error(
                    "`${\(reference)}` cannot be used here", detail: "Only variables can be referenced in this place.", at: location))
                return Evaluated(.null)
            }
            switch lookup(type, name, key) {
            case .missing:
                diagnostics.append(.error("`${\(reference)}` refers to a resource that is not in the spec", at: location))
                return Evaluated(.null)
            case .instance(let attributes, let sensitive):
                // What the reference reads is sensitive where the instance's attributes are.
                guard let first = reference.path.first else {
                    return Evaluated(attributes["id"] ?? .unknown, sensitivePaths: Secrets.relative(sensitive, below: "id"))
                }
                let marks = Secrets.relative(sensitive, below: reference.path.joined(separator: "."))
                guard let value = attributes[first] else { return Evaluated(.unknown, sensitivePaths: marks) }
                return Evaluated(descend(value, Array(reference.path.dropFirst()), reference, location, &diagnostics), sensitivePaths: marks)
            case .instances(let byKey, let sensitive):
                if reference.path.isEmpty {
                    return Evaluated(.map(byKey.mapValues { $0["id"] ?? .unknown }), sensitivePaths: sensitive ? [""] : [])
                }
                diagnostics.append(.error(
                    "`\(type).\(name)` has `for_each`; name one instance",
                    detail: "Write `${\(type).\(name)[\"KEY\"].\(reference.path.joined(separator: "."))}`.", at: location))
                return Evaluated(.null)
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
