import Foundation
import Synchronization

/// The providers a command may use, as the CLI hands them to the core.
public struct ProviderCatalog: Sendable {
    /// Built-in providers by name (e.g. `local`), made fresh for each command.
    public var builtins: [String: @Sendable () -> any Provider]
    /// Makes an external plugin provider from its spec entry; nil when plugins are not supported.
    public var plugin: (@Sendable (ProviderDecl, _ rootDirectory: String) throws -> any Provider)?

    public init(
        builtins: [String: @Sendable () -> any Provider],
        plugin: (@Sendable (ProviderDecl, String) throws -> any Provider)? = nil
    ) {
        self.builtins = builtins
        self.plugin = plugin
    }
}

/// One provider, configured, with its schema and a bound on concurrent calls.
public struct ConfiguredProvider: Sendable {
    public var name: String
    public var provider: any Provider
    public var schema: ProviderSchema
    let limiter: ConcurrencyLimiter?

    init(name: String, provider: any Provider, schema: ProviderSchema) {
        self.name = name
        self.provider = provider
        self.schema = schema
        self.limiter = schema.concurrencyLimit.map { ConcurrencyLimiter(limit: $0) }
    }

    /// Runs a provider call within the provider's concurrency limit; `what` (e.g. `read endpoint.fraud`)
    /// names it in the debug log, with how long it took.
    public func call<T: Sendable>(_ what: @autoclosure () -> String, _ body: @Sendable (any Provider) async throws -> T) async throws -> T {
        try await DebugLog.timed("provider \(name): \(what())") {
            guard let limiter else { return try await body(provider) }
            await limiter.acquire()
            do {
                let result = try await body(provider)
                await limiter.release()
                return result
            } catch {
                await limiter.release()
                throw error
            }
        }
    }
}

/// The configured providers of a spec, and which of them serves each resource type.
public struct ProviderSet: Sendable {
    public private(set) var providers: [String: ConfiguredProvider] = [:]
    public private(set) var typeOwners: [String: String] = [:]

    public init() {}

    public func provider(forType type: String) -> ConfiguredProvider? {
        typeOwners[type].flatMap { providers[$0] }
    }

    public func resourceSchema(_ type: String) -> ResourceSchema? {
        provider(forType: type)?.schema.resourceTypes[type]
    }

    public var allResourceTypes: [String] { typeOwners.keys.sorted() }

    /// Provider name → version, recorded in plan files so stale plans are caught.
    public var versions: [String: String] { providers.mapValues(\.schema.version) }

    /// Starts and configures every provider the spec names, plus the built-in ones it uses implicitly.
    public static func configure(
        spec: SpecDocument, variables: VariableValues, catalog: ProviderCatalog
    ) async -> (ProviderSet, Diagnostics) {
        var diagnostics = Diagnostics()
        var set = ProviderSet()
        var declared = spec.providers
        var implicit = Set<String>()
        for name in catalog.builtins.keys.sorted() where !declared.contains(where: { $0.name == name }) {
            implicit.insert(name)
            declared.append(ProviderDecl(
                name: name, command: nil, args: [], sha256: nil, config: [],
                location: SourceLocation(file: spec.files.first ?? "spec", line: 1, column: 1)))
        }
        // Provider settings are read before any resource: variables, functions and locals of them.
        var evaluator = Evaluator.beforeResources(spec, variables: variables)
        for decl in declared {
            let provider: any Provider
            if decl.command != nil {
                guard let plugin = catalog.plugin else {
                    diagnostics.append(.error("external providers are not supported here", at: decl.location))
                    continue
                }
                do {
                    provider = try plugin(decl, spec.rootDirectory)
                } catch {
                    diagnostics.append(.error("provider `\(decl.name)` could not be started", detail: "\(error)", at: decl.location))
                    continue
                }
            } else if let make = catalog.builtins[decl.name] {
                provider = make()
            } else {
                diagnostics.append(.error(
                    "unknown provider `\(decl.name)`",
                    detail: "Built-in providers: \(catalog.builtins.keys.sorted().joined(separator: ", ")). An external provider needs `command:` and `sha256:`."
                        + Suggestions.didYouMean(decl.name, in: catalog.builtins.keys),
                    at: decl.location))
                continue
            }
            let schema: ProviderSchema
            do {
                schema = try await provider.schema()
            } catch {
                diagnostics.append(.error("provider `\(decl.name)` did not return its schema", detail: "\(error)", at: decl.location))
                continue
            }
            // A built-in provider the spec does not name is configured only when the spec uses its types.
            if implicit.contains(decl.name), !spec.resources.contains(where: { schema.resourceTypes[$0.type] != nil }) {
                continue
            }
            var config: [String: Value] = [:]
            for entry in decl.config {
                if decl.command == nil, schema.config[entry.key] == nil {
                    diagnostics.append(.error(
                        "provider `\(decl.name)` has no setting `\(entry.key)`",
                        detail: "Its settings: \(schema.config.keys.sorted().joined(separator: ", "))."
                            + Suggestions.didYouMean(entry.key, in: schema.config.keys),
                        at: entry.keyLocation))
                    continue
                }
                config[entry.key] = evaluator.evaluate(entry.value, diagnostics: &diagnostics).value
            }
            for (name, attribute) in schema.config where attribute.required && config[name] == nil {
                diagnostics.append(.error("provider `\(decl.name)` needs the setting `\(name)`", detail: attribute.description, at: decl.location))
            }
            do {
                let response = try await provider.configure(ConfigureRequest(config: config, workingDirectory: spec.rootDirectory))
                diagnostics.append(contentsOf: response.diagnostics.map { d in
                    var d = d
                    if d.location == nil { d.location = decl.location }
                    return d
                })
            } catch {
                diagnostics.append(.error("provider `\(decl.name)` could not be configured", detail: "\(error)", at: decl.location))
                continue
            }
            let configured = ConfiguredProvider(name: decl.name, provider: provider, schema: schema)
            set.providers[decl.name] = configured
            for type in schema.resourceTypes.keys {
                if let owner = set.typeOwners[type], owner != decl.name {
                    // The explicitly declared provider wins over an implicit built-in one.
                    if catalog.builtins[owner] != nil && catalog.builtins[decl.name] == nil { set.typeOwners[type] = decl.name }
                    continue
                }
                set.typeOwners[type] = decl.name
            }
        }
        return (set, diagnostics)
    }

    /// A set made of already-configured providers (for tests and tools).
    public static func with(_ providers: [(String, any Provider, ProviderSchema)]) -> ProviderSet {
        var set = ProviderSet()
        for (name, provider, schema) in providers {
            set.providers[name] = ConfiguredProvider(name: name, provider: provider, schema: schema)
            for type in schema.resourceTypes.keys where set.typeOwners[type] == nil { set.typeOwners[type] = name }
        }
        return set
    }
}

/// A counting semaphore for async code.
actor ConcurrencyLimiter {
    private let limit: Int
    private var inUse = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    init(limit: Int) { self.limit = max(1, limit) }

    func acquire() async {
        if inUse < limit {
            inUse += 1
            return
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        if waiters.isEmpty {
            inUse -= 1
        } else {
            waiters.removeFirst().resume()
        }
    }
}

/// Several built-in providers served under one name (`local`), each owning its resource types.
public final class CompositeProvider: Provider {
    public let name: String
    public let members: [any Provider]
    /// Which member owns each resource type: filled by the first `schema()`.
    private let owners = Mutex<[String: Int]?>(nil)

    public init(name: String, members: [any Provider]) {
        self.name = name
        self.members = members
    }

    public func schema() async throws -> ProviderSchema {
        var merged = ProviderSchema(name: name, version: MLInfraVersion.current, resourceTypes: [:])
        var index: [String: Int] = [:]
        for (i, member) in members.enumerated() {
            let s = try await member.schema()
            for type in s.resourceTypes.keys where index[type] == nil { index[type] = i }
            merged.resourceTypes.merge(s.resourceTypes) { a, _ in a }
            merged.config.merge(s.config) { a, _ in a }
            if let limit = s.concurrencyLimit { merged.concurrencyLimit = min(merged.concurrencyLimit ?? limit, limit) }
        }
        owners.withLock { $0 = index }
        return merged
    }

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        var diagnostics: [Diagnostic] = []
        for member in members {
            let accepted = try await member.schema().config.keys
            var own = request
            own.config = request.config.filter { accepted.contains($0.key) }
            diagnostics += try await member.configure(own).diagnostics
        }
        return ConfigureResponse(diagnostics: diagnostics)
    }

    private func member(for type: String) async throws -> any Provider {
        if owners.withLock({ $0 }) == nil { _ = try await schema() }
        guard let i = owners.withLock({ $0?[type] }) else {
            throw ProviderError(provider: name, message: "no built-in provider serves resource type `\(type)`")
        }
        return members[i]
    }

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        try await member(for: request.type).validate(request)
    }
    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        try await member(for: request.type).plan(request)
    }
    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        try await member(for: request.type).apply(request)
    }
    public func planDelete(_ request: PlanDeleteRequest) async throws -> PlanDeleteResponse {
        try await member(for: request.type).planDelete(request)
    }
    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        try await member(for: request.type).read(request)
    }
    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        try await member(for: request.type).importResource(request)
    }
}
