/// A value as written in a spec: literals, strings with `${…}`, lists and maps, each with its location.
public indirect enum SpecExpr: Sendable, Hashable {
    case literal(Value, SourceLocation)
    case template(Template, SourceLocation)
    case list([SpecExpr], SourceLocation)
    case map([SpecEntry], SourceLocation)

    public var location: SourceLocation {
        switch self {
        case .literal(_, let l), .template(_, let l), .list(_, let l), .map(_, let l): l
        }
    }

    /// Every reference inside, with where it is written.
    public var references: [(Reference, SourceLocation)] {
        switch self {
        case .literal: []
        case .template(let t, _): t.references
        case .list(let items, _): items.flatMap(\.references)
        case .map(let entries, _): entries.flatMap(\.value.references)
        }
    }

    /// Every function call inside, with where it is written.
    public var calls: [(name: String, arguments: [Expression], location: SourceLocation)] {
        switch self {
        case .literal: []
        case .template(let t, _): t.calls
        case .list(let items, _): items.flatMap(\.calls)
        case .map(let entries, _): entries.flatMap(\.value.calls)
        }
    }

    /// The entry with that key, when this is a map.
    public func entry(_ key: String) -> SpecEntry? {
        if case .map(let entries, _) = self { return entries.first { $0.key == key } }
        return nil
    }
}

/// One `key: value` of a spec mapping.
public struct SpecEntry: Sendable, Hashable {
    public var key: String
    public var keyLocation: SourceLocation
    public var value: SpecExpr

    public init(key: String, keyLocation: SourceLocation, value: SpecExpr) {
        self.key = key
        self.keyLocation = keyLocation
        self.value = value
    }
}

/// A spec: one file or a directory of them, merged.
public struct SpecDocument: Sendable {
    /// The directory relative paths in the spec are relative to.
    public var rootDirectory: String
    public var files: [String]
    public var formatVersion: Int
    public var project: String
    public var projectLocation: SourceLocation
    public var backend: BackendDecl?
    public var variables: [VariableDecl]
    public var providers: [ProviderDecl]
    public var resources: [ResourceDecl] {
        didSet { resourceIndex = Self.index(resources) }
    }
    public var outputs: [OutputDecl]
    /// Named expressions under `locals:`, read as `${local.NAME}`.
    public var locals: [LocalDecl] = []
    /// Calls of modules under `modules:`, each with the module it loaded.
    public var modules: [ModuleCall] = []
    /// `data:` entries: objects looked up through their provider at plan time.
    public var dataSources: [DataDecl] = []
    /// `moved:`, `import:` and `removed:` blocks: changes to what state records, reviewed in the plan.
    public var stateBlocks: [StateBlock] = []
    private var resourceIndex: [String: Int]

    public init(
        rootDirectory: String, files: [String], formatVersion: Int, project: String, projectLocation: SourceLocation,
        backend: BackendDecl?, variables: [VariableDecl], providers: [ProviderDecl], resources: [ResourceDecl],
        outputs: [OutputDecl]
    ) {
        self.rootDirectory = rootDirectory
        self.files = files
        self.formatVersion = formatVersion
        self.project = project
        self.projectLocation = projectLocation
        self.backend = backend
        self.variables = variables
        self.providers = providers
        self.resources = resources
        self.outputs = outputs
        self.resourceIndex = Self.index(resources)
    }

    static func index(_ resources: [ResourceDecl]) -> [String: Int] {
        Dictionary(resources.enumerated().map { ($1.address, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func variable(_ name: String) -> VariableDecl? { variables.first { $0.name == name } }
    public func resource(_ address: String) -> ResourceDecl? { resourceIndex[address].map { resources[$0] } }
}

public enum VariableType: String, Sendable, Hashable, CaseIterable {
    case string, int, number, bool, list, map, any
}

public struct VariableDecl: Sendable, Hashable {
    public var name: String
    public var type: VariableType
    public var defaultValue: Value?
    public var allowed: [Value]?
    public var sensitive: Bool
    public var description: String
    public var location: SourceLocation
}

public struct BackendDecl: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case local, postgres }
    public var kind: Kind
    /// The state file path (may hold `${var.x}`), for `local`.
    public var path: SpecExpr?
    /// The server URL, for `postgres` (usually `${var.pg_url}` with a sensitive variable); MLINFRA_PG_URL when absent.
    public var url: SpecExpr?
    /// The schema holding mlinfra's tables, for `postgres` (default `mlinfra`).
    public var schema: SpecExpr?
    /// How many versions of each state to keep, for `postgres` (default: all).
    public var retainVersions: SpecExpr?
    public var location: SourceLocation
}

/// A `providers:` entry: `local` (built in) or an external plugin with `command` and `sha256`.
public struct ProviderDecl: Sendable, Hashable {
    public var name: String
    public var command: String?
    public var args: [String]
    public var sha256: String?
    /// Added to the plugin's environment (`env:`).
    public var env: [String: String] = [:]
    /// The per-call limit as written (`timeout: 10m`); nil for the default.
    public var timeout: String?
    /// Settings passed to `configure`: the entry's `config:` block for plugins, the entry itself for built-ins.
    public var config: [SpecEntry]
    public var location: SourceLocation
}

public struct Lifecycle: Sendable, Hashable {
    public var preventDestroy = false
    public var createBeforeDestroy = false
    public var ignoreChanges: [String] = []
    public init() {}
}

/// A `resources:` entry.
public struct ResourceDecl: Sendable, Hashable {
    public var type: String
    public var name: String
    public var location: SourceLocation
    /// The attributes, without the meta-arguments below.
    public var attributes: [SpecEntry]
    public var dependsOn: [(String, SourceLocation)]
    public var forEach: SpecExpr?
    public var lifecycle: Lifecycle
    /// `provider:` naming which configured provider serves it; nil for the one that declares the type.
    public var provider: String?
    /// The module path of a resource that a module call brought in (`module.serving["dev"]`); nil in the root.
    public var module: String? = nil

    public var address: String { (module.map { $0 + "." } ?? "") + "\(type).\(name)" }

    public static func == (a: ResourceDecl, b: ResourceDecl) -> Bool {
        a.address == b.address && a.location == b.location && a.attributes == b.attributes
            && a.dependsOn.map(\.0) == b.dependsOn.map(\.0) && a.forEach == b.forEach && a.lifecycle == b.lifecycle
            && a.provider == b.provider
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(address)
        hasher.combine(location)
    }

    /// Every reference in the attributes and `for_each`.
    public var references: [(Reference, SourceLocation)] {
        attributes.flatMap(\.value.references) + (forEach?.references ?? [])
    }
}

/// A `locals:` entry: a named expression.
public struct LocalDecl: Sendable, Hashable {
    public var name: String
    public var value: SpecExpr
    public var location: SourceLocation
    /// True for a module's sensitive variable or output, flattened into a local: its value is secret as a whole.
    public var sensitive = false
}

/// A `data:` entry, `TYPE.NAME: { QUERY… }`, read as `${data.TYPE.NAME.attribute}`.
public struct DataDecl: Sendable {
    public var type: String
    public var name: String
    public var location: SourceLocation
    /// What to look up; the provider of `type` says which settings it takes.
    public var query: [SpecEntry]
    /// The module instance it is written in; nil in the root.
    public var module: String? = nil

    public var address: String { (module.map { $0 + "." } ?? "") + "data.\(type).\(name)" }
}

/// One entry of `moved:` (`from`, `to`), `import:` (`to`, `id`) or `removed:` (`from`), optionally
/// once per `for_each` item (`each.key` / `each.value` in its addresses and id).
public struct StateBlock: Sendable {
    public enum Kind: String, Sendable { case moved, `import`, removed }
    public var kind: Kind
    public var from: SpecExpr?
    public var to: SpecExpr?
    public var id: SpecExpr?
    public var forEach: SpecExpr?
    public var location: SourceLocation
    /// The module instance the block is written in (its addresses are relative to it); nil in the root.
    public var module: String? = nil
}

/// A `modules:` entry: a directory of spec files used with inputs, once or per `for_each` item.
public struct ModuleCall: Sendable {
    public var name: String
    /// The directory, as written (relative to the calling spec's directory).
    public var source: String
    public var location: SourceLocation
    /// Values for the module's variables, written in the caller's scope.
    public var inputs: [SpecEntry]
    public var forEach: SpecExpr?
    /// The module's own spec (its variables, locals, resources, outputs and module calls); nil when it could not be read.
    public var document: SpecDocument?
}

public struct OutputDecl: Sendable, Hashable {
    public var name: String
    public var value: SpecExpr
    public var sensitive: Bool
    public var description: String
    public var location: SourceLocation
}

/// The meta-arguments a resource may carry besides its attributes.
public enum MetaArguments {
    public static let names: Set<String> = ["depends_on", "for_each", "lifecycle", "provider"]
}
