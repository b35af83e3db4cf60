import Foundation
import MLInfraCore
import ModelRegistry

/// Plan, apply and read of each resource type against one registry.
struct Resources {
    let settings: Settings
    let state: ProviderState

    var registry: ModelRegistry { get throws { try state.registry() } }

    // MARK: - registry

    func planRegistry(_ request: PlanRequest) -> PlanResponse {
        let name = request.proposed["name"]?.stringValue ?? objectName(request.address)
        return PlanResponse(planned: registryAttributes(name: name, config: request.proposed))
    }

    func applyRegistry(_ request: ApplyRequest) throws -> ApplyResponse {
        switch request.action {
        case .create, .update:
            _ = try registry
            let name = request.config["name"]?.stringValue ?? objectName(request.address)
            return ApplyResponse(new: ResourceObject(id: name, attributes: registryAttributes(name: name, config: request.config)))
        case .delete:
            // The audit log is append-only, so the registry's records outlive the resource.
            let kept: String
            if case .postgres(let url, let schema) = try state.location().records {
                kept = "tables are kept in schema \(schema) of \(url)"
            } else {
                kept = "files are kept in \(settings.registryDirectory.path)"
            }
            return ApplyResponse(
                new: nil,
                diagnostics: [
                    .warning(
                        "\(request.address): the registry's \(kept)",
                        detail: "Its audit log is append-only. Remove the directory or schema by hand to erase the registry.",
                        address: request.address)
                ])
        }
    }

    func readRegistry(id: String, prior: [String: Value]) throws -> ResourceObject? {
        if case .sqlite = try state.location().records {
            let database = settings.registryDirectory.appendingPathComponent("registry.sqlite")
            guard FileManager.default.fileExists(atPath: database.path) else { return nil }
        } else {
            _ = try registry  // the shared schema: there when it opens (created, if missing, as apply would)
        }
        return ResourceObject(id: id, attributes: registryAttributes(name: id, config: prior))
    }

    /// The registry's attributes; `storage` and `artifacts` as the spec (or the state) gives them.
    private func registryAttributes(name: String, config: [String: Value]) -> [String: Value] {
        var attributes: [String: Value] = ["name": .string(name), "path": .string(settings.registryDirectory.path), "id": .string(name)]
        for key in ["storage", "artifacts"] { if let value = config[key], !value.isNull { attributes[key] = value } }
        return attributes
    }

    // MARK: - model

    func planModel(_ request: PlanRequest) throws -> PlanResponse {
        let p = request.proposed
        let name = p["name"]?.stringValue ?? objectName(request.address)
        var planned: [String: Value] = [
            "registry": p["registry"] ?? .unknown,
            "name": .string(name),
            "description": p["description"] ?? .string(""),
            "tags": tagsValue(p["tags"]),
            "protected_aliases": protectedValue(p["protected_aliases"]),
            "id": .string(name),
        ]
        if let prior = request.prior, prior.attributes["name"] == .string(name) {
            planned["id"] = .string(prior.id)
        } else if try registry.model(name) != nil {
            return PlanResponse(
                planned: planned,
                diagnostics: [
                    AttributeDiagnostic(
                        attribute: "name",
                        .error(
                            "model '\(name)' already exists in the registry",
                            detail: "It was registered outside this spec. Bring it under management with "
                                + "`mlinfra import \(request.address) \(name)`, or give this resource another name."))
                ])
        }
        return PlanResponse(planned: planned)
    }

    func applyModel(_ request: ApplyRequest) throws -> ApplyResponse {
        let c = request.config
        let context = changeContext(request.context)
        let registryName = c["registry"]?.stringValue ?? request.prior?.attributes["registry"]?.stringValue
        switch request.action {
        case .create:
            let name = c["name"]?.stringValue ?? objectName(request.address)
            let model = try registry.createModel(
                name, description: c["description"]?.stringValue ?? "", tags: tags(c["tags"]),
                protectedAliases: protected(c["protected_aliases"]), creationKey: request.context.creationKey, context: context)
            return ApplyResponse(new: modelObject(model, registryName: registryName))
        case .update:
            let name = try priorID(request)
            let model = try registry.updateModel(
                name, description: c["description"]?.stringValue ?? "", tags: tags(c["tags"]),
                protectedAliases: protected(c["protected_aliases"]), context: context)
            return ApplyResponse(new: modelObject(model, registryName: registryName))
        case .delete:
            let name = try priorID(request)
            if try registry.model(name) != nil { try registry.deleteModel(name, context: context) }
            return ApplyResponse(new: nil)
        }
    }

    /// The model; `registry` only when `registryName` is given (the registry records no
    /// resource name, so an import leaves it out rather than guess).
    func readModel(id: String, registryName: String? = nil) throws -> ResourceObject? {
        guard let model = try registry.model(id) else { return nil }
        return modelObject(model, registryName: registryName)
    }

    private func modelObject(_ model: RegisteredModel, registryName: String?) -> ResourceObject {
        var attributes: [String: Value] = [
            "name": .string(model.name),
            "description": .string(model.description),
            "tags": tagsValue(model.tags),
            "protected_aliases": .list(model.protectedAliases.sorted().map(Value.string)),
            "id": .string(model.name),
        ]
        if let registryName { attributes["registry"] = .string(registryName) }
        return ResourceObject(id: model.name, attributes: attributes)
    }

    // MARK: - model_version

    func planVersion(_ request: PlanRequest) throws -> PlanResponse {
        let p = request.proposed
        guard let artifactText = p["artifact"]?.stringValue else {
            return PlanResponse(planned: p.merging(["version": .unknown, "id": .unknown, "sha256": .unknown]) { a, _ in a })
        }
        let file = artifactURL(artifactText)
        let (sha, size) = try ModelRegistry.digest(ofArtifact: file)
        var planned: [String: Value] = [
            "model": p["model"] ?? .unknown,
            "artifact": .string(artifactText),
            "format": p["format"] ?? .string("file"),
            "description": p["description"] ?? .string(""),
            "tags": tagsValue(p["tags"]),
            "sha256": .string(sha),
            "size": .int(Int(size)),
            // The path it is registered from, on the machine that applies: a plan made in one
            // checkout is applied in another (CI runners), so it is known only at apply.
            "source": .unknown,
            "version": .unknown,
            "uri": .unknown,
            "id": .unknown,
        ]
        for key in ["run_id", "dataset", "commit"] { if let value = p[key], !value.isNull { planned[key] = value } }
        guard let prior = request.prior else { return PlanResponse(planned: planned) }

        let a = prior.attributes
        let replaced = ["sha256", "model", "format"].filter { key in
            planned[key].map { !$0.isUnknown && $0 != a[key] } ?? false
        }
        if replaced.isEmpty {
            planned["version"] = a["version"] ?? .unknown
            planned["uri"] = a["uri"] ?? .unknown
            planned["id"] = .string(prior.id)
            planned["source"] = a["source"] ?? .unknown
            return PlanResponse(planned: planned)
        }
        // A replace deletes the old version: refuse it while aliases still point there.
        if let (model, number) = versionID(prior.id), let old = try registry.version(model, number), !old.aliases.isEmpty {
            let aliases = old.aliases.map { "\(model)@\($0)" }.joined(separator: ", ")
            return PlanResponse(
                planned: planned, requiresReplace: replaced,
                diagnostics: [
                    AttributeDiagnostic(
                        attribute: replaced.contains("sha256") ? "artifact" : replaced[0],
                        .error(
                            "\(request.address) would be replaced, deleting version \(number) of model '\(model)', "
                                + "but alias \(aliases) still points to it",
                            detail: "Keep this version and add a new model_version resource for the new artifact, "
                                + "then move the alias to it; or move the alias off version \(number) first."))
                ])
        }
        return PlanResponse(planned: planned, requiresReplace: replaced)
    }

    func applyVersion(_ request: ApplyRequest) throws -> ApplyResponse {
        let c = request.config
        let context = changeContext(request.context)
        switch request.action {
        case .create:
            guard let model = c["model"]?.stringValue, let artifact = c["artifact"]?.stringValue else {
                throw RegistryError(.invalidArgument, "`model` and `artifact` must be known to register a version")
            }
            let file = artifactURL(artifact)
            if let planned = request.planned["sha256"]?.stringValue {
                let now = try ModelRegistry.sha256(ofArtifact: file)
                guard now == planned else {
                    throw RegistryError(
                        .artifactCorrupted,
                        "the artifact \(file.path) changed since the plan (sha256 \(planned.prefix(12))… then, \(now.prefix(12))… now)",
                        remedy: "Run `mlinfra plan` again and review the new content.")
                }
            }
            let version = try registry.register(
                RegistrationRequest(
                    model: model, artifact: file, format: c["format"]?.stringValue ?? "file",
                    description: c["description"]?.stringValue ?? "", tags: tags(c["tags"]), lineage: lineage(c),
                    source: file.path, createModelIfMissing: false, creationKey: request.context.creationKey),
                context: context)
            return ApplyResponse(new: versionObject(version, artifact: artifact))
        case .update:
            guard let (model, number) = versionID(try priorID(request)) else { throw badID(request) }
            let version = try registry.updateVersion(
                model, number, description: c["description"]?.stringValue ?? "", tags: tags(c["tags"]),
                lineage: lineage(c), context: context)
            return ApplyResponse(new: versionObject(version, artifact: c["artifact"]?.stringValue ?? version.source))
        case .delete:
            guard let (model, number) = versionID(try priorID(request)) else { throw badID(request) }
            if try registry.version(model, number) != nil {
                try registry.deleteVersion(model, number, context: context)
            }
            return ApplyResponse(new: nil)
        }
    }

    func readVersion(id: String, prior: [String: Value]) throws -> ResourceObject? {
        guard let (model, number) = versionID(id), let version = try registry.version(model, number) else { return nil }
        return versionObject(version, artifact: prior["artifact"]?.stringValue ?? version.source)
    }

    private func versionObject(_ v: ModelVersion, artifact: String) -> ResourceObject {
        var attributes: [String: Value] = [
            "model": .string(v.model),
            "artifact": .string(artifact),
            "format": .string(v.format),
            "description": .string(v.description),
            "tags": tagsValue(v.tags),
            "sha256": .string(v.sha256),
            "size": .int(Int(v.size)),
            "source": .string(v.source),
            "version": .int(v.version),
            "uri": .string("models:/\(v.model)/\(v.version)"),
            "id": .string("\(v.model)/\(v.version)"),
        ]
        if let run = v.lineage.runID { attributes["run_id"] = .string(run) }
        if let dataset = v.lineage.dataset { attributes["dataset"] = .string(dataset) }
        if let commit = v.lineage.commit { attributes["commit"] = .string(commit) }
        return ResourceObject(id: "\(v.model)/\(v.version)", attributes: attributes)
    }

    // MARK: - model_alias

    func planAlias(_ request: PlanRequest) throws -> PlanResponse {
        let p = request.proposed
        let alias = p["alias"]?.stringValue ?? objectName(request.address)
        let version = versionNumber(p["version"])
        var planned: [String: Value] = [
            "model": p["model"] ?? .unknown,
            "alias": .string(alias),
            "version": version.map(Value.int) ?? .unknown,
            "uri": .unknown,
            "id": .unknown,
        ]
        guard let model = p["model"]?.stringValue else { return PlanResponse(planned: planned) }
        planned["uri"] = .string("models:/\(model)@\(alias)")
        planned["id"] = .string("\(model)@\(alias)")
        if let version, try registry.model(model) != nil, try registry.version(model, version) == nil {
            return PlanResponse(
                planned: planned,
                diagnostics: [
                    AttributeDiagnostic(
                        attribute: "version",
                        .error(
                            "model '\(model)' has no version \(version)",
                            detail: "Point the alias at a registered version, e.g. version: ${model_version.NAME.version}; "
                                + "see the versions with `mlinfra models show \(model)`."))
                ])
        }
        return PlanResponse(planned: planned)
    }

    func applyAlias(_ request: ApplyRequest) throws -> ApplyResponse {
        let c = request.config
        let context = changeContext(request.context)
        switch request.action {
        case .create, .update:
            guard let model = c["model"]?.stringValue, let version = versionNumber(c["version"]) else {
                throw RegistryError(.invalidArgument, "`model` and `version` must be known to set an alias", field: "version")
            }
            let alias = c["alias"]?.stringValue ?? objectName(request.address)
            if request.action == .update, let prior = request.prior, prior.id != "\(model)@\(alias)",
                let (oldModel, oldAlias) = aliasID(prior.id), try registry.aliasTarget(oldModel, oldAlias) != nil
            {
                try registry.deleteAlias(oldModel, oldAlias, context: context)
            }
            try registry.setAlias(model, alias, version: version, context: context)
            return ApplyResponse(new: aliasObject(model: model, alias: alias, version: version))
        case .delete:
            guard let (model, alias) = aliasID(try priorID(request)) else { throw badID(request) }
            if try registry.model(model) != nil, try registry.aliasTarget(model, alias) != nil {
                try registry.deleteAlias(model, alias, context: context)
            }
            return ApplyResponse(new: nil)
        }
    }

    func readAlias(id: String) throws -> ResourceObject? {
        guard let (model, alias) = aliasID(id), try registry.model(model) != nil,
            let version = try registry.aliasTarget(model, alias)
        else { return nil }
        return aliasObject(model: model, alias: alias, version: version)
    }

    private func aliasObject(model: String, alias: String, version: Int) -> ResourceObject {
        ResourceObject(
            id: "\(model)@\(alias)",
            attributes: [
                "model": .string(model), "alias": .string(alias), "version": .int(version),
                "uri": .string("models:/\(model)@\(alias)"), "id": .string("\(model)@\(alias)"),
            ])
    }

    // MARK: - data sources

    /// A data source: `model_version` finds the newest version of `model` whose tags hold every
    /// one of `tags`; `model_alias` finds the version `alias` of `model` points to now.
    func lookUp(type: String, query: [String: Value], address: String) throws -> ReadResponse {
        func problem(_ summary: String, _ detail: String) -> ReadResponse {
            ReadResponse(current: nil, diagnostics: [.error(summary, detail: detail, address: address)])
        }
        guard let model = query["model"]?.stringValue else {
            return problem("`\(address)` needs `model`, the model's name", "For example `model: fraud_detector`.")
        }
        switch type {
        case "model_version":
            let wanted = query["tags"]?.mapValue ?? [:]
            let unknown = Set(query.keys).subtracting(["model", "tags"])
            guard unknown.isEmpty else {
                return problem("`\(address)` has no setting \(unknown.sorted().map { "`\($0)`" }.joined(separator: ", "))", "A `model_version` data source takes `model` and `tags`.")
            }
            let newest = try registry.versions(of: model)
                .filter { v in wanted.allSatisfy { v.tags[$0.key] == $0.value.interpolated } }
                .max { $0.version < $1.version }
            return ReadResponse(current: newest.map { versionObject($0, artifact: $0.source) })
        case "model_alias":
            guard let alias = query["alias"]?.stringValue else {
                return problem("`\(address)` needs `alias`", "For example `alias: production`.")
            }
            return ReadResponse(current: try readAlias(id: "\(model)@\(alias)"))
        default:
            return problem(
                "`\(type)` cannot be read as a data source", "The registry's data sources are `model_version` (newest with tags) and `model_alias`.")
        }
    }

    // MARK: - Helpers

    private func changeContext(_ context: ApplyContext) -> ChangeContext {
        ChangeContext(actor: context.actor, origin: .apply, planID: context.planID, reason: context.reason)
    }

    private func objectName(_ address: String) -> String {
        ResourceAddress(parsing: address)?.objectName ?? address
    }

    private func artifactURL(_ path: String) -> URL {
        ArtifactCheck.url(path, workingDirectory: settings.workingDirectory)
    }

    private func priorID(_ request: ApplyRequest) throws -> String {
        guard let prior = request.prior else {
            throw RegistryError(.invalidArgument, "\(request.address) has no prior state to \(request.action.rawValue)")
        }
        return prior.id
    }

    private func badID(_ request: ApplyRequest) -> RegistryError {
        RegistryError(.invalidArgument, "\(request.address) has a malformed id '\(request.prior?.id ?? "")'",
                      remedy: RegistryProvider.idHelp(request.type))
    }

    /// The aliases pointing at version `MODEL/N` now, as holders of a planned delete.
    func aliasesHolding(versionID id: String) throws -> [DeleteHolder] {
        guard let (model, number) = versionID(id), let version = try registry.version(model, number) else { return [] }
        return version.aliases.sorted().map { alias in
            DeleteHolder(
                type: "model_alias", id: "\(model)@\(alias)", attribute: "version", value: .int(number),
                description: "alias \(model)@\(alias)")
        }
    }

    private func versionID(_ id: String) -> (String, Int)? {
        guard let slash = id.lastIndex(of: "/"), let n = Int(id[id.index(after: slash)...]) else { return nil }
        return (String(id[..<slash]), n)
    }

    private func aliasID(_ id: String) -> (String, String)? {
        guard let at = id.lastIndex(of: "@") else { return nil }
        return (String(id[..<at]), String(id[id.index(after: at)...]))
    }

    private func versionNumber(_ value: Value?) -> Int? {
        guard let value, let n = value.intValue ?? value.stringValue.flatMap({ Int($0) }), n > 0 else { return nil }
        return n
    }

    private func tags(_ value: Value?) -> [String: String] {
        (value?.mapValue ?? [:]).compactMapValues(\.interpolated)
    }

    private func tagsValue(_ value: Value?) -> Value {
        guard let value, !value.isNull else { return .map([:]) }
        if value.isUnknown { return .unknown }
        return tagsValue(tags(value))
    }

    private func tagsValue(_ tags: [String: String]) -> Value { .map(tags.mapValues(Value.string)) }

    private func protected(_ value: Value?) -> [String] {
        (value?.listValue ?? []).compactMap(\.stringValue).sorted()
    }

    private func protectedValue(_ value: Value?) -> Value {
        guard let value, !value.isNull else { return .list([]) }
        if value.containsUnknown { return .unknown }
        return .list(Array(Set(protected(value))).sorted().map(Value.string))
    }

    private func lineage(_ c: [String: Value]) -> Lineage {
        Lineage(runID: c["run_id"]?.stringValue, dataset: c["dataset"]?.stringValue, commit: c["commit"]?.stringValue)
    }
}
