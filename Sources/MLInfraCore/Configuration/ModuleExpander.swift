/// Flattens module calls into one spec: each call's resources join the root under the call's
/// address (`module.serving.endpoint.main`, `module.serving["dev"].endpoint.main`), and its
/// variables, locals and outputs become locals named after the call
/// (`module.serving.var.region`, `module.serving.output.url`), so the graph, the planner, the
/// applier and state see one spec in which every module resource has its full address.
///
/// A call's inputs are written in the caller's scope: they may use the caller's variables,
/// locals, resources and, with `for_each` on the call, `each.key` / `each.value` of the call.
enum ModuleExpander {
    /// The flattened spec, and where each module instance is called (`module.serving["dev"]` → its call site).
    static func flatten(
        _ root: SpecDocument, variables: VariableValues, functions: FunctionContext, diagnostics: inout Diagnostics
    ) -> (SpecDocument, [String: SourceLocation]) {
        guard !root.modules.isEmpty else { return (root, [:]) }
        var expander = Expansion(variables: variables, functions: functions)
        let rootScope = Scope(prefix: nil, document: root)
        var out = root
        out.resources = root.resources.map { expander.resource($0, in: rootScope) }
        out.outputs = root.outputs.map { var o = $0; o.value = expander.rewrite(o.value, in: rootScope); return o }
        expander.locals = root.locals.map { var l = $0; l.value = expander.rewrite(l.value, in: rootScope); return l }
        expander.expand(root.modules, in: rootScope)
        out.resources += expander.resources
        out.stateBlocks += expander.stateBlocks
        out.dataSources = root.dataSources.map { d in
            var d = d
            d.query = d.query.map { SpecEntry(key: $0.key, keyLocation: $0.keyLocation, value: expander.rewrite($0.value, in: rootScope)) }
            return d
        } + expander.dataSources
        out.locals = expander.locals
        diagnostics.append(contentsOf: expander.diagnostics)
        return (out, expander.callSites)
    }

    /// The module a name is evaluated in: nil prefix for the root.
    struct Scope {
        var prefix: String?
        var document: SpecDocument
        /// Where this module instance is called; nil for the root.
        var call: SourceLocation? = nil

        func name(_ kind: String, _ name: String) -> String { (prefix.map { $0 + "." } ?? "") + kind + "." + name }
        func child(_ call: String, key: String?) -> String {
            (prefix.map { $0 + "." } ?? "") + "module.\(call)" + (key.map { "[\"\($0)\"]" } ?? "")
        }
    }

    struct Expansion {
        let variables: VariableValues
        let functions: FunctionContext
        var resources: [ResourceDecl] = []
        var stateBlocks: [StateBlock] = []
        var dataSources: [DataDecl] = []
        var locals: [LocalDecl] = []
        var callSites: [String: SourceLocation] = [:]
        var diagnostics = Diagnostics()
        private var reported = Set<String>()

        init(variables: VariableValues, functions: FunctionContext) {
            self.variables = variables
            self.functions = functions
        }

        mutating func expand(_ calls: [ModuleCall], in parent: Scope) {
            for call in calls {
                guard let document = call.document else { continue }
                for input in call.inputs where document.variable(input.key) == nil {
                    diagnostics.append(.error(
                        "module `\(call.name)` has no variable `\(input.key)`",
                        detail: "Its variables: \(document.variables.map { "`\($0.name)`" }.joined(separator: ", "))."
                            + Suggestions.didYouMean(input.key, in: document.variables.map(\.name)),
                        at: input.keyLocation))
                }
                for (key, value) in instances(of: call, in: parent) {
                    let prefix = parent.child(call.name, key: key)
                    callSites[prefix] = call.location
                    let scope = Scope(prefix: prefix, document: document, call: call.location)
                    for variable in document.variables {
                        let input = call.inputs.first { $0.key == variable.name }
                        let expr: SpecExpr
                        if let input {
                            expr = substituteEach(rewrite(input.value, in: parent), key: key, value: value)
                        } else if let given = variable.defaultValue {
                            expr = .literal(given, variable.location)
                        } else {
                            diagnostics.append(.error(
                                "module `\(call.name)` needs the input `\(variable.name)`",
                                detail: "Its variable `\(variable.name)` (\(variable.location)) has no default; add `\(variable.name): …` under `inputs:`.",
                                at: call.location))
                            continue
                        }
                        locals.append(LocalDecl(
                            name: scope.name("var", variable.name), value: expr, location: input?.keyLocation ?? variable.location,
                            sensitive: variable.sensitive))
                    }
                    for local in document.locals {
                        locals.append(LocalDecl(name: scope.name("local", local.name), value: rewrite(local.value, in: scope), location: local.location))
                    }
                    for output in document.outputs {
                        locals.append(LocalDecl(
                            name: scope.name("output", output.name), value: rewrite(output.value, in: scope), location: output.location,
                            sensitive: output.sensitive))
                    }
                    for decl in document.resources { resources.append(resource(decl, in: scope)) }
                    for decl in document.dataSources {
                        var d = decl
                        d.module = prefix
                        d.query = decl.query.map { SpecEntry(key: $0.key, keyLocation: $0.keyLocation, value: rewrite($0.value, in: scope)) }
                        dataSources.append(d)
                    }
                    for block in document.stateBlocks {
                        var b = block
                        b.module = prefix
                        b.from = block.from.map { rewrite($0, in: scope) }
                        b.to = block.to.map { rewrite($0, in: scope) }
                        b.id = block.id.map { rewrite($0, in: scope) }
                        b.forEach = block.forEach.map { rewrite($0, in: scope) }
                        stateBlocks.append(b)
                    }
                    expand(document.modules, in: scope)
                }
            }
        }

        /// The instances of a call: one without a key, or one per `for_each` item.
        mutating func instances(of call: ModuleCall, in parent: Scope) -> [(String?, Value?)] {
            guard let forEach = call.forEach else { return [(nil, nil)] }
            let rewritten = rewrite(forEach, in: parent)
            let declarations = Dictionary(locals.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
            let known = Locals(declarations: declarations)
            if let ref = LocalsBuilder.expand(rewritten.references, known).first(where: { $0.0.resource != nil }) {
                diagnostics.append(.error(
                    "`for_each` of module `\(call.name)` must be known before apply",
                    detail: "It refers to `${\(ref.0)}`; use variables, locals and literal values only.", at: ref.1))
                return []
            }
            var evaluator = Evaluator(variables: variables, locals: known, functions: functions)
            var found = Diagnostics()
            let evaluated = evaluator.evaluate(rewritten, diagnostics: &found)
            diagnostics.append(contentsOf: found)
            if evaluated.sensitive || !evaluated.unmarkedEnvironment.isEmpty {
                diagnostics.append(.error(
                    "`for_each` of module `\(call.name)` cannot use a sensitive value",
                    detail: "Its keys become addresses, which plans print and state stores.", at: forEach.location))
                return []
            }
            guard !found.hasErrors else { return [] }
            return ForEachItems.items(of: evaluated.value, at: forEach.location, diagnostics: &diagnostics)
        }

        mutating func resource(_ decl: ResourceDecl, in scope: Scope) -> ResourceDecl {
            guard scope.prefix != nil || decl.attributes.contains(where: { !$0.value.references.isEmpty }) || decl.forEach != nil else {
                return decl
            }
            var out = decl
            out.module = scope.prefix
            out.attributes = decl.attributes.map { SpecEntry(key: $0.key, keyLocation: $0.keyLocation, value: rewrite($0.value, in: scope)) }
            out.forEach = decl.forEach.map { rewrite($0, in: scope) }
            if let prefix = scope.prefix { out.dependsOn = decl.dependsOn.map { (prefix + "." + $0.0, $0.1) } }
            return out
        }

        mutating func rewrite(_ expr: SpecExpr, in scope: Scope) -> SpecExpr {
            switch expr {
            case .literal: return expr
            case .list(let items, let l): return .list(items.map { rewrite($0, in: scope) }, l)
            case .map(let entries, let l):
                return .map(entries.map { SpecEntry(key: $0.key, keyLocation: $0.keyLocation, value: rewrite($0.value, in: scope)) }, l)
            case .template(let template, let l):
                return .template(Template(parts: template.parts.map { part in
                    if case .expression(let e, let at) = part { return .expression(rewrite(e, in: scope), at) }
                    return part
                }), l)
            }
        }

        mutating func rewrite(_ expression: Expression, in scope: Scope) -> Expression {
            switch expression {
            case .reference(let reference, let location):
                return .reference(rewrite(reference, at: location, in: scope), location)
            case .literal: return expression
            case .call(let name, let args, let l): return .call(name, args.map { rewrite($0, in: scope) }, l)
            case .conditional(let c, let a, let b, let l): return .conditional(rewrite(c, in: scope), rewrite(a, in: scope), rewrite(b, in: scope), l)
            case .binary(let op, let a, let b, let l): return .binary(op, rewrite(a, in: scope), rewrite(b, in: scope), l)
            case .not(let e, let l): return .not(rewrite(e, in: scope), l)
            case .negate(let e, let l): return .negate(rewrite(e, in: scope), l)
            case .list(let items, let l): return .list(items.map { rewrite($0, in: scope) }, l)
            case .map(let keys, let items, let l): return .map(keys, items.map { rewrite($0, in: scope) }, l)
            }
        }

        /// Reports a problem in `scope` once (a module called with `for_each` is rewritten per key), naming the call site.
        mutating func report(_ diagnostic: Diagnostic, in scope: Scope) {
            var d = diagnostic
            if let prefix = scope.prefix, let call = scope.call {
                d.detail += (d.detail.isEmpty ? "" : "\n") + "In `\(prefix)`, called at \(call)."
            }
            guard reported.insert("\(diagnostic.summary)|\(diagnostic.location.map(\.description) ?? "")").inserted else { return }
            diagnostics.append(d)
        }

        mutating func rewrite(_ reference: Reference, at location: SourceLocation, in scope: Scope) -> Reference {
            var out = reference
            switch reference.root {
            case .variable(let name) where scope.prefix != nil:
                if scope.document.variable(name) == nil {
                    report(.error(
                        "`var.\(name)` is not a variable of this module",
                        detail: "Declare it under the module's `variables:`." + Suggestions.didYouMean(name, in: scope.document.variables.map(\.name)),
                        at: location), in: scope)
                }
                out.root = .local(scope.name("var", name))
            case .local(let name) where scope.prefix != nil:
                if !scope.document.locals.contains(where: { $0.name == name }) {
                    report(.error(
                        "`local.\(name)` is not declared in this module",
                        detail: "Declare it under the module's `locals:`." + Suggestions.didYouMean(name, in: scope.document.locals.map(\.name)),
                        at: location), in: scope)
                }
                out.root = .local(scope.name("local", name))
            case .resource, .data:
                out.module = scope.prefix
            case .moduleOutput(let call, let key, let output):
                guard let decl = scope.document.modules.first(where: { $0.name == call }) else {
                    report(.error(
                        "`module.\(call)` is not a module call here",
                        detail: "Add it under `modules:`." + Suggestions.didYouMean(call, in: scope.document.modules.map(\.name)), at: location), in: scope)
                    return out
                }
                if decl.forEach != nil && key == nil {
                    report(.error(
                        "`module.\(call)` has `for_each`; name one instance",
                        detail: "Write `${module.\(call)[\"KEY\"].\(output)}`.", at: location), in: scope)
                } else if decl.forEach == nil && key != nil {
                    report(.error(
                        "`module.\(call)` has no `for_each`", detail: "Write `${module.\(call).\(output)}`.", at: location), in: scope)
                }
                if let outputs = decl.document?.outputs, !outputs.contains(where: { $0.name == output }) {
                    report(.error(
                        "module `\(call)` has no output `\(output)`",
                        detail: "Its outputs: \(outputs.map { "`\($0.name)`" }.joined(separator: ", "))."
                            + Suggestions.didYouMean(output, in: outputs.map(\.name)),
                        at: location), in: scope)
                }
                out.root = .local(Scope(prefix: scope.child(call, key: key), document: scope.document).name("output", output))
            default: break
            }
            return out
        }

        /// `each.key` and `each.value` of a module call, replaced by the instance's key and value.
        func substituteEach(_ expr: SpecExpr, key: String?, value: Value?) -> SpecExpr {
            guard let key, let value else { return expr }
            func substitute(_ e: Expression) -> Expression {
                switch e {
                case .reference(let r, let l):
                    switch r.root {
                    case .eachKey: return .literal(.string(key), l)
                    case .eachValue: return .literal(r.path.isEmpty ? value : value.value(at: r.path.joined(separator: ".")) ?? .null, l)
                    default: return e
                    }
                case .literal: return e
                case .call(let name, let args, let l): return .call(name, args.map(substitute), l)
                case .conditional(let c, let a, let b, let l): return .conditional(substitute(c), substitute(a), substitute(b), l)
                case .binary(let op, let a, let b, let l): return .binary(op, substitute(a), substitute(b), l)
                case .not(let x, let l): return .not(substitute(x), l)
                case .negate(let x, let l): return .negate(substitute(x), l)
                case .list(let items, let l): return .list(items.map(substitute), l)
                case .map(let keys, let items, let l): return .map(keys, items.map(substitute), l)
                }
            }
            switch expr {
            case .literal: return expr
            case .list(let items, let l): return .list(items.map { substituteEach($0, key: key, value: value) }, l)
            case .map(let entries, let l):
                return .map(entries.map { SpecEntry(key: $0.key, keyLocation: $0.keyLocation, value: substituteEach($0.value, key: key, value: value)) }, l)
            case .template(let t, let l):
                return .template(Template(parts: t.parts.map { part in
                    if case .expression(let e, let at) = part { return .expression(substitute(e), at) }
                    return part
                }), l)
            }
        }
    }
}
