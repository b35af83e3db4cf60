import Foundation

/// A saved plan (`plan --out FILE`): what `apply FILE` needs to refuse a stale plan and to carry it out.
///
/// Sensitive variable values are not saved; `apply FILE` takes them again from the
/// environment or `--var`, and the input hash shows whether they are the same.
public struct PlanFile: Sendable {
    public static let formatName = "mlinfra-plan"
    public static let currentVersion = 1

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
    /// Planned action per instance address (changes only).
    public var actions: [String: String]
    /// The rendered plan (Terraform JSON shape), for `show FILE`.
    public var rendered: Value
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
        self.actions = Self.actions(of: plan)
        self.rendered = rendered
        self.created = Date()
    }

    public static func actions(of plan: Plan) -> [String: String] {
        var out: [String: String] = [:]
        for c in plan.changes where c.isChange { out[c.address.description] = c.action.rawValue }
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
            "actions": .map(actions.mapValues(Value.string)),
            "plan": rendered,
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
            throw PlanFileError("\(path) is not a plan file: \(error)", remedy: "Make a new plan with `mlinfra plan --out FILE`.")
        }
        guard value["format"]?.stringValue == formatName else {
            throw PlanFileError("\(path) is not an mlinfra plan file", remedy: "Make one with `mlinfra plan --out FILE`.")
        }
        guard let version = value["version"]?.intValue, version <= currentVersion else {
            throw PlanFileError("\(path) was written by a newer mlinfra", remedy: "Plan again with this mlinfra.")
        }
        guard let base = value["base"], let lineage = base["lineage"]?.stringValue, let serial = base["serial"]?.intValue,
            let hash = value["input_hash"]?.stringValue, let options = value["options"]
        else { throw PlanFileError("\(path) is damaged: fields are missing", remedy: "Plan again.") }
        var file = PlanFile(
            specPath: value["spec_path"]?.stringValue ?? ".", baseLineage: lineage, baseSerial: serial, inputHash: hash,
            providerVersions: (value["provider_versions"]?.mapValue ?? [:]).compactMapValues(\.stringValue),
            options: PlanOptions(
                mode: Plan.Mode(rawValue: options["mode"]?.stringValue ?? "normal") ?? .normal,
                refresh: options["refresh"]?.boolValue ?? true,
                targets: (options["targets"]?.listValue ?? []).compactMap(\.stringValue),
                replace: (options["replace"]?.listValue ?? []).compactMap(\.stringValue)),
            variables: value["variables"]?.mapValue ?? [:],
            actions: (value["actions"]?.mapValue ?? [:]).compactMapValues(\.stringValue),
            rendered: value["plan"] ?? .null, created: Date())
        file.created = value["created"]?.stringValue.flatMap { ISO8601DateFormatter().date(from: $0) } ?? Date()
        // Plan files from before plan ids: an id fixed by what the plan was made from, so the same file still maps to one id.
        file.planID = value["plan_id"]?.stringValue ?? "\(lineage)-\(serial)-\(hash.prefix(16))"
        return file
    }

    init(
        specPath: String, baseLineage: String, baseSerial: Int, inputHash: String, providerVersions: [String: String],
        options: PlanOptions, variables: [String: Value], actions: [String: String], rendered: Value, created: Date
    ) {
        self.planID = UUID().uuidString.lowercased()
        self.specPath = specPath
        self.baseLineage = baseLineage
        self.baseSerial = baseSerial
        self.inputHash = inputHash
        self.providerVersions = providerVersions
        self.options = options
        self.variables = variables
        self.actions = actions
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

public struct PlanFileError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var remedy: String
    public init(_ message: String, remedy: String) {
        self.message = message
        self.remedy = remedy
    }
    public var description: String { "\(message)\n  \(remedy)" }
}
