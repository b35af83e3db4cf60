import Foundation

/// What the core asks of a provider. Every call takes a request struct and
/// returns a response struct, so a field can be added without breaking callers.
///
/// Built-in providers are called in process; external ones through
/// `PluginProvider`, which speaks the same calls as JSON-RPC over stdio.
public protocol Provider: Sendable {
    func schema() async throws -> ProviderSchema
    func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse
    func validate(_ request: ValidateRequest) async throws -> ValidateResponse
    func plan(_ request: PlanRequest) async throws -> PlanResponse
    func apply(_ request: ApplyRequest) async throws -> ApplyResponse
    func read(_ request: ReadRequest) async throws -> ReadResponse
    func importResource(_ request: ImportRequest) async throws -> ImportResponse
    /// Asked for each instance a plan deletes: which other objects still point at it.
    /// The default says none; plugins are asked over the wire as `plan_delete`.
    func planDelete(_ request: PlanDeleteRequest) async throws -> PlanDeleteResponse
}

extension Provider {
    public func planDelete(_ request: PlanDeleteRequest) async throws -> PlanDeleteResponse { PlanDeleteResponse() }
}

public struct PlanDeleteRequest: Sendable, Codable, Hashable {
    public var type: String
    public var address: String
    /// What state holds for the instance to be deleted (after refresh).
    public var prior: ResourceObject

    public init(type: String, address: String, prior: ResourceObject) {
        self.type = type
        self.address = address
        self.prior = prior
    }
}

/// An object that points at an instance a plan deletes, e.g. an alias at a model version.
public struct DeleteHolder: Sendable, Codable, Hashable {
    /// The holder's resource type and id, as a managed instance of it would have in state.
    public var type: String
    public var id: String
    /// The holder's attribute that points at the deleted instance, and its value now.
    public var attribute: String
    public var value: Value
    /// How to name the holder to a person, e.g. `alias fraud@production`.
    public var description: String

    public init(type: String, id: String, attribute: String, value: Value, description: String) {
        self.type = type
        self.id = id
        self.attribute = attribute
        self.value = value
        self.description = description
    }
}

public struct PlanDeleteResponse: Sendable, Codable, Hashable {
    /// Objects still pointing at the instance. The delete is refused at plan time unless
    /// the same plan deletes each of them, or changes its `attribute` to another value.
    public var heldBy: [DeleteHolder]
    public var diagnostics: [AttributeDiagnostic]

    public init(heldBy: [DeleteHolder] = [], diagnostics: [AttributeDiagnostic] = []) {
        self.heldBy = heldBy
        self.diagnostics = diagnostics
    }
}

public struct ConfigureRequest: Sendable, Codable, Hashable {
    /// The settings from `providers: NAME:` in the spec, resolved.
    public var config: [String: Value]
    /// The spec's root directory; relative paths in the spec are relative to it.
    public var workingDirectory: String

    public init(config: [String: Value], workingDirectory: String) {
        self.config = config
        self.workingDirectory = workingDirectory
    }
}

public struct ConfigureResponse: Sendable, Codable, Hashable {
    public var diagnostics: [Diagnostic]
    public init(diagnostics: [Diagnostic] = []) { self.diagnostics = diagnostics }
}

public struct ValidateRequest: Sendable, Codable, Hashable {
    public var type: String
    public var address: String
    /// The spec's values; references to resources not yet created are `unknown`.
    public var config: [String: Value]

    public init(type: String, address: String, config: [String: Value]) {
        self.type = type
        self.address = address
        self.config = config
    }
}

public struct ValidateResponse: Sendable, Codable, Hashable {
    /// Problems with the config; `location` may be left nil, the core fills in the resource's.
    /// Name the attribute in `attribute` so the core can point at its line.
    public var diagnostics: [AttributeDiagnostic]
    public init(diagnostics: [AttributeDiagnostic] = []) { self.diagnostics = diagnostics }
}

/// A diagnostic about one attribute of a resource (dotted path), or the whole resource when nil.
public struct AttributeDiagnostic: Sendable, Codable, Hashable {
    public var attribute: String?
    public var diagnostic: Diagnostic
    public init(attribute: String? = nil, _ diagnostic: Diagnostic) {
        self.attribute = attribute
        self.diagnostic = diagnostic
    }
}

public struct PlanRequest: Sendable, Codable, Hashable {
    public var type: String
    public var address: String
    /// What state holds for the resource (after refresh); nil when it is to be created.
    public var prior: ResourceObject?
    /// The spec's values, resolved as far as they can be before apply (may hold `unknown`).
    public var proposed: [String: Value]
    /// The instances it depends on that this plan creates, updates or replaces (addresses). A
    /// resource that follows what another one resolves to (an endpoint serving a model alias the
    /// plan moves) plans a change of its own from them, though its own inputs stay the same.
    public var changedDependencies: [String]?

    public init(type: String, address: String, prior: ResourceObject?, proposed: [String: Value], changedDependencies: [String]? = nil) {
        self.type = type
        self.address = address
        self.prior = prior
        self.proposed = proposed
        self.changedDependencies = changedDependencies
    }
}

public struct PlanResponse: Sendable, Codable, Hashable {
    /// The attributes the resource will have after apply: inputs plus computed ones,
    /// `unknown` where only apply can tell. Include `id` when it is known already.
    public var planned: [String: Value]
    /// Dotted attribute paths whose change needs a replace, beyond the schema's `forceNew` ones.
    public var requiresReplace: [String]
    /// Computed attributes that apply will change in place though the inputs stay the same (an
    /// endpoint that rolls out the version a moved alias now names): the plan shows an update of them.
    public var changesInPlace: [String]?
    public var diagnostics: [AttributeDiagnostic]

    public init(planned: [String: Value], requiresReplace: [String] = [], changesInPlace: [String]? = nil, diagnostics: [AttributeDiagnostic] = []) {
        self.planned = planned
        self.requiresReplace = requiresReplace
        self.changesInPlace = changesInPlace
        self.diagnostics = diagnostics
    }
}

/// A resource as it exists: its id and what the provider reports about it.
public struct ResourceObject: Sendable, Codable, Hashable {
    public var id: String
    public var attributes: [String: Value]
    public init(id: String, attributes: [String: Value]) {
        self.id = id
        self.attributes = attributes
    }
}

public enum ApplyAction: String, Sendable, Codable, Hashable {
    case create
    case update
    case delete
}

/// Facts about the run an apply belongs to, for audit trails.
public struct ApplyContext: Sendable, Codable, Hashable {
    /// Who runs the apply (user@host, or the CI job).
    public var actor: String
    /// The plan's id (hash) the change comes from.
    public var planID: String?
    public var reason: String?
    /// For a create: a key naming this create across retries — the state's lineage, the address,
    /// and for a replacement the id it replaces. A provider that records it with what it creates
    /// can adopt, on the next apply, what a create interrupted by a crash left behind, instead of
    /// creating it twice; the key of a replacement differs from the key of what it replaces.
    public var creationKey: String?

    public init(actor: String, planID: String? = nil, reason: String? = nil, creationKey: String? = nil) {
        self.actor = actor
        self.planID = planID
        self.reason = reason
        self.creationKey = creationKey
    }
}

public struct ApplyRequest: Sendable, Codable, Hashable {
    public var type: String
    public var address: String
    public var action: ApplyAction
    /// The resource before the change; nil for a create.
    public var prior: ResourceObject?
    /// The spec's values, fully resolved (no unknowns); empty for a delete.
    public var config: [String: Value]
    /// What the provider planned, for reference.
    public var planned: [String: Value]
    public var context: ApplyContext

    public init(
        type: String, address: String, action: ApplyAction, prior: ResourceObject?,
        config: [String: Value], planned: [String: Value], context: ApplyContext
    ) {
        self.type = type
        self.address = address
        self.action = action
        self.prior = prior
        self.config = config
        self.planned = planned
        self.context = context
    }
}

public struct ApplyResponse: Sendable, Codable, Hashable {
    /// The resource after the change; nil after a delete. When `diagnostics` holds an
    /// error and `new` is not nil, the resource was made half-way: the core records it
    /// as tainted and the next plan replaces it.
    public var new: ResourceObject?
    public var diagnostics: [Diagnostic]

    public init(new: ResourceObject?, diagnostics: [Diagnostic] = []) {
        self.new = new
        self.diagnostics = diagnostics
    }
}

public struct ReadRequest: Sendable, Codable, Hashable {
    public var type: String
    public var address: String
    public var id: String
    /// What state holds, for providers that need more than the id.
    public var prior: ResourceObject
    /// For a data source (`data.TYPE.NAME`): what to look up, as the spec writes it (the id is empty).
    /// The provider answers with the one object it finds, or nil for none.
    public var query: [String: Value]?

    public init(type: String, address: String, id: String, prior: ResourceObject, query: [String: Value]? = nil) {
        self.type = type
        self.address = address
        self.id = id
        self.prior = prior
        self.query = query
    }
}

public struct ReadResponse: Sendable, Codable, Hashable {
    /// The resource as it is now; nil when it no longer exists.
    public var current: ResourceObject?
    public var diagnostics: [Diagnostic]

    public init(current: ResourceObject?, diagnostics: [Diagnostic] = []) {
        self.current = current
        self.diagnostics = diagnostics
    }
}

public struct ImportRequest: Sendable, Codable, Hashable {
    public var type: String
    public var address: String
    public var id: String
    public init(type: String, address: String, id: String) {
        self.type = type
        self.address = address
        self.id = id
    }
}

public struct ImportResponse: Sendable, Codable, Hashable {
    /// The resource found under that id; nil when there is none.
    public var imported: ResourceObject?
    public var diagnostics: [Diagnostic]
    public init(imported: ResourceObject?, diagnostics: [Diagnostic] = []) {
        self.imported = imported
        self.diagnostics = diagnostics
    }
}

/// A provider failure with context; its description never carries secret values.
public struct ProviderError: Error, Sendable, CustomStringConvertible {
    public var provider: String
    public var message: String
    public var detail: String

    public init(provider: String, message: String, detail: String = "") {
        self.provider = provider
        self.message = message
        self.detail = detail
    }

    public var description: String {
        detail.isEmpty ? "provider \(provider): \(message)" : "provider \(provider): \(message)\n  \(detail)"
    }
}
