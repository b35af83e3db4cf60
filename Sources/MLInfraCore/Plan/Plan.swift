/// What a plan will do to one resource instance.
public enum ChangeAction: String, Sendable, Codable, Hashable {
    case noop = "no-op"
    case create
    case update
    case replace
    case delete
    case read
}

/// Why a change is planned.
public enum ChangeReason: Sendable, Codable, Hashable, CustomStringConvertible {
    case created
    case requested
    case tainted
    case cannotUpdate([String])
    case notInSpec
    case deletedOutside
    case destroyRequested
    case updated([String])

    public var description: String {
        switch self {
        case .created: "not in state"
        case .requested: "replacement requested with --replace"
        case .tainted: "tainted: a previous apply failed half-way"
        case .cannotUpdate(let attributes): "cannot update \(attributes.map { "`\($0)`" }.joined(separator: ", ")) in place"
        case .notInSpec: "not in the spec"
        case .deletedOutside: "deleted outside mlinfra"
        case .destroyRequested: "destroy requested"
        case .updated(let attributes): "changed: \(attributes.joined(separator: ", "))"
        }
    }

    /// The reason in the vocabulary of Terraform's JSON plan (`action_reason`), where one fits.
    public var terraformReason: String? {
        switch self {
        case .requested: "replace_by_request"
        case .tainted: "replace_because_tainted"
        case .cannotUpdate: "replace_because_cannot_update"
        case .notInSpec: "delete_because_no_resource_config"
        case .created, .updated, .deletedOutside, .destroyRequested: nil
        }
    }
}

/// A planned change to one resource instance.
public struct ResourceChange: Sendable, Hashable {
    public var address: ResourceAddress
    public var providerName: String
    public var action: ChangeAction
    public var reason: ChangeReason?
    /// For a replace: create the new one before destroying the old.
    public var createBeforeDestroy: Bool
    /// Attributes before (from refreshed state); nil for a create.
    public var before: [String: Value]?
    /// Attributes after (planned; `unknown` where only apply can tell); nil for a delete.
    public var after: [String: Value]?
    /// Top-level attributes whose values are secret.
    public var sensitive: Set<String>
    /// Top-level attributes that change.
    public var changed: [String]
    /// Attributes that force the replacement.
    public var replacePaths: [String]
    /// Addresses of the instances this one depends on (from the spec, or state for deletes).
    public var dependencies: [String]
    /// The resource declares `prevent_destroy`.
    public var preventDestroy: Bool
    public var warnings: [String]
    /// For a delete: instances whose change in this plan must finish first (they point at
    /// this one now and are moved off it or deleted), as the provider's `planDelete` said.
    public var deleteAfter: [String] = []
    /// The address state held this instance under before a `moved` entry of the spec moved it.
    public var movedFrom: String? = nil
    /// The provider's id of the object an `import` entry brings under this address.
    public var importID: String? = nil

    public var isChange: Bool { action != .noop && action != .read }
}

/// What a data source read while planning: the object its provider found.
public struct DataRead: Sendable, Hashable {
    public var address: String
    public var providerName: String
    public var id: String
    public var attributes: [String: Value]
    public var sensitive: Set<String>
}

/// What a plan changes in state alone, destroying and creating nothing: a move, an import, a forget.
public struct StateChange: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case moved(from: String)
        case imported(id: String)
        case forgotten
    }

    public var address: String
    public var kind: Kind

    public var description: String {
        switch kind {
        case .moved(let from): "\(address) moved from \(from)"
        case .imported(let id): "\(address) will be imported (id \(id))"
        case .forgotten: "\(address) will be forgotten: removed from state, not destroyed"
        }
    }
}

/// A difference between recorded state and what providers report: made outside mlinfra.
public struct DriftChange: Sendable, Hashable {
    public enum Kind: String, Sendable, Codable, Hashable { case update, delete }
    public var address: ResourceAddress
    public var providerName: String
    public var kind: Kind
    public var before: [String: Value]
    public var after: [String: Value]?
    public var sensitive: Set<String>
    public var changed: [String]
}

public struct OutputChange: Sendable, Hashable {
    public var name: String
    public var action: ChangeAction
    public var before: Value?
    public var after: Value?
    public var sensitive: Bool
}

/// The plan: computed by the `Planner`, rendered by views, saved to plan files, executed by the `Applier`.
public struct Plan: Sendable {
    public enum Mode: String, Sendable, Codable, Hashable {
        case normal
        case destroy
        case refreshOnly = "refresh-only"
    }

    public var project: String
    public var mode: Mode
    public var changes: [ResourceChange]
    public var drift: [DriftChange]
    public var outputs: [OutputChange]
    /// State after refresh: what the plan's changes start from.
    public var priorState: StateFile
    /// Lineage and serial of the stored state the plan was made against.
    public var baseLineage: String
    public var baseSerial: Int
    public var warnings: [Diagnostic]
    /// Instances a `removed` entry forgets: taken out of state, their objects left as they are.
    public var forgotten: [ResourceInstanceState] = []
    /// The data sources, as read for this plan; apply evaluates with the same values.
    public var dataReads: [DataRead] = []

    /// Moves, imports and forgets, by address.
    public var stateChanges: [StateChange] {
        var out: [StateChange] = []
        for c in changes {
            if let from = c.movedFrom { out.append(StateChange(address: c.address.description, kind: .moved(from: from))) }
            if let id = c.importID { out.append(StateChange(address: c.address.description, kind: .imported(id: id))) }
        }
        out += forgotten.map { StateChange(address: $0.address, kind: .forgotten) }
        return out.sorted { $0.address < $1.address }
    }

    public var resourceChanges: [ResourceChange] { changes.filter(\.isChange) }

    public var counts: (add: Int, change: Int, destroy: Int) {
        var add = 0, change = 0, destroy = 0
        for c in changes {
            switch c.action {
            case .create: add += 1
            case .update: change += 1
            case .replace:
                add += 1
                destroy += 1
            case .delete: destroy += 1
            case .noop, .read: break
            }
        }
        return (add, change, destroy)
    }

    /// True when applying would change anything: resources, outputs, or (refresh-only) recorded state.
    public var hasChanges: Bool {
        switch mode {
        case .refreshOnly: !drift.isEmpty || outputs.contains { $0.action != .noop }
        default: !resourceChanges.isEmpty || outputs.contains { $0.action != .noop } || !stateChanges.isEmpty
        }
    }

    public func change(_ address: String) -> ResourceChange? { changes.first { $0.address.description == address } }
}
