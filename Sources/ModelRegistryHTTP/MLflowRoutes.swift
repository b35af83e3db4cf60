import Foundation
import MLInfraJSON
import Hummingbird
import ModelRegistry

/// The model-registry subset of the MLflow REST API (`/api/2.0/mlflow/…`), shaped the way
/// MLflow's `RestStore` sends and parses it: GET parameters in the query string, others as
/// a JSON body; versions as strings; timestamps in milliseconds; errors as `{error_code, message}`.
struct MLflowRoutes {
    let registry: ModelRegistry
    let sources: SourcePaths

    func add(to router: Router<BasicRequestContext>) {
        let base = "/api/2.0/mlflow"
        route(router, .post, "\(base)/registered-models/create", createModel)
        route(router, .get, "\(base)/registered-models/get", getModel)
        route(router, .get, "\(base)/registered-models/search", searchModels)
        route(router, .patch, "\(base)/registered-models/update", updateModel)
        route(router, .post, "\(base)/registered-models/rename", renameModel)
        route(router, .delete, "\(base)/registered-models/delete", deleteModel)
        route(router, .post, "\(base)/registered-models/set-tag", setModelTag)
        route(router, .delete, "\(base)/registered-models/delete-tag", deleteModelTag)
        route(router, .post, "\(base)/registered-models/get-latest-versions", latestVersions)
        route(router, .get, "\(base)/registered-models/get-latest-versions", latestVersions)
        route(router, .post, "\(base)/registered-models/alias", setAlias)
        route(router, .delete, "\(base)/registered-models/alias", deleteAlias)
        route(router, .get, "\(base)/registered-models/alias", getByAlias)
        route(router, .post, "\(base)/model-versions/create", createVersion)
        route(router, .get, "\(base)/model-versions/get", getVersion)
        route(router, .patch, "\(base)/model-versions/update", updateVersion)
        route(router, .delete, "\(base)/model-versions/delete", deleteVersion)
        route(router, .get, "\(base)/model-versions/search", searchVersions)
        route(router, .get, "\(base)/model-versions/get-download-uri", downloadURI)
        route(router, .post, "\(base)/model-versions/set-tag", setVersionTag)
        route(router, .delete, "\(base)/model-versions/delete-tag", deleteVersionTag)
        route(router, .post, "\(base)/model-versions/transition-stage", transitionStage)
    }

    private func route(
        _ router: Router<BasicRequestContext>, _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Parameters, ChangeContext) throws -> JSONValue
    ) {
        Self.route(router, method, path, handler)
    }

    /// Serves `handler` at `path`, with the request's parameters (query, JSON body and path
    /// parameters such as `:model_id`), answering errors in MLflow's shape.
    static func route(
        _ router: Router<BasicRequestContext>, _ method: HTTPRequest.Method, _ path: String,
        _ handler: @escaping @Sendable (Parameters, ChangeContext) throws -> JSONValue
    ) {
        router.on(RouterPath(path), method: method) { request, context -> Response in
            do {
                var parameters = try await Parameters.from(request)
                for (key, value) in context.parameters { parameters.values[String(key)] = .string(String(value)) }
                return HTTPSupport.json(try handler(parameters, HTTPSupport.context(request)))
            } catch {
                return Self.error(any: error)
            }
        }
    }

    /// Any failure in MLflow's error shape.
    static func error(any error: any Error) -> Response {
        switch error {
        case let error as RegistryError:
            return Self.error(error)
        case let error as any HTTPResponseError:
            return HTTPSupport.json(["error_code": "INVALID_PARAMETER_VALUE", "message": .string("\(error)")], status: error.status)
        default:
            return HTTPSupport.json(["error_code": "INTERNAL_ERROR", "message": .string("\(error)")], status: .internalServerError)
        }
    }

    /// MLflow's error body: `{error_code, message}` with the status its client expects.
    static func error(_ error: RegistryError) -> Response {
        let (code, status): (String, HTTPResponse.Status) =
            switch error.code {
            case .modelNotFound, .versionNotFound, .aliasNotFound, .noVersionInStage, .trackingNotFound: ("RESOURCE_DOES_NOT_EXIST", .notFound)
            case .modelExists, .trackingExists: ("RESOURCE_ALREADY_EXISTS", .badRequest)
            case .protectedAlias: ("PERMISSION_DENIED", .forbidden)
            case .invalidArgument, .invalidURI, .artifactUnreadable, .versionHasAliases: ("INVALID_PARAMETER_VALUE", .badRequest)
            case .artifactMissing, .artifactCorrupted: ("DATA_LOSS", .internalServerError)
            case .storageUnavailable: ("TEMPORARILY_UNAVAILABLE", .serviceUnavailable)
            }
        var body: [String: JSONValue] = ["error_code": .string(code), "message": .string(error.description)]
        if let field = error.field { body["field"] = .string(field) }
        return HTTPSupport.json(.object(body), status: status)
    }

    // MARK: - Registered models

    func createModel(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let model = try registry.createModel(
            try p.requireString("name"), description: p.string("description") ?? "", tags: try p.tags(), context: context)
        return ["registered_model": try modelJSON(model)]
    }

    func getModel(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        ["registered_model": try modelJSON(try registry.requireModel(try p.requireString("name")))]
    }

    func updateModel(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let model = try registry.updateModel(try p.requireString("name"), description: p.string("description") ?? "", context: context)
        return ["registered_model": try modelJSON(model)]
    }

    func renameModel(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let model = try registry.renameModel(try p.requireString("name"), to: try p.requireString("new_name"), context: context)
        return ["registered_model": try modelJSON(model)]
    }

    func deleteModel(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.deleteModel(try p.requireString("name"), context: context)
        return [:]
    }

    func setModelTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.setModelTag(try p.requireString("name"), key: try p.requireString("key"), value: p.string("value") ?? "", context: context)
        return [:]
    }

    func deleteModelTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.deleteModelTag(try p.requireString("name"), key: try p.requireString("key"), context: context)
        return [:]
    }

    func searchModels(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let filter = try SearchFilter(parsing: p.string("filter") ?? "", keys: ["name"])
        var models = try registry.models().filter { model in
            filter.matches { key in
                if key == "name" { return model.name }
                if key.hasPrefix("tags.") { return model.tags[String(key.dropFirst(5))] }
                return nil
            }
        }
        models = try SearchOrder(p.strings("order_by"), allowed: ["name", "creation_timestamp", "last_updated_timestamp"])
            .sorted(models, default: [("name", true)]) { model, key in
                switch key {
                case "creation_timestamp": .int(Self.millis(model.createdAt))
                case "last_updated_timestamp": .int(Self.millis(model.updatedAt))
                default: .string(model.name)
                }
            }
        let (page, next) = try Pagination.page(models, p, defaultMax: 100)
        var body: [String: JSONValue] = ["registered_models": .array(try page.map(modelJSON))]
        if let next { body["next_page_token"] = .string(next) }
        return .object(body)
    }

    func latestVersions(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let name = try p.requireString("name")
        let stages = try p.strings("stages").map { text -> Stage in
            guard let stage = Stage(parsing: text) else {
                throw RegistryError.invalid("stages", "unknown stage '\(text)'", remedy: "Use None, Staging, Production or Archived.")
            }
            return stage
        }
        let latest = latestPerStage(try registry.versions(of: name))
        let chosen = stages.isEmpty ? latest : latest.filter { stages.contains($0.stage) }
        return ["model_versions": .array(chosen.map(versionJSON))]
    }

    // MARK: - Aliases

    func setAlias(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.setAlias(try p.requireString("name"), try p.requireString("alias"), version: try p.requireVersion(), context: context)
        return [:]
    }

    func deleteAlias(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.deleteAlias(try p.requireString("name"), try p.requireString("alias"), context: context)
        return [:]
    }

    func getByAlias(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let name = try p.requireString("name"), alias = try p.requireString("alias")
        guard let number = try registry.aliasTarget(name, alias) else {
            _ = try registry.requireModel(name)
            throw RegistryError.aliasNotFound(name, alias)
        }
        return ["model_version": versionJSON(try requireVersion(name, number))]
    }

    // MARK: - Versions

    /// Registers a version from `source`: a logged model (`models:/m-…`), a run's artifacts
    /// (`runs:/RUN/PATH`) or any folder of the artifact proxy (`mlflow-artifacts:/…`) becomes a
    /// directory version of the files logged there; a file path or `file://` URI must be under one
    /// of the server's source roots, and is hashed into the store.
    func createVersion(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let name = try p.requireString("name")
        let source = try p.requireString("source")
        let tags = try p.tags()
        var runID = p.string("run_id").flatMap { $0.isEmpty ? nil : $0 }
        if let prefix = try trackedPrefix(of: source, runID: &runID) {
            _ = try registry.requireModel(name)
            let version = try registry.registerTracked(
                model: name, prefix: prefix, source: source, format: tags["mlinfra.format"] ?? "mlflow", runID: runID,
                description: p.string("description") ?? "", tags: tags, context: context)
            return ["model_version": versionJSON(version)]
        }
        let path = try sources.resolve(source)
        let version = try registry.register(
            RegistrationRequest(
                model: name, artifact: path, format: tags["mlinfra.format"] ?? "file",
                description: p.string("description") ?? "", tags: tags, lineage: Lineage(runID: runID),
                source: source, createModelIfMissing: false),
            context: context)
        return ["model_version": versionJSON(version)]
    }

    /// The folder of the `mlflow-artifacts:/` tree a tracked source names (nil for a file source);
    /// a logged model's source run fills in `runID` when the request named none.
    private func trackedPrefix(of source: String, runID: inout String?) throws -> String? {
        let location: String
        if source.hasPrefix("models:/m-") {
            let id = String(source.dropFirst("models:/".count))
            guard let model = try registry.loggedModel(id) else { throw ModelRegistry.loggedModelNotFound(id) }
            runID = runID ?? model.sourceRunID
            location = model.artifactLocation
        } else if source.hasPrefix("runs:/") {
            let rest = source.dropFirst("runs:/".count)
            let run = String(rest.prefix { $0 != "/" })
            let path = rest.dropFirst(run.count).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            guard let found = try registry.run(run) else {
                throw RegistryError(.trackingNotFound, "run '\(run)' of source '\(source)' does not exist", remedy: "Check the run id.", field: "source")
            }
            runID = runID ?? run
            location = path.isEmpty ? found.artifactURI : found.artifactURI + "/" + path
        } else if source.hasPrefix("mlflow-artifacts:") {
            location = source
        } else {
            return nil
        }
        guard let prefix = ArtifactRoutes.treePath(of: location) else {
            throw RegistryError.invalid(
                "source", "source '\(source)' points outside this server's artifact proxy (\(location))",
                remedy: "Log the model to this server (its runs' artifact_uri is mlflow-artifacts:/…), or register a file under a source root.")
        }
        return prefix
    }

    func getVersion(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        ["model_version": versionJSON(try requireVersion(try p.requireString("name"), try p.requireVersion()))]
    }

    func updateVersion(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let version = try registry.updateVersion(
            try p.requireString("name"), try p.requireVersion(), description: p.string("description") ?? "", context: context)
        return ["model_version": versionJSON(version)]
    }

    func deleteVersion(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.deleteVersion(try p.requireString("name"), try p.requireVersion(), removingAliases: true, context: context)
        return [:]
    }

    func setVersionTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.setVersionTag(
            try p.requireString("name"), try p.requireVersion(), key: try p.requireString("key"), value: p.string("value") ?? "",
            context: context)
        return [:]
    }

    func deleteVersionTag(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        try registry.deleteVersionTag(try p.requireString("name"), try p.requireVersion(), key: try p.requireString("key"), context: context)
        return [:]
    }

    func transitionStage(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let text = try p.requireString("stage")
        guard let stage = Stage(parsing: text) else {
            throw RegistryError.invalid("stage", "unknown stage '\(text)'", remedy: "Use None, Staging, Production or Archived.")
        }
        let version = try registry.transitionStage(
            try p.requireString("name"), try p.requireVersion(), to: stage,
            archiveExisting: try p.bool("archive_existing_versions"), context: context)
        return ["model_version": versionJSON(version)]
    }

    /// Where the client downloads the version's files: its folder in the artifact proxy, served
    /// from the registry's own copy (checked against the version's sha256), so the files do not
    /// change when a run's artifacts are logged over later. A tampered artifact is refused here
    /// already (as on every other read), so a client fails before it downloads anything.
    func downloadURI(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let version = try requireVersion(try p.requireString("name"), try p.requireVersion())
        _ = try registry.resolve("models:/\(version.model)/\(version.version)")
        return ["artifact_uri": .string(ArtifactRoutes.registryURI(model: version.model, version: version.version))]
    }

    func searchVersions(_ p: Parameters, _ context: ChangeContext) throws -> JSONValue {
        let filter = try SearchFilter(
            parsing: p.string("filter") ?? "", keys: ["name", "run_id", "source_path", "version_number", "current_stage"])
        var versions = try registry.allVersions().filter { v in
            filter.matches { key in
                switch key {
                case "name": v.model
                case "run_id": v.lineage.runID ?? ""
                case "source_path": v.source
                case "version_number": String(v.version)
                case "current_stage": v.stage.rawValue
                default: key.hasPrefix("tags.") ? v.tags[String(key.dropFirst(5))] : nil
                }
            }
        }
        versions = try SearchOrder(
            p.strings("order_by"), allowed: ["name", "version_number", "creation_timestamp", "last_updated_timestamp"]
        ).sorted(versions, default: [("name", true), ("version_number", false)]) { v, key in
            switch key {
            case "version_number": .int((v.version))
            case "creation_timestamp": .int(Self.millis(v.createdAt))
            case "last_updated_timestamp": .int(Self.millis(v.updatedAt))
            default: .string(v.model)
            }
        }
        let (page, next) = try Pagination.page(versions, p, defaultMax: 10_000)
        var body: [String: JSONValue] = ["model_versions": .array(page.map(versionJSON))]
        if let next { body["next_page_token"] = .string(next) }
        return .object(body)
    }

    // MARK: - Shapes

    private func requireVersion(_ name: String, _ number: Int) throws -> ModelVersion {
        guard let version = try registry.version(name, number) else {
            _ = try registry.requireModel(name)
            throw RegistryError.versionNotFound(name, number)
        }
        return version
    }

    private func modelJSON(_ model: RegisteredModel) throws -> JSONValue {
        let latest = latestPerStage(try registry.versions(of: model.name))
        return [
            "name": .string(model.name),
            "description": .string(model.description),
            "creation_timestamp": .int(Self.millis(model.createdAt)),
            "last_updated_timestamp": .int(Self.millis(model.updatedAt)),
            "tags": Self.tagsJSON(model.tags),
            "aliases": .array(model.aliases.keys.sorted().map { ["alias": .string($0), "version": .string(String(model.aliases[$0]!))] }),
            "latest_versions": .array(latest.map(versionJSON)),
        ]
    }

    private func versionJSON(_ v: ModelVersion) -> JSONValue {
        var object: [String: JSONValue] = [
            "name": .string(v.model),
            "version": .string(String(v.version)),
            "creation_timestamp": .int(Self.millis(v.createdAt)),
            "last_updated_timestamp": .int(Self.millis(v.updatedAt)),
            "user_id": .string(v.createdBy),
            "current_stage": .string(v.stage.rawValue),
            "description": .string(v.description),
            "source": .string(v.source),
            "status": .string(v.status),
            "tags": Self.tagsJSON(v.tags),
            "aliases": .array(v.aliases.map(JSONValue.string)),
        ]
        if let run = v.lineage.runID { object["run_id"] = .string(run) }
        return .object(object)
    }

    /// The newest version in each stage, in stage order (what MLflow calls latest_versions).
    private func latestPerStage(_ versions: [ModelVersion]) -> [ModelVersion] {
        Stage.allCases.compactMap { stage in versions.filter { $0.stage == stage }.max { $0.version < $1.version } }
    }

    static func millis(_ date: Date) -> Int { Int((date.timeIntervalSince1970 * 1000).rounded()) }

    static func tagsJSON(_ tags: [String: String]) -> JSONValue {
        .array(tags.keys.sorted().map { ["key": .string($0), "value": .string(tags[$0]!)] })
    }
}

/// MLflow's paging: `max_results` and an opaque `page_token` (here the offset of the next page).
enum Pagination {
    static func page<T>(_ items: [T], _ p: Parameters, defaultMax: Int) throws -> ([T], String?) {
        let max = try p.int("max_results") ?? defaultMax
        guard max > 0 else { throw RegistryError.invalid("max_results", "max_results must be positive") }
        let start: Int
        if let token = p.string("page_token"), !token.isEmpty {
            guard let offset = Int(token), offset >= 0 else {
                throw RegistryError.invalid("page_token", "invalid page_token '\(token)'", remedy: "Pass the next_page_token of the previous page.")
            }
            start = offset
        } else {
            start = 0
        }
        let end = min(items.count, start + max)
        let page = start < items.count ? Array(items[start..<end]) : []
        return (page, end < items.count ? String(end) : nil)
    }
}
