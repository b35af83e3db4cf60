import Foundation

/// A saved plan (`plan --out FILE`): what `apply FILE` needs to refuse a stale plan and to carry it out.
///
/// Sensitive variable values are not saved; `apply FILE` takes them again from the
/// environment or `--var`, and the input hash shows whether they are the same.
/// Version 2 keeps every changed instance's planned attributes (`PlannedInstance`), so
/// `apply FILE` can refuse a fresh plan that differs from the reviewed one in any value.
public struct PlanFile: Sendable {
    public static let formatName = "mlinfra-plan"
    public static let currentVersion = 2

    /// A random id, recorded with the state version its apply produces, so the plan is applied once.
    public var planID: String
    public var specPath: String
    public var baseLineage: String
    public var baseSerial: Int
    public var inputHash: String
    public var providerVersions: [String: String]
    public var options: PlanOptions
    /// Non-sensitive variable values the plan was made with.
    public var variables: [String: Value]
    /// What the plan does to each instance it changes, by address, as it was reviewed.
    public var instances: [String: PlannedInstance]
    /// The rendered plan (Terraform JSON shape), for `show FILE`.
    public var rendered: Value
    /// The plan as `plan` printed it, by format (`human`, uncoloured, and `markdown`), so `show FILE` prints exactly what was reviewed.
    public var renderings: [String: String] = [:]
    public var created: Date

    public init(plan: Plan, workspace: Workspace, specPath: String, options: PlanOptions, rendered: Value) {
        self.planID = UUID().uuidString.lowercased()
        self.specPath = specPath
        self.baseLineage = plan.baseLineage
        self.baseSerial = plan.baseSerial
        self.inputHash = workspace.inputHash
        self.providerVersions = workspace.configuration.providers.versions
        self.options = options
        self.variables = workspace.variables.values.filter { !workspace.variables.sensitive.contains($0.key) }
        self.instances = Self.instances(of: plan, key: workspace.configuration.stateKey)
        self.rendered = rendered
        self.created = Date()
    }

    /// The changes of `plan` as a plan file keeps them: secrets as HMACs under `key`.
    public static func instances(of plan: Plan, key: StateKey) -> [String: PlannedInstance] {
        var out: [String: PlannedInstance] = [:]
        for c in plan.changes where c.isChange {
            out[c.address.description] = PlannedInstance(
                action: c.action.rawValue, after: c.after.map { Secrets.redact($0, paths: c.sensitive, key: key) },
                sensitive: c.sensitive.sorted())
        }
        return out
    }

    /// How a fresh plan differs from this saved one, one line per difference naming the
    /// instance and attribute; empty when applying `plan` does exactly what was reviewed.
    /// Secrets compare by their HMACs and are never shown.
    public func differences(from plan: Plan, key: StateKey) -> [String] {
        let fresh = Self.instances(of: plan, key: key)
        var out: [String] = []
        for address in Set(instances.keys).union(fresh.keys).sorted() {
            let saved = instances[address], now = fresh[address]
            guard let saved, let now, saved.action == now.action else {
                out.append(
                    "`\(address)`: the saved plan would \(saved.map(\.verb) ?? "leave it unchanged"), "
                        + "a fresh plan would \(now.map(\.verb) ?? "leave it unchanged")")
                continue
            }
            let before = saved.after ?? [:], after = now.after ?? [:]
            for name in Set(before.keys).union(after.keys).sorted() {
                let old = before[name] ?? .null, new = after[name] ?? .null
                if old.sameValue(as: new) { continue }
                if Secrets.isRedacted(old) && Secrets.isRedacted(new) {
                    out.append("`\(address)`: attribute `\(name)` holds another secret than in the saved plan")
                } else {
                    out.append(
                        "`\(address)`: attribute `\(name)` was \(Secrets.render(old)) in the saved plan, "
                            + "but a fresh plan makes it \(Secrets.render(new))")
                }
            }
        }
        return out
    }

    public func encoded() -> String {
        let value: Value = .map([
            "format": .string(Self.formatName),
            "version": .int(Self.currentVersion),
            "mlinfra_version": .string(MLInfraVersion.current),
            "plan_id": .string(planID),
            "spec_path": .string(specPath),
            "base": .map(["lineage": .string(baseLineage), "serial": .int(baseSerial)]),
            "input_hash": .string(inputHash),
            "provider_versions": .map(providerVersions.mapValues(Value.string)),
            "options": .map([
                "mode": .string(options.mode.rawValue),
                "refresh": .bool(options.refresh),
                "targets": .list(options.targets.map(Value.string)),
                "replace": .list(options.replace.map(Value.string)),
            ]),
            "variables": .map(variables),
            "instances": .map(instances.mapValues(\.wire)),
            "plan": rendered,
            "renderings": .map(renderings.mapValues(Value.string)),
            "created": .string(ISO8601DateFormatter().string(from: created)),
        ])
        return JSONText.encode(value) + "\n"
    }

    /// The file's bytes, sealed when `encryption` is on (see `StateEncryption`).
    public func encoded(encryption: StateEncryption) -> [UInt8] {
        encryption.sealWhole(Array(encoded().utf8), kind: .plan, scope: "")
    }

    /// Reads a plan file, opening it first when it is encrypted.
    public static func read(path: String, encryption: StateEncryption = .none) throws -> PlanFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PlanFileError("cannot read the plan file \(path)", remedy: "Check the path; make a plan with `mlinfra plan --out FILE`.")
        }
        let bytes = try encryption.open(Array(data), kind: .plan, scope: "", location: path)
        let value: Value
        do { value = try JSONText.decode(bytes) } catch {
            throw PlanFileError("\(path) is not a plan file: \(ErrorText.describe(error))", remedy: "Make a new plan with `mlinfra plan --out FILE`.")
        }
        guard value["format"]?.stringValue == formatName else {
            throw PlanFileError("\(path) is not an mlinfra plan file", remedy: "Make one with `mlinfra plan --out FILE`.")
        }
        guard let version = value["version"]?.intValue, version <= currentVersion else {
            throw PlanFileError("\(path) was written by a newer mlinfra", remedy: "Plan again with this mlinfra.")
        }
        guard version == currentVersion else {
            throw PlanFileError(
                "\(path) is a version \(version) plan file, from an mlinfra that did not save the planned values, "
                    + "so it cannot be checked against what apply would do",
                remedy: "Plan again: `mlinfra plan --out FILE`, review it, and apply the new file.")
        }
        guard let base = value["base"], let lineage = base["lineage"]?.stringValue, let serial = base["serial"]?.intValue,
            let hash = value["input_hash"]?.stringValue, let options = value["options"], let planID = value["plan_id"]?.stringValue,
            let instances = value["instances"]?.mapValue
        else { throw PlanFileError("\(path) is damaged: fields are missing", remedy: "Plan again.") }
        var planned: [String: PlannedInstance] = [:]
        for (address, entry) in instances {
            guard let instance = PlannedInstance(wire: entry) else {
                throw PlanFileError("\(path) is damaged: the planned values of `\(address)` are unreadable", remedy: "Plan again.")
            }
            planned[address] = instance
        }
        var file = PlanFile(
            specPath: value["spec_path"]?.stringValue ?? ".", baseLineage: lineage, baseSerial: serial, inputHash: hash,
            providerVersions: (value["provider_versions"]?.mapValue ?? [:]).compactMapValues(\.stringValue),
            options: PlanOptions(
                mode: Plan.Mode(rawValue: options["mode"]?.stringValue ?? "normal") ?? .normal,
                refresh: options["refresh"]?.boolValue ?? true,
                targets: (options["targets"]?.listValue ?? []).compactMap(\.stringValue),
                replace: (options["replace"]?.listValue ?? []).compactMap(\.stringValue)),
            variables: value["variables"]?.mapValue ?? [:],
            instances: planned, rendered: value["plan"] ?? .null, created: Date())
        file.created = value["created"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) } ?? Date()
        file.planID = planID
        file.renderings = (value["renderings"]?.mapValue ?? [:]).compactMapValues(\.stringValue)
        return file
    }

    init(
        specPath: String, baseLineage: String, baseSerial: Int, inputHash: String, providerVersions: [String: String],
        options: PlanOptions, variables: [String: Value], instances: [String: PlannedInstance], rendered: Value, created: Date
    ) {
        self.planID = UUID().uuidString.lowercased()
        self.specPath = specPath
        self.baseLineage = baseLineage
        self.baseSerial = baseSerial
        self.inputHash = inputHash
        self.providerVersions = providerVersions
        self.options = options
        self.variables = variables
        self.instances = instances
        self.rendered = rendered
        self.created = created
    }

    /// Why this saved plan can no longer be applied, or nil when it still can.
    public func staleness(state: StateFile?, workspace: Workspace) -> String? {
        let serial = state?.serial ?? 0
        if serial != baseSerial {
            return "the state changed since the plan was made (serial \(baseSerial), now \(serial)): another apply ran. Plan again."
        }
        if let lineage = state?.lineage, lineage != baseLineage {
            return "the saved plan was made against another state (lineage \(baseLineage), now \(lineage)). Plan again."
        }
        if workspace.inputHash != inputHash {
            return "the spec or the variable values changed since the plan was made. Plan again (sensitive variables must be given again, unchanged, to apply a saved plan)."
        }
        let versions = workspace.configuration.providers.versions
        for (name, version) in providerVersions.sorted(by: { $0.key < $1.key }) where versions[name] != version {
            return "provider `\(name)` changed since the plan was made (\(version), now \(versions[name] ?? "absent")). Plan again."
        }
        return nil
    }
}

/// One instance's change as the saved plan records it.
public struct PlannedInstance: Sendable, Hashable {
    /// The change's action (`create`, `update`, `replace`, `delete`).
    public var action: String
    /// The planned attributes (nil for a delete): unknowns marked `{"$mlinfra_unknown": true}`,
    /// values at `sensitive` paths as HMACs under the state key, never in clear.
    public var after: [String: Value]?
    /// The attribute paths whose values are secret.
    public var sensitive: [String]

    public init(action: String, after: [String: Value]?, sensitive: [String]) {
        self.action = action
        self.after = after
        self.sensitive = sensitive
    }

    var verb: String {
        switch action {
        case "create": "create it"
        case "update": "update it in place"
        case "replace": "replace it"
        case "delete": "delete it"
        default: "\(action) it"
        }
    }

    var wire: Value {
        ["action": .string(action), "after": after.map(Value.map) ?? .null, "sensitive": .list(sensitive.map(Value.string))]
    }

    init?(wire: Value) {
        guard let action = wire["action"]?.stringValue, let sensitive = wire["sensitive"]?.listValue else { return nil }
        let after: [String: Value]?
        switch wire["after"] {
        case .map(let attributes)?: after = attributes
        case .null?, nil: after = nil
        default: return nil
        }
        self.init(action: action, after: after, sensitive: sensitive.compactMap(\.stringValue))
    }
}

public struct PlanFileError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var remedy: String
    public init(_ message: String, remedy: String) {
        self.message = message
        self.remedy = remedy
    }
    public var description: String { "\(message)\n  \(remedy)" }
}
