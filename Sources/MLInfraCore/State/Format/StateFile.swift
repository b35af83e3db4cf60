import Foundation
import Synchronization

/// The recorded state of one project: every resource instance mlinfra manages, and the outputs.
///
/// Resources are held by address, so `resource(_:)`, `upsert(_:)` and
/// `remove(_:)` cost O(1) whatever the state's size (apply calls them once
/// per operation). `resources` is the same set sorted by address; it is
/// sorted once after a change and then shared, so reading it repeatedly is free.
public struct StateFile: Sendable, Hashable {
    /// The `format` field of every state file.
    public static let formatName = "mlinfra-state"
    /// The format version this mlinfra writes, and the newest it reads.
    public static let currentVersion = 1

    /// Incremented by every write; a plan records it so a stale plan is refused.
    public var serial: Int
    /// Identifies one state's history: set when the state is created, kept by every write.
    public var lineage: String
    /// The mlinfra that last wrote the state.
    public var mlinfraVersion: String
    public var outputs: [String: OutputState]

    private var byAddress: [String: ResourceInstanceState]
    private var sorted: SortedResources

    public init(
        serial: Int, lineage: String, mlinfraVersion: String = MLInfraVersion.current,
        resources: [ResourceInstanceState] = [], outputs: [String: OutputState] = [:]
    ) {
        self.serial = serial
        self.lineage = lineage
        self.mlinfraVersion = mlinfraVersion
        self.outputs = outputs
        self.byAddress = Dictionary(resources.map { ($0.address, $0) }, uniquingKeysWith: { _, last in last })
        self.sorted = SortedResources()
    }

    /// A state from resources already keyed by address (the reader builds this directly).
    init(serial: Int, lineage: String, mlinfraVersion: String, byAddress: [String: ResourceInstanceState], outputs: [String: OutputState]) {
        self.serial = serial
        self.lineage = lineage
        self.mlinfraVersion = mlinfraVersion
        self.outputs = outputs
        self.byAddress = byAddress
        self.sorted = SortedResources()
    }

    /// A fresh, empty state with a new lineage and serial 0.
    public static func new() -> StateFile {
        StateFile(serial: 0, lineage: UUID().uuidString.lowercased())
    }

    /// Every resource instance, sorted by address. Setting it replaces them all (a later duplicate address wins).
    public var resources: [ResourceInstanceState] {
        get { sorted.resources(of: byAddress) }
        set {
            byAddress = Dictionary(newValue.map { ($0.address, $0) }, uniquingKeysWith: { _, last in last })
            sorted = SortedResources()
        }
    }

    /// The number of resource instances.
    public var count: Int { byAddress.count }

    /// All addresses, unsorted (cheap); use `resources` for address order.
    public var addresses: Dictionary<String, ResourceInstanceState>.Keys { byAddress.keys }

    /// The resource instance at an address, if the state has one.
    public func resource(_ address: String) -> ResourceInstanceState? { byAddress[address] }

    /// Adds a resource instance, or replaces the one at the same address.
    public mutating func upsert(_ r: ResourceInstanceState) {
        byAddress[r.address] = r
        sorted = SortedResources()
    }

    /// Removes the resource instance at an address; nothing happens when there is none.
    public mutating func remove(_ address: String) {
        if byAddress.removeValue(forKey: address) != nil { sorted = SortedResources() }
    }

    /// Gives the instance at `from` the address `to` (which must be free); the instances that
    /// depended on it depend on `to`. Nothing happens when `from` is not in state.
    public mutating func move(_ from: String, to: String) {
        guard var r = byAddress.removeValue(forKey: from) else { return }
        r.address = to
        upsert(r)
        renameDependencies([from: to])
    }

    /// Rewrites every dependency on an address `renamed` names to its new address.
    public mutating func renameDependencies(_ renamed: [String: String]) {
        guard !renamed.isEmpty else { return }
        for r in resources where r.dependencies.contains(where: { renamed[$0] != nil }) {
            var updated = r
            updated.dependencies = r.dependencies.map { renamed[$0] ?? $0 }
            upsert(updated)
        }
    }

    public static func == (a: StateFile, b: StateFile) -> Bool {
        a.serial == b.serial && a.lineage == b.lineage && a.mlinfraVersion == b.mlinfraVersion
            && a.outputs == b.outputs && a.byAddress == b.byAddress
    }

    public func hash(into h: inout Hasher) {
        h.combine(serial)
        h.combine(lineage)
        h.combine(mlinfraVersion)
        h.combine(outputs)
        h.combine(byAddress)
    }
}

/// The address-sorted array of a state's resources, computed at most once per change.
///
/// A new box is made on every mutation, so copies of a `StateFile` never see
/// each other's changes; the mutex makes the one-time fill safe when a state
/// value is shared between tasks.
private final class SortedResources: Sendable {
    private let cache = Mutex<[ResourceInstanceState]?>(nil)

    func resources(of byAddress: [String: ResourceInstanceState]) -> [ResourceInstanceState] {
        cache.withLock { cached in
            if let cached { return cached }
            let list = byAddress.keys.sorted().map { byAddress[$0]! }
            cached = list
            return list
        }
    }
}

/// Whether a resource instance is usable, or must be replaced by the next plan.
public enum ResourceStatus: String, Sendable, Hashable, CaseIterable {
    case ready
    /// A create or replace failed half-way: the object may exist but is not trusted.
    case tainted
}

/// One resource instance as recorded in state.
public struct ResourceInstanceState: Sendable, Hashable {
    /// `TYPE.NAME`, or `TYPE.NAME["key"]` for a `for_each` instance.
    public var address: String
    public var type: String
    /// The provider that manages it (`local` for the built-in ones).
    public var provider: String
    /// The id the provider gave it.
    public var id: String
    public var status: ResourceStatus
    /// The spec values it was last applied with, references resolved.
    public var inputs: [String: Value]
    /// What the provider reported after the last apply or refresh.
    public var attributes: [String: Value]
    /// Dotted paths (`inputs.password`, `attributes.token`) whose values are secret.
    public var sensitivePaths: [String]
    /// Addresses this instance depended on when applied; destroy walks them in reverse.
    public var dependencies: [String]
    /// The version of the provider's schema for this type that wrote `attributes`.
    public var schemaVersion: Int

    public init(
        address: String, type: String, provider: String = "local", id: String, status: ResourceStatus = .ready,
        inputs: [String: Value] = [:], attributes: [String: Value] = [:], sensitivePaths: [String] = [],
        dependencies: [String] = [], schemaVersion: Int = 0
    ) {
        self.address = address
        self.type = type
        self.provider = provider
        self.id = id
        self.status = status
        self.inputs = inputs
        self.attributes = attributes
        self.sensitivePaths = sensitivePaths
        self.dependencies = dependencies
        self.schemaVersion = schemaVersion
    }
}

/// A root output's recorded value.
public struct OutputState: Sendable, Hashable {
    public var value: Value
    /// Shown as `(sensitive)` by `mlinfra output` unless asked for by name.
    public var sensitive: Bool

    public init(value: Value, sensitive: Bool = false) {
        self.value = value
        self.sensitive = sensitive
    }
}
