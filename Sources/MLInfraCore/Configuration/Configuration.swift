/// A `data:` entry with the provider that serves its type.
public struct DataSourceDecl: Sendable {
    public var decl: DataDecl
    public var providerName: String
    public var schema: ResourceSchema
    public var address: String { decl.address }
}

/// One resource instance the spec asks for, after `for_each` expansion.
public struct InstanceDecl: Sendable {
    public var address: ResourceAddress
    public var decl: ResourceDecl
    public var each: (key: String, value: Value)?
    public var providerName: String
    public var schema: ResourceSchema
    /// Addresses of the instances this one depends on.
    public var dependencies: [String]
}

/// The spec, expanded and checked against the provider schemas, with its dependency graph.
public struct Configuration: Sendable {
    public var spec: SpecDocument
    public var variables: VariableValues
    public var providers: ProviderSet
    /// Instances in a dependency order (dependencies first).
    public var instances: [InstanceDecl]
    public var byAddress: [String: Int]
    /// Instance addresses by resource (`TYPE.NAME`).
    public var instancesOfResource: [String: [String]]
    public var graph: DAG<String>
    /// Keys the HMACs that state keeps in place of secrets; the workspace sets the state's own key.
    public var stateKey: StateKey = .ephemeral
    /// The spec's known secrets, scrubbed from every diagnostic the planner and applier hand out.
    public var redactor = Redactor()
    /// The spec's `locals:`, those that refer to no resource already evaluated.
    public var locals = Locals()
    /// What `file()` and `env()` read.
    public var functions = FunctionContext()
    /// Where each module instance is called (`module.serving["dev"]` → the call's location).
    public var moduleCalls: [String: SourceLocation] = [:]
    /// The spec's `moved:`, `import:` and `removed:` blocks, evaluated.
    public var stateBlocks = StateBlocks()
    /// The spec's data sources, each with the provider that reads it.
    public var dataSources: [DataSourceDecl] = []

    public func instance(_ address: String) -> InstanceDecl? { byAddress[address].map { instances[$0] } }

    /// Expands `for_each`, validates every instance against its provider's schema, and builds the graph.
    public static func build(
        spec: SpecDocument, variables: VariableValues, providers: ProviderSet
    ) -> (Configuration?, Diagnostics) {
        let functions = FunctionContext(baseDirectory: spec.rootDirectory)
        var diagnostics = Diagnostics()
        let (spec, moduleCalls) = ModuleExpander.flatten(spec, variables: variables, functions: functions, diagnostics: &diagnostics)
        let redactor = Redactor.of(spec: spec, variables: variables, providers: providers, functions: functions)
        guard !diagnostics.hasErrors else { return (nil, redactor.scrub(ModuleCallSites.annotate(diagnostics, moduleCalls))) }
        let locals = LocalsBuilder.build(spec: spec, variables: variables, functions: functions, diagnostics: &diagnostics)
        guard !diagnostics.hasErrors else { return (nil, redactor.scrub(ModuleCallSites.annotate(diagnostics, moduleCalls))) }
        var instances: [InstanceDecl] = []
        var instancesOfResource: [String: [String]] = [:]
        var dataSources: [DataSourceDecl] = []
        for decl in spec.dataSources {
            guard let owner = providers.typeOwners[decl.type], let schema = providers.resourceSchema(decl.type) else {
                diagnostics.append(.error(
                    "unknown data source type `\(decl.type)`",
                    detail: "A data source reads a resource type some configured provider declares: \(providers.allResourceTypes.joined(separator: ", "))."
                        + Suggestions.didYouMean(decl.type, in: providers.allResourceTypes),
                    at: decl.location, address: decl.address))
                continue
            }
            dataSources.append(DataSourceDecl(decl: decl, providerName: owner, schema: schema))
        }
        let dataAddresses = Set(spec.dataSources.map(\.address))
        let resourceDecls = Dictionary(spec.resources.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })

        for decl in spec.resources {
            guard let owner = decl.provider ?? providers.typeOwners[decl.type],
                let configured = providers.providers[owner]
            else {
                diagnostics.append(.error(
                    "unknown resource type `\(decl.type)`",
                    detail: "No configured provider declares it. Known types: \(providers.allResourceTypes.joined(separator: ", "))."
                        + Suggestions.didYouMean(decl.type, in: providers.allResourceTypes),
                    at: decl.location, address: decl.address))
                continue
            }
            guard let schema = configured.schema.resourceTypes[decl.type] else {
                diagnostics.append(.error(
                    "provider `\(owner)` does not serve resource type `\(decl.type)`",
                    detail: "Remove `provider: \(owner)`, or name a provider that declares `\(decl.type)`.",
                    at: decl.location, address: decl.address))
                continue
            }
            var addresses: [String] = []
            if let forEach = decl.forEach {
                var evaluator = Evaluator(variables: variables, locals: locals, functions: functions)
                var forEachDiagnostics = Diagnostics()
                let evaluated = evaluator.evaluate(forEach, diagnostics: &forEachDiagnostics)
                let value = evaluated.value
                if let ref = LocalsBuilder.expand(forEach.references, locals).first(where: { $0.0.resource != nil }) {
                    diagnostics.append(.error(
                        "`for_each` must be known before apply",
                        detail: "It refers to `${\(ref.0)}`; use variables and literal values only.", at: ref.1, address: decl.address))
                    continue
                }
                // Keys become instance addresses, printed in every plan and stored in state.
                if evaluated.sensitive || !evaluated.unmarkedEnvironment.isEmpty {
                    let names = forEach.references.filter { r in
                        if case .variable(let name) = r.0.root { return variables.sensitive.contains(name) }
                        return false
                    }.map { "`\($0.0)`" }
                    diagnostics.append(.error(
                        "`for_each` cannot use a sensitive value",
                        detail: "The value of \(names.isEmpty ? "`for_each`" : names.joined(separator: ", ")) (sensitive) would become part of instance addresses, "
                            + "which plans print and state stores. Iterate over non-sensitive keys and pass the secret as an attribute.",
                        at: forEach.location, address: decl.address))
                    continue
                }
                diagnostics.append(contentsOf: forEachDiagnostics)
                let items = ForEachItems.items(of: value, at: forEach.location, address: decl.address, diagnostics: &diagnostics)
                var seen = Set<String>()
                for (key, item) in items {
                    guard seen.insert(key).inserted else {
                        diagnostics.append(.error("`for_each` has the key `\(key)` twice", at: forEach.location, address: decl.address))
                        continue
                    }
                    let address = ResourceAddress(module: decl.module, type: decl.type, name: decl.name, key: key)
                    addresses.append(address.description)
                    instances.append(InstanceDecl(
                        address: address, decl: decl, each: (key, item), providerName: owner, schema: schema, dependencies: []))
                }
            } else {
                let address = ResourceAddress(module: decl.module, type: decl.type, name: decl.name)
                addresses.append(address.description)
                instances.append(InstanceDecl(address: address, decl: decl, each: nil, providerName: owner, schema: schema, dependencies: []))
            }
            instancesOfResource[decl.address] = addresses
        }

        // Dependencies: references and depends_on, checked against the spec and the target schemas.
        var graph = DAG<String>()
        for i in instances.indices {
            let instance = instances[i]
            let from = instance.address.description
            graph.add(from)
            var dependencies: [String] = []
            func depend(on resource: String, key: String?, at location: SourceLocation, what: String) {
                guard resourceDecls[resource] != nil else {
                    let known = Array(resourceDecls.keys)
                    diagnostics.append(.error(
                        "\(what) `\(resource)` is not a resource of this spec",
                        detail: "Declare it under `resources:`, or fix the name." + Suggestions.didYouMean(resource, in: known),
                        at: location, address: from))
                    return
                }
                let targets: [String]
                if let key {
                    var target = ResourceAddress(parsing: resource)!
                    target.key = key
                    let address = target.description
                    guard instancesOfResource[resource]?.contains(address) == true else {
                        diagnostics.append(.error(
                            "`\(address)` is not an instance of `\(resource)`",
                            detail: "Its instances: \((instancesOfResource[resource] ?? []).joined(separator: ", ")).",
                            at: location, address: from))
                        return
                    }
                    targets = [address]
                } else {
                    targets = instancesOfResource[resource] ?? []
                }
                for target in targets where target != from && !dependencies.contains(target) {
                    dependencies.append(target)
                }
                if targets.contains(from) {
                    diagnostics.append(.error(
                        "`\(from)` refers to itself", detail: "A resource cannot depend on itself.", at: location, address: from))
                }
            }
            for (reference, location) in LocalsBuilder.expand(instance.decl.references, locals) {
                switch reference.root {
                case .variable(let name) where spec.variable(name) == nil:
                    diagnostics.append(.error(
                        "`var.\(name)` is not a declared variable",
                        detail: "Declare it under `variables:`." + Suggestions.didYouMean(name, in: spec.variables.map(\.name)),
                        at: location, address: from))
                case .local(let name) where locals.declarations[name] == nil:
                    diagnostics.append(.error(
                        "`local.\(name)` is not declared",
                        detail: "Declare it under `locals:`." + Suggestions.didYouMean(name, in: locals.declarations.keys),
                        at: location, address: from))
                case .data where !dataAddresses.contains(reference.dataAddress!):
                    diagnostics.append(.error(
                        "`${\(reference)}` refers to nothing: `\(reference.dataAddress!)` is not declared",
                        detail: "Declare it under `data:`." + Suggestions.didYouMean(reference.dataAddress!, in: dataAddresses),
                        at: location, address: from))
                case .eachKey where instance.decl.forEach == nil, .eachValue where instance.decl.forEach == nil:
                    diagnostics.append(.error(
                        "`${\(reference)}` is only available in a resource with `for_each`",
                        detail: "Add `for_each:` to the resource, or use a variable.", at: location, address: from))
                default: break
                }
                if case .moduleOutput(let call, _, _) = reference.root {
                    diagnostics.append(.error(
                        "`${\(reference)}` refers to nothing: `module.\(call)` is not a module call of this spec",
                        detail: "Add it under `modules:`, or fix the name.", at: location, address: from))
                }
                guard case .resource(let type, _, let key) = reference.root, let resource = reference.resource else { continue }
                depend(on: resource, key: key, at: location, what: "`${\(reference)}` refers to nothing:")
                if let attribute = reference.path.first, let targetSchema = providers.resourceSchema(type),
                    attribute != "id", targetSchema.attributes[attribute] == nil
                {
                    diagnostics.append(.error(
                        "`\(type)` has no attribute `\(attribute)`",
                        detail: "Its attributes: \(targetSchema.attributes.keys.sorted().joined(separator: ", "))."
                            + Suggestions.didYouMean(attribute, in: targetSchema.attributes.keys),
                        at: location, address: from))
                }
            }
            for (target, location) in NamedResources.named(by: instance, in: spec) where target != instance.address.resource {
                depend(on: target, key: nil, at: location, what: "the text names nothing:")
            }
            for (target, location) in instance.decl.dependsOn {
                if let module = ResourceAddress.modulePath(parsing: target) {
                    // A module call: every resource of it (of each of its instances, when it has `for_each`), nested modules included.
                    guard moduleCalls.keys.contains(where: { ResourceAddress.isWithin($0, module: module) }) else {
                        diagnostics.append(.error(
                            "`depends_on` names nothing: `\(module)` is not a module call of this spec",
                            detail: "Its module calls: \(moduleCalls.keys.sorted().joined(separator: ", "))."
                                + Suggestions.didYouMean(module, in: moduleCalls.keys),
                            at: location, address: from))
                        continue
                    }
                    for member in instances where member.address.module.map({ ResourceAddress.isWithin($0, module: module) }) == true {
                        depend(on: member.address.resource, key: member.address.key, at: location, what: "`depends_on` names nothing:")
                    }
                    continue
                }
                let parsed = ResourceAddress(parsing: target)
                depend(on: parsed?.resource ?? target, key: parsed?.key, at: location, what: "`depends_on` names nothing:")
            }
            instances[i].dependencies = dependencies
            for d in dependencies { graph.connect(from, dependsOn: d) }
            SchemaCheck.check(instance: instance, providers: providers, diagnostics: &diagnostics)
        }

        if let cycle = graph.cycle() {
            let first = instances.first { $0.address.description == cycle[0] }
            diagnostics.append(.error(
                "dependency cycle: \(cycle.joined(separator: " → "))",
                detail: "Resources cannot depend on each other in a circle; remove one of these references or depends_on entries.",
                at: first?.decl.location))
            return (nil, redactor.scrub(ModuleCallSites.annotate(diagnostics, moduleCalls)))
        }
        guard !diagnostics.hasErrors, let order = graph.topologicalOrder() else {
            return (nil, redactor.scrub(ModuleCallSites.annotate(diagnostics, moduleCalls)))
        }
        let position = Dictionary(uniqueKeysWithValues: instances.enumerated().map { ($1.address.description, $0) })
        let ordered = order.map { instances[position[$0]!] }
        let byAddress = Dictionary(uniqueKeysWithValues: ordered.enumerated().map { ($1.address.description, $0) })
        let stateBlocks = StateBlocks.resolve(
            spec.stateBlocks, evaluator: Evaluator(variables: variables, locals: locals, functions: functions),
            instances: instancesOfResource, byAddress: byAddress, diagnostics: &diagnostics)
        guard !diagnostics.hasErrors else { return (nil, redactor.scrub(ModuleCallSites.annotate(diagnostics, moduleCalls))) }
        return (
            Configuration(
                spec: spec, variables: variables, providers: providers, instances: ordered, byAddress: byAddress,
                instancesOfResource: instancesOfResource, graph: graph,
                redactor: redactor, locals: locals, functions: functions, moduleCalls: moduleCalls, stateBlocks: stateBlocks,
                dataSources: dataSources),
            redactor.scrub(ModuleCallSites.annotate(diagnostics, moduleCalls))
        )
    }
}

/// Diagnostics about something inside a module also name where the module is called.
public enum ModuleCallSites {
    public static func annotate(_ diagnostics: Diagnostics, _ calls: [String: SourceLocation]) -> Diagnostics {
        guard !calls.isEmpty else { return diagnostics }
        return Diagnostics(diagnostics.items.map { item in
            guard let address = item.address,
                let call = calls.keys.filter({ address.hasPrefix($0 + ".") }).max(by: { $0.count < $1.count }),
                let site = calls[call]
            else { return item }
            var d = item
            d.detail += (d.detail.isEmpty ? "" : "\n") + "In `\(call)`, called at \(site)."
            return d
        })
    }
}

/// Checks and evaluates the spec's `locals:`.
enum LocalsBuilder {
    /// The locals, with those that refer to no resource evaluated once, here. A local that refers to
    /// an undeclared local, or takes part in a cycle, is a diagnostic naming the whole cycle.
    static func build(spec: SpecDocument, variables: VariableValues, functions: FunctionContext, diagnostics: inout Diagnostics) -> Locals {
        var locals = Locals(declared: spec.locals)
        let declarations = locals.declarations
        var graph = DAG<String>()
        for local in spec.locals {
            graph.add(local.name)
            for (reference, location) in local.value.references {
                switch reference.root {
                case .local(let name) where declarations[name] == nil:
                    diagnostics.append(.error(
                        "`local.\(name)` is not declared",
                        detail: "Declare it under `locals:`." + Suggestions.didYouMean(name, in: declarations.keys), at: location))
                case .local(let name):
                    graph.connect(local.name, dependsOn: name)
                case .eachKey, .eachValue:
                    diagnostics.append(.error(
                        "`${\(reference)}` cannot be used in a local", detail: "A local is evaluated once, outside any `for_each`.", at: location))
                default: break
                }
            }
        }
        if let cycle = graph.cycle() {
            let first = spec.locals.first { $0.name == cycle[0] }
            diagnostics.append(.error(
                "the locals refer to each other in a circle: \(cycle.map { "local.\($0)" }.joined(separator: " → "))",
                detail: "Break the cycle: one of these locals must be written without the others.", at: first?.location))
            return locals
        }
        for name in graph.topologicalOrder() ?? [] {
            guard let declaration = declarations[name],
                // What depends on resources or data sources is evaluated where it is used, once they are known.
                expand(declaration.references, locals).allSatisfy({ $0.0.resource == nil && $0.0.dataAddress == nil })
            else { continue }
            var evaluator = Evaluator(variables: variables, locals: locals, functions: functions)
            var value = evaluator.evaluate(declaration, diagnostics: &diagnostics)
            if locals.sensitive.contains(name) {
                value.sensitivePaths = [""]
                value.unmarkedEnvironment = []
            }
            locals.values[name] = value
        }
        return locals
    }

    /// `references` with those of the locals they read added, transitively; each added one carries
    /// the location of the `local.NAME` that brought it in.
    static func expand(_ references: [(Reference, SourceLocation)], _ locals: Locals) -> [(Reference, SourceLocation)] {
        var out: [(Reference, SourceLocation)] = []
        var visited = Set<String>()
        func visit(_ refs: [(Reference, SourceLocation)], at useSite: SourceLocation?) {
            for (reference, location) in refs {
                out.append((reference, useSite ?? location))
                if case .local(let name) = reference.root, visited.insert(name).inserted, let declaration = locals.declarations[name] {
                    visit(declaration.references, at: useSite ?? location)
                }
            }
        }
        visit(references, at: nil)
        return out
    }
}

/// Resources an instance names in its text (`namesResource` in the schema): a feature service's
/// `stats:total_spend` depends on the feature view named `stats`.
enum NamedResources {
    static func named(by instance: InstanceDecl, in spec: SpecDocument) -> [(String, SourceLocation)] {
        var out: [(String, SourceLocation)] = []
        for entry in instance.decl.attributes {
            guard let naming = instance.schema.attributes[entry.key]?.namesResource else { continue }
            let texts: [(String, SourceLocation)]
            switch entry.value {
            case .literal(.string(let text), let l): texts = [(text, l)]
            case .list(let items, _):
                texts = items.compactMap { if case .literal(.string(let t), let l) = $0 { (t, l) } else { nil } }
            default: texts = []
            }
            for (text, location) in texts {
                let name = naming.name(in: text)
                for decl in spec.resources where decl.type == naming.type && objectName(decl) == name {
                    if !out.contains(where: { $0.0 == decl.address }) { out.append((decl.address, location)) }
                }
            }
        }
        return out
    }

    /// The `name` a resource gives itself, else its resource name.
    static func objectName(_ decl: ResourceDecl) -> String {
        if case .literal(.string(let name), _)? = decl.attributes.first(where: { $0.key == "name" })?.value { return name }
        return decl.name
    }
}

/// Static checks of an instance's attributes against its schema: names, types, required, computed.
enum SchemaCheck {
    static func check(instance: InstanceDecl, providers: ProviderSet, diagnostics: inout Diagnostics) {
        let address = instance.address.description
        let schema = instance.schema
        var given = Set<String>()
        for entry in instance.decl.attributes {
            given.insert(entry.key)
            guard let attribute = schema.attributes[entry.key] else {
                let settable = schema.attributes.filter(\.value.settable).keys
                diagnostics.append(.error(
                    "`\(instance.decl.type)` has no attribute `\(entry.key)`",
                    detail: "Its attributes: \(settable.sorted().joined(separator: ", "))."
                        + Suggestions.didYouMean(entry.key, in: Array(schema.attributes.keys) + Array(MetaArguments.names)),
                    at: entry.keyLocation, address: address))
                continue
            }
            if !attribute.settable {
                diagnostics.append(.error(
                    "`\(entry.key)` of `\(instance.decl.type)` is set by the provider, not the spec",
                    detail: "Remove it from the spec; read it with `${\(instance.decl.type).\(instance.decl.name).\(entry.key)}`.",
                    at: entry.keyLocation, address: address))
                continue
            }
            checkType(entry.value, attribute.type, path: entry.key, address: address, diagnostics: &diagnostics)
            if let expected = attribute.referenceType, case .template(let t, _) = entry.value,
                let (reference, l) = t.soleReference, case .resource(let type, _, _) = reference.root,
                reference.path.isEmpty, type != expected
            {
                diagnostics.append(.error(
                    "`\(entry.key)` must refer to a `\(expected)`, not a `\(type)`",
                    detail: "Write `\(entry.key): ${\(expected).NAME}`.", at: l, address: address))
            }
        }
        for (name, attribute) in schema.attributes.sorted(by: { $0.key < $1.key })
        where attribute.required && !given.contains(name) {
            diagnostics.append(.error(
                "`\(instance.decl.type)` needs the attribute `\(name)`",
                detail: attribute.description.isEmpty ? "Add `\(name): …`." : "Add `\(name):` — \(attribute.description)",
                at: instance.decl.location, address: address))
        }
    }

    static func checkType(_ expr: SpecExpr, _ type: AttributeType, path: String, address: String, diagnostics: inout Diagnostics) {
        func mismatch(_ got: String, _ location: SourceLocation) {
            diagnostics.append(.error(
                "`\(path)` must be \(article(type.name)), not \(got)",
                detail: remedy(for: type), at: location, address: address))
        }
        switch expr {
        case .template(let template, let location):
            // A lone expression can be of any type; text with expressions in it is a string.
            if template.soleExpression == nil {
                switch type {
                case .string, .any, .duration: break
                default: mismatch("a string", location)
                }
            }
        case .literal(let value, let location):
            switch (type, value) {
            case (.any, _), (_, .null): break
            case (.string, .string): break
            case (.string, .int), (.string, .number), (.string, .bool):
                break  // YAML's plain scalars like `3` or `true` are fine as text
            case (.int, .int): break
            case (.number, .int), (.number, .number): break
            case (.bool, .bool): break
            case (.duration, .string(let s)):
                if DurationText.seconds(s) == nil {
                    diagnostics.append(.error(
                        "`\(path)` is not a duration: \(Value.quote(s))",
                        detail: "Write a number with a unit: 500ms, 30s, 5m, 2h, 90d.", at: location, address: address))
                }
            default: mismatch("\(article(value.kindName)) (\(value.rendered))", location)
            }
        case .list(let items, let location):
            switch type {
            case .any: break
            case .list(let element):
                for (i, item) in items.enumerated() {
                    checkType(item, element, path: "\(path)[\(i)]", address: address, diagnostics: &diagnostics)
                }
            default: mismatch("a list", location)
            }
        case .map(let entries, let location):
            switch type {
            case .any: break
            case .map(let element):
                for entry in entries {
                    checkType(entry.value, element, path: "\(path).\(entry.key)", address: address, diagnostics: &diagnostics)
                }
            case .object(let attributes):
                for entry in entries {
                    guard let attribute = attributes[entry.key] else {
                        diagnostics.append(.error(
                            "`\(path)` has no setting `\(entry.key)`",
                            detail: "Its settings: \(attributes.keys.sorted().joined(separator: ", "))."
                                + Suggestions.didYouMean(entry.key, in: attributes.keys),
                            at: entry.keyLocation, address: address))
                        continue
                    }
                    checkType(entry.value, attribute.type, path: "\(path).\(entry.key)", address: address, diagnostics: &diagnostics)
                }
                let given = Set(entries.map(\.key))
                for (name, attribute) in attributes.sorted(by: { $0.key < $1.key }) where attribute.required && !given.contains(name) {
                    diagnostics.append(.error(
                        "`\(path)` needs the setting `\(name)`", detail: attribute.description, at: location, address: address))
                }
            default: mismatch("a mapping", location)
            }
        }
    }

    static func article(_ name: String) -> String {
        let vowel = name.first.map { "aeiou".contains($0) } ?? false
        return (vowel ? "an " : "a ") + name
    }

    static func remedy(for type: AttributeType) -> String {
        switch type {
        case .string: "Write text, e.g. `name: fraud`."
        case .int: "Write a whole number, e.g. `4`."
        case .number: "Write a number, e.g. `0.2`."
        case .bool: "Write `true` or `false`."
        case .duration: "Write a duration such as `30s`, `5m` or `90d`."
        case .list: "Write a list, e.g. `[a, b]`."
        case .map: "Write a mapping, e.g. `{ key: value }`."
        case .object(let attributes): "Write a mapping with \(attributes.keys.sorted().joined(separator: ", "))."
        case .any: ""
        }
    }
}
