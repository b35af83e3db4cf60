import Foundation

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

    /// Where `env()` was read into this value without `sensitive()` around it: such a value may be
    /// a secret, so it may only go where it is kept secret (see `Evaluated.unmarkedEnvironmentProblem`).
    public var unmarkedEnvironment: [SourceLocation]

    public init(_ value: Value, sensitivePaths: Set<String> = [], unmarkedEnvironment: [SourceLocation] = []) {
        self.value = value
        self.sensitivePaths = sensitivePaths
        self.unmarkedEnvironment = unmarkedEnvironment
    }

    /// The error for a value read from the environment going to `place`, which is not secret; nil when it does not.
    public func unmarkedEnvironmentProblem(going place: String, address: String? = nil) -> Diagnostic? {
        guard let first = unmarkedEnvironment.first else { return nil }
        return .error(
            "a value read with `env()` goes to \(place), which is not sensitive",
            detail: "An environment variable may hold a secret, and \(place) is printed in plans and kept in state. "
                + "Wrap the call as `sensitive(env(\"NAME\"))` to keep the value out of plans, logs and state, or, when it is no secret, "
                + "declare a variable and set it with `MLINFRA_VAR_NAME`.",
            at: first, address: address)
    }

    /// True when any part of the value is secret.
    public var sensitive: Bool { !sensitivePaths.isEmpty }

    /// The sensitive paths of this value once it is stored under `key`.
    public func paths(under key: String) -> Set<String> {
        Set(sensitivePaths.map { $0.isEmpty ? key : key + "." + $0 })
    }
}

/// The spec's `locals:`: those that refer to no resource are evaluated once, when the configuration
/// is built; the others where they are used, against what is known of the resources then.
public struct Locals: Sendable {
    public var declarations: [String: SpecExpr]
    public var values: [String: Evaluated]
    /// Locals whose whole value is secret (a module's sensitive variables and outputs).
    public var sensitive: Set<String>

    public init(declarations: [String: SpecExpr] = [:], values: [String: Evaluated] = [:], sensitive: Set<String> = []) {
        self.declarations = declarations
        self.values = values
        self.sensitive = sensitive
    }

    /// The locals `declared`, none evaluated yet (the first of two of one name wins; the spec reports the second).
    public init(declared: [LocalDecl]) {
        self.init(
            declarations: Dictionary(declared.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
            sensitive: Set(declared.filter(\.sensitive).map(\.name)))
    }
}

extension Evaluator {
    /// An evaluator for what is read before any resource exists — provider settings, the backend,
    /// the engines' data directory: variables, functions (relative to the spec's directory) and the
    /// spec's locals; a reference to a resource, direct or through a local, is an error there.
    public static func beforeResources(
        _ spec: SpecDocument, variables: VariableValues, environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Evaluator {
        Evaluator(
            variables: variables, locals: Locals(declared: spec.locals),
            functions: FunctionContext(baseDirectory: spec.rootDirectory, environment: environment))
    }
}

/// Evaluates spec expressions: variables, locals, `each`, references to other resources, functions,
/// operators and conditionals.
public struct Evaluator {
    public var variables: VariableValues
    public var each: (key: String, value: Value)?
    public var lookup: ((ResourceAddress) -> ResourceLookup)?
    public var locals: Locals
    public var functions: FunctionContext
    /// What data sources read, by address (`data.TYPE.NAME`); nil where none can be read (nothing is known of them yet).
    public var data: ((String) -> KnownInstance?)?
    /// Locals evaluated by this evaluator (those that refer to resources), and those being evaluated now.
    private var localCache: [String: Evaluated] = [:]
    private var evaluatingLocals: Set<String> = []

    public init(
        variables: VariableValues,
        each: (key: String, value: Value)? = nil,
        lookup: ((ResourceAddress) -> ResourceLookup)? = nil,
        locals: Locals = Locals(),
        functions: FunctionContext = FunctionContext()
    ) {
        self.variables = variables
        self.each = each
        self.lookup = lookup
        self.locals = locals
        self.functions = functions
    }

    /// The value of `expr`, with the paths inside it that carry a sensitive value: a sensitive
    /// variable, a sensitive attribute of a resource, or anything computed from either.
    public mutating func evaluate(_ expr: SpecExpr, diagnostics: inout Diagnostics) -> Evaluated {
        switch expr {
        case .literal(let v, _):
            return Evaluated(v)
        case .list(let items, _):
            var paths = Set<String>()
            var values: [Value] = []
            var environment: [SourceLocation] = []
            for (i, item) in items.enumerated() {
                let r = evaluate(item, diagnostics: &diagnostics)
                paths.formUnion(r.paths(under: String(i)))
                values.append(r.value)
                environment += r.unmarkedEnvironment
            }
            return Evaluated(.list(values), sensitivePaths: paths, unmarkedEnvironment: environment)
        case .map(let entries, _):
            var paths = Set<String>()
            var out: [String: Value] = [:]
            var environment: [SourceLocation] = []
            for entry in entries {
                let r = evaluate(entry.value, diagnostics: &diagnostics)
                paths.formUnion(r.paths(under: entry.key))
                out[entry.key] = r.value
                environment += r.unmarkedEnvironment
            }
            return Evaluated(.map(out), sensitivePaths: paths, unmarkedEnvironment: environment)
        case .template(let template, _):
            if let (expression, _) = template.soleExpression {
                return evaluate(expression, diagnostics: &diagnostics)
            }
            var text = ""
            var sensitive = false
            var unknown = false
            var environment: [SourceLocation] = []
            for part in template.parts {
                switch part {
                case .text(let t): text += t
                case .expression(let expression, let location):
                    let r = evaluate(expression, diagnostics: &diagnostics)
                    sensitive = sensitive || r.sensitive
                    environment += r.unmarkedEnvironment
                    if r.value.containsUnknown {
                        unknown = true
                    } else if let piece = r.value.interpolated {
                        text += piece
                    } else if r.value.isNull {
                        diagnostics.append(.error(
                            "`${\(Self.text(expression))}` is null and cannot be put into a string",
                            detail: "Give it a value, or use it on its own (not inside text).", at: location))
                    } else {
                        diagnostics.append(.error(
                            "`${\(Self.text(expression))}` is a \(r.value.kindName) and cannot be put into a string",
                            detail: "Only strings, numbers and booleans can be interpolated; use it on its own, or `jsonencode()` it.",
                            at: location))
                    }
                }
            }
            // Text built from a secret is a secret.
            return Evaluated(unknown ? .unknown : .string(text), sensitivePaths: sensitive ? [""] : [], unmarkedEnvironment: environment)
        }
    }

    /// The value of one `${…}` expression.
    public mutating func evaluate(_ expression: Expression, diagnostics: inout Diagnostics) -> Evaluated {
        switch expression {
        case .reference(let reference, let location):
            return resolve(reference, at: location, diagnostics: &diagnostics)
        case .literal(let value, _):
            return Evaluated(value)
        case .call(let name, let argumentExpressions, let location):
            let evaluated = argumentExpressions.map { evaluate($0, diagnostics: &diagnostics) }
            var derived = Evaluated.derived(from: evaluated)
            if name == "sensitive" {
                derived.sensitivePaths = [""]
                derived.unmarkedEnvironment = []
            }
            if name == "env" { derived.unmarkedEnvironment.append(location) }
            // A function of something only apply can tell is itself only known after apply.
            if evaluated.contains(where: { $0.value.containsUnknown }) && name != "sensitive" {
                derived.value = .unknown
                return derived
            }
            let arguments = zip(argumentExpressions, evaluated).map {
                SpecFunctions.Argument(value: $1.value, location: $0.location, sensitive: $1.sensitive)
            }
            let before = diagnostics.count
            guard let value = SpecFunctions.call(name, arguments, at: location, context: functions, diagnostics: &diagnostics) else {
                if diagnostics.count == before { diagnostics.append(.error("`\(name)()` failed", at: location)) }
                return Evaluated(.null)
            }
            derived.value = value
            return derived
        case .conditional(let condition, let whenTrue, let whenFalse, _):
            let c = evaluate(condition, diagnostics: &diagnostics)
            if c.value.containsUnknown { return Evaluated(.unknown, sensitivePaths: c.sensitivePaths.isEmpty ? [] : [""]) }
            guard case .bool(let chosen) = c.value else {
                diagnostics.append(.error(
                    "the condition of `? :` must be true or false, not \(SchemaCheck.article(c.value.kindName))",
                    detail: "Compare it, e.g. `${var.env == \"prod\" ? 3 : 1}`.", at: condition.location))
                return Evaluated(.null)
            }
            var r = evaluate(chosen ? whenTrue : whenFalse, diagnostics: &diagnostics)
            // Which branch was taken tells something of a secret condition.
            if c.sensitive { r.sensitivePaths = [""] }
            r.unmarkedEnvironment += c.unmarkedEnvironment
            return r
        case .not(let operand, _):
            let r = evaluate(operand, diagnostics: &diagnostics)
            if r.value.containsUnknown { return Evaluated.derived(from: [r], value: .unknown) }
            guard case .bool(let b) = r.value else {
                diagnostics.append(.error(
                    "`!` needs true or false, not \(SchemaCheck.article(r.value.kindName))", detail: "Write `!` before a condition.",
                    at: operand.location))
                return Evaluated(.null)
            }
            return Evaluated.derived(from: [r], value: .bool(!b))
        case .negate(let operand, _):
            let r = evaluate(operand, diagnostics: &diagnostics)
            if r.value.containsUnknown { return Evaluated.derived(from: [r], value: .unknown) }
            switch r.value {
            case .int(let i): return Evaluated.derived(from: [r], value: .int(-i))
            case .number(let d): return Evaluated.derived(from: [r], value: .number(-d))
            default:
                diagnostics.append(.error(
                    "`-` needs a number, not \(SchemaCheck.article(r.value.kindName))", detail: "Convert text with `tonumber()`.",
                    at: operand.location))
                return Evaluated(.null)
            }
        case .binary(let op, let left, let right, let location):
            return binary(op, left, right, at: location, diagnostics: &diagnostics)
        case .list(let items, _):
            let evaluated = items.map { evaluate($0, diagnostics: &diagnostics) }
            return Evaluated(
                .list(evaluated.map(\.value)),
                sensitivePaths: Set(evaluated.enumerated().flatMap { $0.element.paths(under: String($0.offset)) }),
                unmarkedEnvironment: evaluated.flatMap(\.unmarkedEnvironment))
        case .map(let keys, let items, _):
            let evaluated = items.map { evaluate($0, diagnostics: &diagnostics) }
            return Evaluated(
                .map(Dictionary(zip(keys, evaluated.map(\.value)), uniquingKeysWith: { a, _ in a })),
                sensitivePaths: Set(zip(keys, evaluated).flatMap { $1.paths(under: $0) }),
                unmarkedEnvironment: evaluated.flatMap(\.unmarkedEnvironment))
        }
    }

    private mutating func binary(
        _ op: Expression.BinaryOperator, _ left: Expression, _ right: Expression, at location: SourceLocation, diagnostics: inout Diagnostics
    ) -> Evaluated {
        let l = evaluate(left, diagnostics: &diagnostics)
        // `&&` and `||` decide on their left side when they can, so the right side may guard on it.
        if op == .and || op == .or, case .bool(let b) = l.value, b == (op == .or) {
            return Evaluated.derived(from: [l], value: .bool(b))
        }
        let r = evaluate(right, diagnostics: &diagnostics)
        if l.value.containsUnknown || r.value.containsUnknown { return Evaluated.derived(from: [l, r], value: .unknown) }
        func bad(_ side: Expression, _ value: Value, _ wanted: String, _ remedy: String) -> Evaluated {
            diagnostics.append(.error(
                "`\(op.rawValue)` needs \(wanted), not \(SchemaCheck.article(value.kindName))", detail: remedy, at: side.location))
            return Evaluated(.null)
        }
        switch op {
        case .equal, .notEqual:
            let same = l.value.sameValue(as: r.value)
            return Evaluated.derived(from: [l, r], value: .bool(op == .equal ? same : !same))
        case .and, .or:
            guard case .bool = l.value else { return bad(left, l.value, "true or false", "Both sides of `\(op.rawValue)` are conditions.") }
            guard case .bool(let b) = r.value else { return bad(right, r.value, "true or false", "Both sides of `\(op.rawValue)` are conditions.") }
            return Evaluated.derived(from: [l, r], value: .bool(b))
        case .less, .lessOrEqual, .greater, .greaterOrEqual:
            let result: Bool
            if let a = l.value.doubleValue, let b = r.value.doubleValue {
                switch op {
                case .less: result = a < b
                case .lessOrEqual: result = a <= b
                case .greater: result = a > b
                default: result = a >= b
                }
            } else if case .string(let a) = l.value, case .string(let b) = r.value {
                switch op {
                case .less: result = a < b
                case .lessOrEqual: result = a <= b
                case .greater: result = a > b
                default: result = a >= b
                }
            } else {
                let side = l.value.doubleValue == nil && l.value.stringValue == nil ? (left, l.value) : (right, r.value)
                return bad(side.0, side.1, "two numbers or two strings", "Convert text with `tonumber()` to compare it with a number.")
            }
            return Evaluated.derived(from: [l, r], value: .bool(result))
        case .add, .subtract, .multiply, .divide:
            guard let a = l.value.doubleValue else { return bad(left, l.value, "a number", "Convert text with `tonumber()`; join text with `format()`.") }
            guard let b = r.value.doubleValue else { return bad(right, r.value, "a number", "Convert text with `tonumber()`; join text with `format()`.") }
            if case .int(let x) = l.value, case .int(let y) = r.value, op != .divide || (y != 0 && x % y == 0) {
                let (value, overflow): (Int, Bool)
                switch op {
                case .add: (value, overflow) = x.addingReportingOverflow(y)
                case .subtract: (value, overflow) = x.subtractingReportingOverflow(y)
                case .multiply: (value, overflow) = x.multipliedReportingOverflow(by: y)
                default: (value, overflow) = (x / y, false)
                }
                if !overflow { return Evaluated.derived(from: [l, r], value: .int(value)) }
            }
            if op == .divide && b == 0 {
                diagnostics.append(.error("division by zero", detail: "Guard it with a conditional: `${B == 0 ? 0 : A / B}`.", at: right.location))
                return Evaluated(.null)
            }
            let value: Double
            switch op {
            case .add: value = a + b
            case .subtract: value = a - b
            case .multiply: value = a * b
            default: value = a / b
            }
            return Evaluated.derived(from: [l, r], value: .number(value))
        }
    }

    /// How an expression reads in a message: the reference itself, else a short description.
    static func text(_ expression: Expression) -> String {
        switch expression {
        case .reference(let r, _): r.description
        case .call(let name, _, _): "\(name)(…)"
        case .literal(let v, _): v.rendered
        default: "…"
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
        case .local(let name):
            let found: Evaluated
            if let value = locals.values[name] ?? localCache[name] {
                found = value
            } else if let declaration = locals.declarations[name], !evaluatingLocals.contains(name) {
                evaluatingLocals.insert(name)
                var value = evaluate(declaration, diagnostics: &diagnostics)
                if locals.sensitive.contains(name) {
                    value.sensitivePaths = [""]
                    value.unmarkedEnvironment = []
                }
                found = value
                evaluatingLocals.remove(name)
                localCache[name] = found
            } else {
                diagnostics.append(.error(
                    locals.declarations[name] == nil ? "`local.\(name)` is not declared" : "`local.\(name)` refers to itself",
                    detail: "Declare it under `locals:`." + Suggestions.didYouMean(name, in: locals.declarations.keys), at: location))
                return Evaluated(.null)
            }
            var r = found
            r.value = descend(found.value, reference.path, reference, location, &diagnostics)
            if !reference.path.isEmpty && !r.sensitivePaths.contains("") {
                r.sensitivePaths = Secrets.relative(found.sensitivePaths, below: reference.path.joined(separator: "."))
            }
            return r
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
        case .data:
            let address = reference.dataAddress!
            // Before the plan has read it (validate), a data source is known only after the read.
            guard let found = data?(address) else { return Evaluated(.unknown) }
            guard let first = reference.path.first else {
                return Evaluated(found.attributes["id"] ?? .unknown, sensitivePaths: Secrets.relative(found.sensitive, below: "id"))
            }
            let marks = Secrets.relative(found.sensitive, below: reference.path.joined(separator: "."))
            guard let value = found.attributes[first] else {
                diagnostics.append(.error(
                    "`\(address)` has no attribute `\(first)`",
                    detail: "It read: \(found.attributes.keys.sorted().joined(separator: ", "))." + Suggestions.didYouMean(first, in: found.attributes.keys),
                    at: location))
                return Evaluated(.null)
            }
            return Evaluated(descend(value, Array(reference.path.dropFirst()), reference, location, &diagnostics), sensitivePaths: marks)
        case .moduleOutput(let call, let key, let output):
            let name = "module.\(call)" + (key.map { "[\"\($0)\"]" } ?? "") + ".output.\(output)"
            guard locals.declarations[name] != nil else {
                diagnostics.append(.error(
                    "`\(reference)` is not an output of a module call of this spec",
                    detail: "Check the call's name and key, and the module's `outputs:`.", at: location))
                return Evaluated(.null)
            }
            return resolve(Reference(root: .local(name), path: reference.path), at: location, diagnostics: &diagnostics)
        case .resource:
            guard let lookup, let target = reference.address else {
                diagnostics.append(.error(
                    "`${\(reference)}` cannot be used here",
                    detail: "This is read before any resource: use variables, functions and locals that refer to no resource.", at: location))
                return Evaluated(.null)
            }
            switch lookup(target) {
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
                    "`\(target.resource)` has `for_each`; name one instance",
                    detail: "Write `${\(target.resource)[\"KEY\"].\(reference.path.joined(separator: "."))}`.", at: location))
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

extension Evaluated {
    /// A value computed from `inputs`: secret as a whole when any input is, and carrying every
    /// unmarked read of the environment.
    static func derived(from inputs: [Evaluated], value: Value = .null) -> Evaluated {
        Evaluated(
            value, sensitivePaths: inputs.contains(where: \.sensitive) ? [""] : [],
            unmarkedEnvironment: inputs.flatMap(\.unmarkedEnvironment))
    }
}
