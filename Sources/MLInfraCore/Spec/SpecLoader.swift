import Foundation

/// Reads a spec (one YAML file or a directory of them) into a `SpecDocument`,
/// collecting every problem it finds with its location.
public enum SpecLoader {
    public static let supportedFormatVersion = 1
    static let topLevelKeys = ["mlinfra", "project", "backend", "variables", "locals", "modules", "providers", "resources", "outputs", "data", "moved", "import", "removed"]

    public static func load(path: String) -> (SpecDocument?, Diagnostics) {
        var loaded = LoadedModules()
        return load(path: path, module: nil, depth: 0, loaded: &loaded)
    }

    /// Module directories read so far in one load, by path and depth: a module called many times
    /// (100 calls of `./modules/serving`, or `for_each` over one call) is read and parsed once.
    typealias LoadedModules = [String: (SpecDocument?, Diagnostics)]

    /// Loads a spec, or, with `module` (the call), a module's directory; then the modules it calls.
    static func load(path: String, module: ModuleCall?, depth: Int, loaded: inout LoadedModules) -> (SpecDocument?, Diagnostics) {
        var diagnostics = Diagnostics()
        let (files, listing) = SpecFiles.list(path)
        diagnostics.append(contentsOf: listing)
        guard !listing.hasErrors else { return (nil, diagnostics) }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let root = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
        var roots: [(String, YAMLNode)] = []
        for file in files {
            let (node, fileDiagnostics) = YAMLLoader.load(path: file)
            diagnostics.append(contentsOf: fileDiagnostics)
            if let node { roots.append((file, node)) }
        }
        guard !diagnostics.hasErrors else { return (nil, diagnostics) }
        var document = build(
            roots: roots, files: files,
            rootDirectory: URL(fileURLWithPath: root.isEmpty ? "." : root).standardizedFileURL.path,
            isModule: module != nil, diagnostics: &diagnostics)
        if document != nil { loadModules(of: &document!, depth: depth, diagnostics: &diagnostics, loaded: &loaded) }
        return (diagnostics.hasErrors ? nil : document, diagnostics)
    }

    /// Reads the directory of each module call of `document`, relative to the document's directory.
    static func loadModules(of document: inout SpecDocument, depth: Int, diagnostics: inout Diagnostics, loaded: inout LoadedModules) {
        for i in document.modules.indices {
            let call = document.modules[i]
            guard depth < 16 else {
                diagnostics.append(.error(
                    "modules are nested more than 16 deep at `module.\(call.name)`",
                    detail: "A module probably calls itself, directly or through another; check the `source:` of the calls.", at: call.location))
                return
            }
            let path = call.source.hasPrefix("/") ? call.source : (document.rootDirectory as NSString).appendingPathComponent(call.source)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                diagnostics.append(.error(
                    "the source of module `\(call.name)` is not a directory: \(call.source)",
                    detail: "`source:` names a directory of spec files, relative to this spec (\(document.rootDirectory)).", at: call.location))
                continue
            }
            let key = "\(depth + 1) " + URL(fileURLWithPath: path).standardizedFileURL.path
            let (module, found) = loaded[key] ?? load(path: path, module: call, depth: depth + 1, loaded: &loaded)
            loaded[key] = (module, found)
            diagnostics.append(contentsOf: found.items.map { item in
                var d = item
                if item.severity == .error, !item.detail.contains("called at") {
                    d.detail += (d.detail.isEmpty ? "" : "\n") + "In module `\(call.name)`, called at \(call.location)."
                }
                return d
            })
            document.modules[i].document = module
        }
    }

    /// Builds a document from YAML sources given as text (for tests and tools).
    public static func load(sources: [(file: String, text: String)], rootDirectory: String = ".") -> (SpecDocument?, Diagnostics) {
        var diagnostics = Diagnostics()
        var roots: [(String, YAMLNode)] = []
        for source in sources {
            let (node, fileDiagnostics) = YAMLLoader.load(Array(source.text.utf8), file: source.file)
            diagnostics.append(contentsOf: fileDiagnostics)
            if let node { roots.append((source.file, node)) }
        }
        guard !diagnostics.hasErrors else { return (nil, diagnostics) }
        var document = build(
            roots: roots, files: sources.map(\.file), rootDirectory: rootDirectory, isModule: false, diagnostics: &diagnostics)
        var loaded = LoadedModules()
        if document != nil { loadModules(of: &document!, depth: 0, diagnostics: &diagnostics, loaded: &loaded) }
        return (diagnostics.hasErrors ? nil : document, diagnostics)
    }

    static func build(
        roots: [(String, YAMLNode)], files: [String], rootDirectory: String, isModule: Bool, diagnostics: inout Diagnostics
    ) -> SpecDocument? {
        var builder = Builder(diagnostics: diagnostics)
        builder.isModule = isModule
        for (file, root) in roots { builder.add(file: file, root: root) }
        let document = builder.finish(files: files, rootDirectory: rootDirectory)
        diagnostics = builder.diagnostics
        return document
    }
}

/// Turns YAML nodes into spec expressions.
enum SpecExprReader {
    static func read(_ node: YAMLNode, diagnostics: inout Diagnostics) -> SpecExpr? {
        switch node.content {
        case .scalar(let text, let style):
            if SpecText.holdsExpression(text) {
                let offset = (style == .doubleQuoted || style == .singleQuoted) ? 1 : 0
                guard let template = TemplateParser.parse(
                    text, at: node.location, columnOffset: offset, diagnostics: &diagnostics)
                else { return nil }
                if !template.hasExpressions {
                    return .literal(.string(template.parts.map { if case .text(let t) = $0 { t } else { "" } }.joined()), node.location)
                }
                return .template(template, node.location)
            }
            return .literal(node.scalarValue ?? .string(text), node.location)
        case .sequence(let items):
            var out: [SpecExpr] = []
            var ok = true
            for item in items {
                if let e = read(item, diagnostics: &diagnostics) { out.append(e) } else { ok = false }
            }
            return ok ? .list(out, node.location) : nil
        case .mapping(let pairs):
            var out: [SpecEntry] = []
            var ok = true
            for pair in pairs {
                guard case .scalar(let key, _) = pair.key.content else {
                    diagnostics.append(.error(
                        "a mapping key must be a plain name", detail: "Use a string key such as `name:`.",
                        at: pair.key.location))
                    ok = false
                    continue
                }
                if let e = read(pair.value, diagnostics: &diagnostics) {
                    out.append(SpecEntry(key: key, keyLocation: pair.key.location, value: e))
                } else {
                    ok = false
                }
            }
            return ok ? .map(out, node.location) : nil
        }
    }
}

private struct Builder {
    var diagnostics: Diagnostics
    var formatVersion: (Int, SourceLocation)?
    var project: (String, SourceLocation)?
    var backend: BackendDecl?
    var variables: [VariableDecl] = []
    var providers: [ProviderDecl] = []
    var resources: [ResourceDecl] = []
    var resourceIndex: [String: Int] = [:]
    var outputs: [OutputDecl] = []
    var locals: [LocalDecl] = []
    var modules: [ModuleCall] = []
    var stateBlocks: [StateBlock] = []
    var dataSources: [DataDecl] = []
    var sawAnyFile = false
    /// A module's directory: no `mlinfra:` or `project:` needed, and no `backend:` or `providers:` allowed.
    var isModule = false

    init(diagnostics: Diagnostics) { self.diagnostics = diagnostics }

    mutating func add(file: String, root: YAMLNode) {
        sawAnyFile = true
        guard case .mapping(let pairs) = root.content else {
            error("a spec file must be a mapping of top-level keys",
                  "Start the file with `mlinfra: 1`, `project: NAME` and `resources:`.", root.location)
            return
        }
        for pair in pairs {
            guard case .scalar(let key, _) = pair.key.content else {
                error("a top-level key must be a name", "Top-level keys are \(list(SpecLoader.topLevelKeys)).", pair.key.location)
                continue
            }
            let value = pair.value
            if isModule, key == "backend" || key == "providers" || key == "project" {
                error("a module cannot set `\(key):`", "The root spec sets it, for the modules it calls too; remove it from the module.", pair.key.location)
                continue
            }
            switch key {
            case "mlinfra": readVersion(value)
            case "project": readProject(value)
            case "backend": readBackend(value)
            case "variables": forEachEntry(value, what: "variables") { $0.readVariable($1, $2, $3) }
            case "providers": forEachEntry(value, what: "providers") { $0.readProvider($1, $2, $3) }
            case "resources": forEachEntry(value, what: "resources") { $0.readResource($1, $2, $3) }
            case "outputs": forEachEntry(value, what: "outputs") { $0.readOutput($1, $2, $3) }
            case "locals": forEachEntry(value, what: "locals") { $0.readLocal($1, $2, $3) }
            case "modules": forEachEntry(value, what: "modules") { $0.readModuleCall($1, $2, $3) }
            case "data": forEachEntry(value, what: "data") { $0.readData($1, $2, $3) }
            case "moved": readStateBlocks(.moved, value)
            case "import": readStateBlocks(.import, value)
            case "removed": readStateBlocks(.removed, value)
            default:
                error("unknown top-level key `\(key)`",
                      "Top-level keys are \(list(SpecLoader.topLevelKeys))." + Suggestions.didYouMean(key, in: SpecLoader.topLevelKeys),
                      pair.key.location)
            }
        }
    }

    mutating func finish(files: [String], rootDirectory: String) -> SpecDocument? {
        guard sawAnyFile else {
            error("the spec is empty", "Write at least `mlinfra: 1` and `project: NAME`.", files.first.map { SourceLocation(file: $0, line: 1, column: 1) })
            return nil
        }
        let firstFile = files.first ?? "spec"
        if isModule {
            var document = SpecDocument(
                rootDirectory: rootDirectory, files: files, formatVersion: formatVersion?.0 ?? SpecLoader.supportedFormatVersion,
                project: "module", projectLocation: SourceLocation(file: firstFile, line: 1, column: 1), backend: nil, variables: variables,
                providers: [], resources: resources, outputs: outputs)
            document.locals = locals
            document.modules = modules
            document.stateBlocks = stateBlocks
            document.dataSources = dataSources
            return document
        }
        if formatVersion == nil {
            error("the spec has no `mlinfra:` version", "Add `mlinfra: 1` at the top of the spec.", SourceLocation(file: firstFile, line: 1, column: 1))
        }
        if project == nil {
            error("the spec has no `project:`", "Add `project: NAME`; the project names the state.", SourceLocation(file: firstFile, line: 1, column: 1))
        }
        guard let formatVersion, let project else { return nil }
        var document = SpecDocument(
            rootDirectory: rootDirectory, files: files, formatVersion: formatVersion.0, project: project.0,
            projectLocation: project.1, backend: backend, variables: variables, providers: providers,
            resources: resources, outputs: outputs)
        document.locals = locals
        document.modules = modules
        document.stateBlocks = stateBlocks
        document.dataSources = dataSources
        return document
    }

    // MARK: sections

    mutating func readVersion(_ node: YAMLNode) {
        guard case .int(let v)? = node.scalarValue else {
            error("`mlinfra:` must be the spec format version, a whole number", "Write `mlinfra: 1`.", node.location)
            return
        }
        if let previous = formatVersion, previous.0 != v {
            error("`mlinfra: \(v)` disagrees with `mlinfra: \(previous.0)` at \(previous.1)", "All files of a spec use one format version.", node.location)
        }
        guard v == SpecLoader.supportedFormatVersion else {
            error("spec format version \(v) is not supported",
                  "This mlinfra reads `mlinfra: \(SpecLoader.supportedFormatVersion)`. Upgrade mlinfra for a newer format.", node.location)
            return
        }
        formatVersion = (v, node.location)
    }

    mutating func readProject(_ node: YAMLNode) {
        guard case .string(let name)? = node.scalarValue, ResourceAddress.isIdentifier(Substring(name)) else {
            error("`project:` must be a name of letters, digits, `_` and `-`", "For example `project: fraud-detection`.", node.location)
            return
        }
        if let previous = project, previous.0 != name {
            error("`project: \(name)` disagrees with `project: \(previous.0)` at \(previous.1)", "All files of a spec name one project.", node.location)
            return
        }
        project = (name, node.location)
    }

    mutating func readBackend(_ node: YAMLNode) {
        if let backend {
            error("`backend:` is defined twice", "It is already defined at \(backend.location); keep one.", node.location)
            return
        }
        guard let expr = read(node), case .map(let entries, _) = expr else {
            error("`backend:` must be a mapping", "For example `backend: { local: { path: state/app.mlstate.json } }`.", node.location)
            return
        }
        guard entries.count == 1, let entry = entries.first else {
            error(
                "`backend:` must name exactly one backend",
                "Use `backend: { local: { path: … } }` or `backend: { postgres: { url: …, schema: mlinfra } }`.", node.location)
            return
        }
        let kinds = ["local", "postgres"]
        guard let kind = BackendDecl.Kind(rawValue: entry.key) else {
            error(
                "unknown backend `\(entry.key)`", "The backends are `local` and `postgres`." + Suggestions.didYouMean(entry.key, in: kinds),
                entry.keyLocation)
            return
        }
        let known = kind == .local ? ["path"] : ["url", "schema", "retain_versions"]
        var decl = BackendDecl(kind: kind, location: node.location)
        if case .map(let settings, _) = entry.value {
            for setting in settings {
                switch (kind, setting.key) {
                case (.local, "path"): decl.path = setting.value
                case (.postgres, "url"): decl.url = setting.value
                case (.postgres, "schema"): decl.schema = setting.value
                case (.postgres, "retain_versions"): decl.retainVersions = setting.value
                default:
                    error(
                        "unknown setting `\(setting.key)` for the \(kind.rawValue) backend",
                        "The \(kind.rawValue) backend takes \(known.map { "`\($0)`" }.joined(separator: ", "))."
                            + Suggestions.didYouMean(setting.key, in: known), setting.keyLocation)
                }
            }
        } else if case .literal(.null, _) = entry.value {
        } else {
            error(
                "`\(kind.rawValue):` must be a mapping",
                kind == .local ? "Write `local: { path: state/app.mlstate.json }`." : "Write `postgres: { url: ${var.pg_url}, schema: mlinfra }`.",
                entry.value.location)
        }
        backend = decl
    }

    /// Whether `name` can name a declaration of `kind` (a variable, a local, a module); says why not.
    mutating func acceptsName(_ name: String, of kind: String, _ location: SourceLocation) -> Bool {
        guard ResourceAddress.isIdentifier(Substring(name)) else {
            error("`\(name)` is not a valid \(kind) name", "Use letters, digits and `_`, starting with a letter.", location)
            return false
        }
        return true
    }

    /// Whether a `kind` declaration named `name` is new; says where the earlier one is if not.
    mutating func isFirstDefinition(of kind: String, _ name: String, previous: SourceLocation?, _ location: SourceLocation) -> Bool {
        guard let previous else { return true }
        error("\(kind) `\(name)` is defined twice", "It is already defined at \(previous).", location)
        return false
    }

    mutating func readVariable(_ name: String, _ keyLocation: SourceLocation, _ node: YAMLNode) {
        guard acceptsName(name, of: "variable", keyLocation),
            isFirstDefinition(of: "variable", name, previous: variables.first(where: { $0.name == name })?.location, keyLocation)
        else { return }
        var decl = VariableDecl(name: name, type: .string, defaultValue: nil, allowed: nil, sensitive: false, description: "", location: keyLocation)
        var typeSet = false
        if case .mapping(let pairs) = node.content {
            for pair in pairs {
                guard case .scalar(let key, _) = pair.key.content else { continue }
                let v = pair.value
                switch key {
                case "type":
                    guard case .string(let t)? = v.scalarValue, let type = VariableType(rawValue: t) else {
                        error("unknown variable type", "Types are \(list(VariableType.allCases.map(\.rawValue))).", v.location)
                        continue
                    }
                    decl.type = type
                    typeSet = true
                case "default":
                    decl.defaultValue = literalValue(v, what: "a variable default")
                case "allowed":
                    if case .list(let values)? = literalValue(v, what: "`allowed`") { decl.allowed = values } else {
                        error("`allowed` must be a list of values", "For example `allowed: [dev, staging, prod]`.", v.location)
                    }
                case "sensitive":
                    guard case .bool(let b)? = v.scalarValue else {
                        error("`sensitive` must be true or false", "", v.location)
                        continue
                    }
                    decl.sensitive = b
                case "description":
                    decl.description = v.scalarValue?.stringValue ?? ""
                default:
                    error("unknown variable setting `\(key)`",
                          "Variables take type, default, allowed, sensitive and description." + Suggestions.didYouMean(key, in: ["type", "default", "allowed", "sensitive", "description"]),
                          pair.key.location)
                }
            }
        } else if let value = literalValue(node, what: "a variable") {
            // `name: value` is shorthand for a default.
            decl.defaultValue = value
        }
        if !typeSet, let d = decl.defaultValue { decl.type = VariableValues.inferType(d) }
        if let d = decl.defaultValue, let problem = VariableValues.check(d, against: decl) {
            error("the default of variable `\(name)` \(problem)", "Change the default or the variable's type/allowed values.", keyLocation)
        }
        variables.append(decl)
    }

    mutating func readProvider(_ name: String, _ keyLocation: SourceLocation, _ node: YAMLNode) {
        if let previous = providers.first(where: { $0.name == name }) {
            error("provider `\(name)` is configured twice", "It is already configured at \(previous.location).", keyLocation)
            return
        }
        guard let expr = read(node) else { return }
        var decl = ProviderDecl(name: name, command: nil, args: [], sha256: nil, config: [], location: keyLocation)
        switch expr {
        case .literal(.null, _): break
        case .map(let entries, _):
            let isPlugin = entries.contains { $0.key == "command" }
            if isPlugin {
                for entry in entries {
                    switch entry.key {
                    case "command":
                        guard case .literal(.string(let c), _) = entry.value else {
                            error("`command` must be a path", "For example `command: ./providers/bin/acme`.", entry.value.location)
                            continue
                        }
                        decl.command = c
                    case "args":
                        guard case .list(let items, _) = entry.value else {
                            error("`args` must be a list of strings", "", entry.value.location)
                            continue
                        }
                        decl.args = items.compactMap { if case .literal(let v, _) = $0 { v.interpolated } else { nil } }
                    case "sha256":
                        guard case .literal(.string(let h), _) = entry.value,
                            h.count == 64, h.allSatisfy({ $0.isHexDigit })
                        else {
                            error("`sha256` must be 64 hex digits", "Compute it with `sha256sum PLUGIN`.", entry.value.location)
                            continue
                        }
                        decl.sha256 = h.lowercased()
                    case "config":
                        guard case .map(let config, _) = entry.value else {
                            error("`config` must be a mapping", "", entry.value.location)
                            continue
                        }
                        decl.config = config
                    case "env":
                        guard case .map(let variables, _) = entry.value else {
                            error("`env` must be a mapping of names to text", "For example `env: { ACME_LOG: debug }`.", entry.value.location)
                            continue
                        }
                        for variable in variables {
                            guard case .literal(let v, _) = variable.value, let text = v.interpolated else {
                                error("`env.\(variable.key)` must be text", "Environment values are text, numbers or booleans.", variable.value.location)
                                continue
                            }
                            decl.env[variable.key] = text
                        }
                    case "timeout":
                        guard case .literal(.string(let text), _) = entry.value, let seconds = DurationText.seconds(text), seconds > 0 else {
                            error("`timeout` must be a duration", "Write a number with a unit, e.g. `timeout: 10m`.", entry.value.location)
                            continue
                        }
                        decl.timeout = text
                    default:
                        let keys = ["command", "args", "env", "sha256", "timeout", "config"]
                        error("unknown setting `\(entry.key)` for an external provider",
                              "External providers take \(keys.joined(separator: ", ")); the provider's own settings go under `config:`."
                                + Suggestions.didYouMean(entry.key, in: keys),
                              entry.keyLocation)
                    }
                }
                if decl.sha256 == nil {
                    error("external provider `\(name)` has no `sha256`",
                          "mlinfra checks a plugin's hash before running it. Add `sha256: \"…\"` (from `sha256sum \(decl.command ?? "PLUGIN")`).", keyLocation)
                }
            } else {
                decl.config = entries
            }
        default:
            error("provider `\(name)` must be a mapping of settings", "For example `local: { data_dir: .mlinfra }`.", expr.location)
            return
        }
        providers.append(decl)
    }

    mutating func readResource(_ addressText: String, _ keyLocation: SourceLocation, _ node: YAMLNode) {
        guard let address = ResourceAddress(parsing: addressText), address.key == nil else {
            error("`\(addressText)` is not a resource address",
                  "Resources are named TYPE.NAME, such as `model.fraud_detector` (letters, digits, `_` and `-`).", keyLocation)
            return
        }
        if let previous = resourceIndex[addressText].map({ resources[$0] }) {
            error("resource `\(addressText)` is defined twice", "It is already defined at \(previous.location); rename one of them.", keyLocation)
            return
        }
        guard let expr = read(node) else { return }
        var decl = ResourceDecl(
            type: address.type, name: address.name, location: keyLocation, attributes: [], dependsOn: [],
            forEach: nil, lifecycle: Lifecycle(), provider: nil)
        switch expr {
        case .literal(.null, _): break
        case .map(let entries, _):
            for entry in entries {
                switch entry.key {
                case "depends_on":
                    guard case .list(let items, _) = entry.value else {
                        error("`depends_on` must be a list of resource addresses", "For example `depends_on: [model.fraud]`.", entry.value.location)
                        continue
                    }
                    for item in items {
                        switch item {
                        case .literal(.string(let a), let l) where ResourceAddress(parsing: a) != nil || ResourceAddress.modulePath(parsing: a) != nil:
                            decl.dependsOn.append((a, l))
                        case .template(let t, let l):
                            if let (r, _) = t.soleReference, r.path.isEmpty, let target = r.resource {
                                decl.dependsOn.append((target, l))
                            } else {
                                error("`depends_on` entries must be resource addresses or module calls", "Write `model.fraud`, `${model.fraud}` or `module.serving`.", l)
                            }
                        default:
                            error("`depends_on` entries must be resource addresses or module calls", "Write `model.fraud`, `${model.fraud}` or `module.serving`.", item.location)
                        }
                    }
                case "for_each":
                    switch entry.value {
                    case .list, .map, .template: decl.forEach = entry.value
                    default:
                        error("`for_each` must be a list or a mapping", "For example `for_each: [a, b]` or `for_each: { a: 1 }`.", entry.value.location)
                    }
                case "lifecycle":
                    decl.lifecycle = readLifecycle(entry.value)
                case "provider":
                    guard case .literal(.string(let p), _) = entry.value else {
                        error("`provider` must name a configured provider", "", entry.value.location)
                        continue
                    }
                    decl.provider = p
                default:
                    decl.attributes.append(entry)
                }
            }
        default:
            error("resource `\(addressText)` must be a mapping of attributes", "Write `\(addressText): { … }` or `\(addressText): {}`.", expr.location)
            return
        }
        resourceIndex[decl.address] = resources.count
        resources.append(decl)
    }

    mutating func readLifecycle(_ expr: SpecExpr) -> Lifecycle {
        var lifecycle = Lifecycle()
        guard case .map(let entries, _) = expr else {
            error("`lifecycle` must be a mapping", "It takes prevent_destroy, create_before_destroy and ignore_changes.", expr.location)
            return lifecycle
        }
        let keys = ["prevent_destroy", "create_before_destroy", "ignore_changes"]
        for entry in entries {
            switch entry.key {
            case "prevent_destroy", "create_before_destroy":
                guard case .literal(.bool(let b), _) = entry.value else {
                    error("`\(entry.key)` must be true or false", "", entry.value.location)
                    continue
                }
                if entry.key == "prevent_destroy" { lifecycle.preventDestroy = b } else { lifecycle.createBeforeDestroy = b }
            case "ignore_changes":
                guard case .list(let items, _) = entry.value else {
                    error("`ignore_changes` must be a list of attribute names", "For example `ignore_changes: [tags]`.", entry.value.location)
                    continue
                }
                for item in items {
                    if case .literal(.string(let a), _) = item { lifecycle.ignoreChanges.append(a) } else {
                        error("`ignore_changes` entries must be attribute names", "", item.location)
                    }
                }
            default:
                error("unknown lifecycle setting `\(entry.key)`",
                      "Lifecycle takes \(list(keys))." + Suggestions.didYouMean(entry.key, in: keys), entry.keyLocation)
            }
        }
        return lifecycle
    }

    mutating func readOutput(_ name: String, _ keyLocation: SourceLocation, _ node: YAMLNode) {
        guard isFirstDefinition(of: "output", name, previous: outputs.first(where: { $0.name == name })?.location, keyLocation),
            let expr = read(node)
        else { return }
        var decl = OutputDecl(name: name, value: expr, sensitive: false, description: "", location: keyLocation)
        // Long form: { value: …, sensitive: true, description: … }.
        if case .map(let entries, _) = expr, entries.contains(where: { $0.key == "value" }),
            entries.allSatisfy({ ["value", "sensitive", "description"].contains($0.key) })
        {
            for entry in entries {
                switch entry.key {
                case "value": decl.value = entry.value
                case "sensitive": if case .literal(.bool(let b), _) = entry.value { decl.sensitive = b }
                default: if case .literal(.string(let d), _) = entry.value { decl.description = d }
                }
            }
        }
        outputs.append(decl)
    }

    mutating func readLocal(_ name: String, _ keyLocation: SourceLocation, _ node: YAMLNode) {
        guard acceptsName(name, of: "local", keyLocation),
            isFirstDefinition(of: "local", name, previous: locals.first(where: { $0.name == name })?.location, keyLocation),
            let expr = read(node)
        else { return }
        locals.append(LocalDecl(name: name, value: expr, location: keyLocation))
    }

    mutating func readData(_ addressText: String, _ keyLocation: SourceLocation, _ node: YAMLNode) {
        guard let address = ResourceAddress(parsing: addressText), address.key == nil, address.module == nil else {
            error("`\(addressText)` is not a data source address",
                  "Data sources are named TYPE.NAME under `data:`, such as `model_alias.prod`, and read as `${data.model_alias.prod.version}`.", keyLocation)
            return
        }
        if let previous = dataSources.first(where: { $0.type == address.type && $0.name == address.name }) {
            error("data source `\(addressText)` is defined twice", "It is already defined at \(previous.location).", keyLocation)
            return
        }
        guard let expr = read(node) else { return }
        var query: [SpecEntry] = []
        switch expr {
        case .literal(.null, _): break
        case .map(let entries, _): query = entries
        default:
            error("data source `\(addressText)` must be a mapping of what to look up", "For example `model_alias.prod: { model: fraud, alias: production }`.", expr.location)
            return
        }
        dataSources.append(DataDecl(type: address.type, name: address.name, location: keyLocation, query: query))
    }

    /// `moved:` / `import:` / `removed:`: a list of mappings.
    mutating func readStateBlocks(_ kind: StateBlock.Kind, _ node: YAMLNode) {
        if case .scalar = node.content, node.scalarValue == .null { return }
        let example: String
        let keys: [String]
        switch kind {
        case .moved: (example, keys) = ("- { from: model.old, to: module.serving.model.main }", ["from", "to", "for_each"])
        case .import: (example, keys) = ("- { to: model.main, id: fraud }", ["to", "id", "for_each"])
        case .removed: (example, keys) = ("- { from: model.old }", ["from", "for_each"])
        }
        guard let expr = read(node), case .list(let items, _) = expr else {
            error("`\(kind.rawValue):` must be a list", "For example:\n\(kind.rawValue):\n  \(example)", node.location)
            return
        }
        for item in items {
            guard case .map(let entries, let location) = item else {
                error("an entry of `\(kind.rawValue):` must be a mapping", "For example `\(example)`.", item.location)
                continue
            }
            var block = StateBlock(kind: kind, location: location)
            for entry in entries {
                switch entry.key {
                case "from" where keys.contains("from"): block.from = entry.value
                case "to" where keys.contains("to"): block.to = entry.value
                case "id" where keys.contains("id"): block.id = entry.value
                case "for_each": block.forEach = entry.value
                default:
                    error("unknown setting `\(entry.key)` of a `\(kind.rawValue)` entry",
                          "It takes \(list(keys))." + Suggestions.didYouMean(entry.key, in: keys), entry.keyLocation)
                }
            }
            for key in keys where key != "for_each" {
                let given = key == "from" ? block.from : key == "to" ? block.to : block.id
                if given == nil { error("a `\(kind.rawValue)` entry needs `\(key)`", "For example `\(example)`.", location) }
            }
            stateBlocks.append(block)
        }
    }

    mutating func readModuleCall(_ name: String, _ keyLocation: SourceLocation, _ node: YAMLNode) {
        guard acceptsName(name, of: "module", keyLocation) else { return }
        if let previous = modules.first(where: { $0.name == name }) {
            error("module `\(name)` is called twice", "It is already called at \(previous.location); give the calls different names.", keyLocation)
            return
        }
        guard let expr = read(node) else { return }
        guard case .map(let entries, _) = expr else {
            error("module `\(name)` must be a mapping", "Write `\(name): { source: ./modules/NAME, inputs: { … } }`.", expr.location)
            return
        }
        var call = ModuleCall(name: name, source: "", location: keyLocation, inputs: [], forEach: nil, document: nil)
        var sawSource = false
        let keys = ["source", "inputs", "for_each"]
        for entry in entries {
            switch entry.key {
            case "source":
                guard case .literal(.string(let source), _) = entry.value else {
                    error("`source` must be a directory path", "For example `source: ./modules/serving`.", entry.value.location)
                    continue
                }
                call.source = source
                sawSource = true
            case "inputs":
                if case .literal(.null, _) = entry.value { continue }
                guard case .map(let inputs, _) = entry.value else {
                    error("`inputs` must be a mapping of the module's variables", "For example `inputs: { env: prod }`.", entry.value.location)
                    continue
                }
                call.inputs = inputs
            case "for_each":
                switch entry.value {
                case .list, .map, .template: call.forEach = entry.value
                default:
                    error("`for_each` must be a list or a mapping", "For example `for_each: [dev, prod]`.", entry.value.location)
                }
            default:
                error("unknown setting `\(entry.key)` of a module call",
                      "A module call takes \(list(keys))." + Suggestions.didYouMean(entry.key, in: keys), entry.keyLocation)
            }
        }
        guard sawSource else {
            error("module `\(name)` has no `source:`", "Add `source: ./modules/NAME`, a directory of spec files.", keyLocation)
            return
        }
        modules.append(call)
    }

    // MARK: helpers

    mutating func forEachEntry(
        _ node: YAMLNode, what: String, _ body: (inout Builder, String, SourceLocation, YAMLNode) -> Void
    ) {
        if case .scalar(_, _) = node.content, node.scalarValue == .null { return }
        guard case .mapping(let pairs) = node.content else {
            error("`\(what):` must be a mapping", "Each entry is `NAME: { … }`.", node.location)
            return
        }
        for pair in pairs {
            guard case .scalar(let key, _) = pair.key.content else {
                error("an entry of `\(what):` must have a name", "", pair.key.location)
                continue
            }
            body(&self, key, pair.key.location, pair.value)
        }
    }

    mutating func read(_ node: YAMLNode) -> SpecExpr? {
        SpecExprReader.read(node, diagnostics: &diagnostics)
    }

    /// A value that may not hold references.
    mutating func literalValue(_ node: YAMLNode, what: String) -> Value? {
        guard let expr = read(node) else { return nil }
        if let ref = expr.references.first {
            error("\(what) cannot hold a reference", "`${\(ref.0)}` is not allowed here; write a plain value.", ref.1)
            return nil
        }
        return SpecValue.plain(expr)
    }

    mutating func error(_ summary: String, _ detail: String, _ location: SourceLocation?) {
        diagnostics.append(.error(summary, detail: detail, at: location))
    }

    func list(_ names: [String]) -> String { names.map { "`\($0)`" }.joined(separator: ", ") }
}

/// Conversions of reference-free spec expressions.
public enum SpecValue {
    /// The value of an expression that holds no references.
    public static func plain(_ expr: SpecExpr) -> Value {
        switch expr {
        case .literal(let v, _): v
        case .template: .unknown
        case .list(let items, _): .list(items.map(plain))
        case .map(let entries, _): .map(Dictionary(entries.map { ($0.key, plain($0.value)) }, uniquingKeysWith: { a, _ in a }))
        }
    }
}
