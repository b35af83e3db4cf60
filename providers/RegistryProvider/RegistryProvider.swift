import Foundation
import MLInfraCore
import ModelRegistry
import Synchronization

/// The `registry`, `model`, `model_version` and `model_alias` resource types, backed by
/// the ModelRegistry engine under `<data_dir>/registry/`.
///
/// A version's artifact is hashed at plan time, so new content shows as a replace
/// (a new version); aliases move in place, and every change made by apply carries the
/// apply's actor, plan id and reason into the registry's audit log.
public struct RegistryProvider: Provider {
    let state = ProviderState()

    public init() {}

    /// Where the registry keeps its models: as the spec's `registry` resource chose (known once
    /// it has been validated or planned), else SQLite under the data directory.
    public func location() throws -> RegistryLocation { try state.location() }

    public func schema() async throws -> ProviderSchema {
        ProviderSchema(
            name: "local", version: MLInfraVersion.current,
            config: [
                "data_dir": AttributeSchema(
                    .string, description: "Where the local engines keep their files (default .mlinfra, relative to the spec).")
            ],
            resourceTypes: RegistrySchemas.all)
    }

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        let dataDir = request.config["data_dir"]?.stringValue ?? EngineDataDirectory.defaultName
        let base = URL(fileURLWithPath: request.workingDirectory, isDirectory: true)
        let resolved = dataDir.hasPrefix("/") ? URL(fileURLWithPath: dataDir) : base.appendingPathComponent(dataDir)
        state.configure(
            Settings(
                registryDirectory: resolved.appendingPathComponent("registry").standardizedFileURL,
                workingDirectory: base))
        return ConfigureResponse()
    }

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        var problems = RegistryValidation.check(type: request.type, config: request.config)
        if request.type == "registry" { problems += try state.choose(request.config) }
        if request.type == "model_version", !problems.contains(where: { $0.diagnostic.severity == .error }) {
            problems += ArtifactCheck.problems(request.config, workingDirectory: try state.settings().workingDirectory)
        }
        return ValidateResponse(diagnostics: problems)
    }

    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        var problems = RegistryValidation.check(type: request.type, config: request.proposed)
        if request.type == "model_version", !problems.contains(where: { $0.diagnostic.severity == .error }) {
            problems += ArtifactCheck.problems(request.proposed, workingDirectory: try state.settings().workingDirectory)
        }
        if request.type == "registry" { problems += try state.choose(request.proposed) }
        if problems.contains(where: { $0.diagnostic.severity == .error }) {
            return PlanResponse(planned: request.proposed, diagnostics: problems)
        }
        let resources = try Resources(settings: state.settings(), state: state)
        switch request.type {
        case "registry": return resources.planRegistry(request)
        case "model": return try resources.planModel(request)
        case "model_version": return try resources.planVersion(request)
        case "model_alias": return try resources.planAlias(request)
        default: throw unknownType(request.type)
        }
    }

    /// A version is held by every alias that points to it, in the registry as it is now.
    public func planDelete(_ request: PlanDeleteRequest) async throws -> PlanDeleteResponse {
        guard request.type == "model_version" else { return PlanDeleteResponse() }
        let resources = try Resources(settings: state.settings(), state: state)
        return PlanDeleteResponse(heldBy: try resources.aliasesHolding(versionID: request.prior.id))
    }

    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        let resources = try Resources(settings: state.settings(), state: state)
        do {
            switch request.type {
            case "registry": return try resources.applyRegistry(request)
            case "model": return try resources.applyModel(request)
            case "model_version": return try resources.applyVersion(request)
            case "model_alias": return try resources.applyAlias(request)
            default: throw unknownType(request.type)
            }
        } catch let error as RegistryError {
            return ApplyResponse(
                new: request.action == .create ? nil : request.prior,
                diagnostics: [.error("\(request.address): \(error.message)", detail: error.remedy, address: request.address)])
        }
    }

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        let resources = try Resources(settings: state.settings(), state: state)
        if let query = request.query { return try resources.lookUp(type: request.type, query: query, address: request.address) }
        let current: ResourceObject?
        switch request.type {
        case "registry": current = try resources.readRegistry(id: request.id, prior: request.prior.attributes)
        case "model": current = try resources.readModel(id: request.id, registryName: request.prior.attributes["registry"]?.stringValue)
        case "model_version": current = try resources.readVersion(id: request.id, prior: request.prior.attributes)
        case "model_alias": current = try resources.readAlias(id: request.id)
        default: throw unknownType(request.type)
        }
        return ReadResponse(current: current)
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        let resources = try Resources(settings: state.settings(), state: state)
        let imported: ResourceObject?
        switch request.type {
        case "registry": imported = try resources.readRegistry(id: request.id, prior: [:])
        case "model": imported = try resources.readModel(id: request.id)
        case "model_version": imported = try resources.readVersion(id: request.id, prior: [:])
        case "model_alias": imported = try resources.readAlias(id: request.id)
        default: throw unknownType(request.type)
        }
        guard let imported else {
            return ImportResponse(
                imported: nil,
                diagnostics: [.error("no \(request.type) with id '\(request.id)' in the registry", detail: RegistryProvider.idHelp(request.type), address: request.address)])
        }
        return ImportResponse(imported: imported)
    }

    static func idHelp(_ type: String) -> String {
        switch type {
        case "model_version": "A model_version id is MODEL/VERSION, e.g. fraud/3; see `mlinfra models show MODEL`."
        case "model_alias": "A model_alias id is MODEL@ALIAS, e.g. fraud@production; see `mlinfra models show MODEL`."
        default: "List what exists with `mlinfra models list`."
        }
    }

    private func unknownType(_ type: String) -> ProviderError {
        ProviderError(provider: "local", message: "the registry provider has no resource type '\(type)'",
                      detail: "It manages registry, model, model_version and model_alias.")
    }
}

/// Where the provider works, set by `configure`.
struct Settings: Sendable {
    var registryDirectory: URL
    var workingDirectory: URL
}

/// The provider's configuration and its open registry, shared by the calls the core makes concurrently.
///
/// One registry per provider configuration: the `registry` resource's `storage` and `artifacts`
/// choose where it lives (SQLite under the data directory when it says nothing). Every command
/// that loads the spec validates each resource, in dependency order, before it plans, refreshes
/// or applies, so the registry's choice is made before any model, version or alias is touched.
final class ProviderState: Sendable {
    private struct Inner {
        var settings: Settings?
        var location: RegistryLocation?
        var registry: ModelRegistry?
    }

    private let storage = Mutex(Inner())

    func configure(_ settings: Settings) {
        storage.withLock { $0 = Inner(settings: settings) }
    }

    func settings() throws -> Settings {
        guard let settings = storage.withLock({ $0.settings }) else { throw Self.unconfigured }
        return settings
    }

    /// Takes the registry resource's choice of storage (a registry opened on another closes);
    /// returns what is wrong with it.
    func choose(_ config: [String: Value]) throws -> [AttributeDiagnostic] {
        let settings = try settings()
        let (location, problems) = RegistryStorageChoice.location(
            config, directory: settings.registryDirectory, workingDirectory: settings.workingDirectory)
        if let location {
            storage.withLock { inner in
                if inner.location != location { inner.registry = nil }
                inner.location = location
            }
        }
        return problems
    }

    /// Where the registry lives: as the registry resource chose, else SQLite under the data directory.
    func location() throws -> RegistryLocation {
        try storage.withLock { inner in
            guard let settings = inner.settings else { throw Self.unconfigured }
            return inner.location ?? RegistryLocation(directory: settings.registryDirectory)
        }
    }

    /// The registry, opened (and created) on first use.
    func registry() throws -> ModelRegistry {
        try storage.withLock { inner in
            if let registry = inner.registry { return registry }
            guard let settings = inner.settings else { throw Self.unconfigured }
            let registry = try ModelRegistry(location: inner.location ?? RegistryLocation(directory: settings.registryDirectory))
            inner.registry = registry
            return registry
        }
    }

    private static let unconfigured = ProviderError(provider: "local", message: "the registry provider was used before configure")
}
