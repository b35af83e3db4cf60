import MLInfraCore

/// Renders a plan in the shape of Terraform's JSON plan format, so tools written for it can read it.
/// mlinfra's own fields sit under `mlinfra` keys, which Terraform never uses.
enum PlanJSONView {
    static let formatVersion = "1.2"
    /// Plan tools check that this names a Terraform version whose plan format they know (terraform-compliance
    /// takes 0.12 to 1.16); a pre-release tag of the release whose format this follows says what wrote it
    /// without naming a real Terraform release (docs/decisions/plan-json.md).
    static var terraformVersion: String { "1.5.0-mlinfra.\(MLInfraVersion.current)" }

    /// The plan as Terraform's JSON plan; with `configuration`, also the spec-derived parts plan tools read.
    static func value(_ plan: Plan, configuration: Configuration? = nil) -> Value {
        var root: [String: Value] = [
            "format_version": .string(formatVersion),
            "terraform_version": .string(terraformVersion),
            "applyable": .bool(plan.hasChanges),
            "complete": .bool(true),
            "errored": .bool(false),
        ]
        root["resource_changes"] = .list(plan.changes.map(resourceChange) + plan.forgotten.map(forgetChange) + plan.dataReads.map(dataRead))
        root["resource_drift"] = .list(plan.drift.map(driftChange))
        var outputs: [String: Value] = [:]
        for o in plan.outputs {
            outputs[o.name] = change(
                actions: actions(o.action, cbd: false), before: o.before, after: o.after,
                sensitiveKeys: [], wholeSensitive: o.sensitive)
        }
        root["output_changes"] = .map(outputs)
        root["prior_state"] = priorState(plan.priorState)
        var planned: [Value] = []
        for c in plan.changes where c.action != .delete {
            guard let after = c.after else { continue }
            planned.append(.map(resourceHeader(c.address, provider: c.providerName).merging([
                "values": .map(masked(after, c.sensitive)),
                "sensitive_values": .map(sensitiveMarks(c.sensitive, in: after)),
            ]) { a, _ in a }))
        }
        root["planned_values"] = .map(["root_module": .map(["resources": .list(planned)])])
        root["mlinfra"] = .map([
            "project": .string(plan.project),
            "mode": .string(plan.mode.rawValue),
            "base_lineage": .string(plan.baseLineage),
            "base_serial": .int(plan.baseSerial),
            "summary": .map([
                "add": .int(plan.counts.add), "change": .int(plan.counts.change), "destroy": .int(plan.counts.destroy),
                "replace": .int(plan.changes.filter { $0.action == .replace }.count), "drift": .int(plan.drift.count),
                "warnings": .int(plan.changes.reduce(0) { $0 + $1.warnings.count }),
            ]),
            "has_changes": .bool(plan.hasChanges),
            "mlinfra_version": .string(MLInfraVersion.current),
            "serving": PlanInsights(plan).json,
        ])
        if let configuration { addConfiguration(&root, plan: plan, configuration: configuration) }
        return .map(root)
    }

    /// One JSON document on one line, as `terraform show -json` writes it (tools read the first line).
    static func render(_ plan: Plan, configuration: Configuration? = nil) -> String {
        JSONText.encode(value(plan, configuration: configuration), pretty: false) + "\n"
    }

    static func resourceHeader(_ address: ResourceAddress, provider: String) -> [String: Value] {
        var header: [String: Value] = [
            "address": .string(address.description),
            "mode": .string("managed"),
            "type": .string(address.type),
            "name": .string(address.name),
            "provider_name": .string(providerName(provider)),
        ]
        if let key = address.key { header["index"] = .string(key) }
        // Terraform's field for a resource inside a module: the calls that hold it.
        if let module = address.module { header["module_address"] = .string(module) }
        return header
    }

    static func providerName(_ name: String) -> String { "mlinfra/\(name)" }

    static func resourceChange(_ c: ResourceChange) -> Value {
        var entry = resourceHeader(c.address, provider: c.providerName)
        var body = change(
            actions: actions(c.action, cbd: c.createBeforeDestroy), before: c.before.map(Value.map), after: c.after.map(Value.map),
            sensitiveKeys: c.sensitive, wholeSensitive: false)
        if case .map(var m) = body, !c.replacePaths.isEmpty {
            m["replace_paths"] = .list(c.replacePaths.map { .list([.string($0)]) })
            body = .map(m)
        }
        entry["change"] = body
        if let reason = c.reason {
            if let tf = reason.terraformReason { entry["action_reason"] = .string(tf) }
            entry["mlinfra_reason"] = .string(reason.description)
        }
        // Terraform's fields for a `moved` block (1.1) and an `import` block (1.5).
        if let from = c.movedFrom { entry["previous_address"] = .string(from) }
        if let id = c.importID, case .map(var m) = entry["change"] {
            m["importing"] = .map(["id": .string(id)])
            entry["change"] = .map(m)
        }
        // What the provider warned of (records a replace drops, an index rebuilt in place).
        if !c.warnings.isEmpty { entry["mlinfra_warnings"] = .list(c.warnings.map(Value.string)) }
        return .map(entry)
    }

    /// A data source read for the plan, as Terraform writes a data resource: mode `data`, action `read`.
    static func dataRead(_ read: DataRead) -> Value {
        let base = String(read.address.split(separator: ".", omittingEmptySubsequences: false).suffix(2).joined(separator: "."))
        let address = ResourceAddress(parsing: base) ?? ResourceAddress(type: read.address, name: "")
        var entry = resourceHeader(address, provider: read.providerName)
        entry["address"] = .string(read.address)
        entry["mode"] = .string("data")
        if let module = read.address.range(of: ".data.").map({ String(read.address[..<$0.lowerBound]) }) { entry["module_address"] = .string(module) }
        entry["change"] = change(actions: ["read"], before: nil, after: .map(read.attributes), sensitiveKeys: read.sensitive, wholeSensitive: false)
        return .map(entry)
    }

    /// An instance a `removed` entry forgets, as Terraform (1.7) writes one: the action `forget`.
    static func forgetChange(_ r: ResourceInstanceState) -> Value {
        let address = ResourceAddress(parsing: r.address) ?? ResourceAddress(type: r.type, name: r.address)
        var entry = resourceHeader(address, provider: r.provider)
        entry["change"] = change(
            actions: ["forget"], before: .map(r.attributes), after: nil, sensitiveKeys: r.sensitiveAttributes, wholeSensitive: false)
        entry["mlinfra_reason"] = .string("removed from state by a `removed` entry; the object is not destroyed")
        return .map(entry)
    }

    static func driftChange(_ d: DriftChange) -> Value {
        var entry = resourceHeader(d.address, provider: d.providerName)
        entry["change"] = change(
            actions: [d.kind == .delete ? "delete" : "update"], before: .map(d.before), after: d.after.map(Value.map),
            sensitiveKeys: d.sensitive, wholeSensitive: false)
        return .map(entry)
    }

    static func actions(_ action: ChangeAction, cbd: Bool) -> [String] {
        switch action {
        case .noop: ["no-op"]
        case .create: ["create"]
        case .update: ["update"]
        case .delete: ["delete"]
        case .read: ["read"]
        case .replace: cbd ? ["create", "delete"] : ["delete", "create"]
        }
    }

    static func change(actions: [String], before: Value?, after: Value?, sensitiveKeys: Set<String>, wholeSensitive: Bool) -> Value {
        func clean(_ v: Value?) -> Value {
            guard let v else { return .null }
            if wholeSensitive { return .null }
            if case .map(let m) = v { return .map(masked(m, sensitiveKeys)) }
            return v.isUnknown || Secrets.isRedacted(v) ? .null : v
        }
        func sensitivity(_ v: Value?) -> Value {
            if wholeSensitive { return .bool(true) }
            guard case .map(let m)? = v else { return .bool(false) }
            return .map(sensitiveMarks(sensitiveKeys, in: m))
        }
        return .map([
            "actions": .list(actions.map(Value.string)),
            "before": clean(before),
            "after": clean(after),
            "after_unknown": unknownMarks(after),
            "before_sensitive": before == nil ? .bool(false) : sensitivity(before),
            "after_sensitive": after == nil ? .bool(false) : sensitivity(after),
        ])
    }

    /// Values with secrets and unknowns taken out (Terraform marks them in the sibling objects).
    static func masked(_ m: [String: Value], _ sensitive: Set<String>) -> [String: Value] {
        Secrets.mask(m, paths: sensitive).mapValues { stripUnknown(stripSecrets($0)) }
    }

    /// Redacted and masked parts become null: Terraform's JSON plan keeps secrets out of values
    /// and marks them in `*_sensitive`.
    static func stripSecrets(_ v: Value) -> Value {
        if Secrets.isRedacted(v) { return .null }
        switch v {
        case .map(let m): return .map(m.mapValues(stripSecrets))
        case .list(let l): return .list(l.map(stripSecrets))
        default: return v
        }
    }

    static func stripUnknown(_ v: Value) -> Value {
        switch v {
        case .unknown: .null
        case .list(let l): .list(l.map(stripUnknown))
        case .map(let m): .map(m.mapValues(stripUnknown))
        default: v
        }
    }

    static func unknownMarks(_ v: Value?) -> Value {
        guard let v else { return .bool(false) }
        switch v {
        case .unknown: return .bool(true)
        case .map(let m):
            var out: [String: Value] = [:]
            for (k, x) in m where x.containsUnknown { out[k] = unknownMarks(x) }
            return .map(out)
        case .list(let l) where l.contains(where: \.containsUnknown):
            return .list(l.map { $0.containsUnknown ? unknownMarks($0) : .bool(false) })
        default: return .bool(false)
        }
    }

    /// Terraform's `*_sensitive` shape: `true` where a value is secret, nested maps and lists
    /// where only parts of it are, nothing for what is not.
    static func sensitiveMarks(_ keys: Set<String>, in m: [String: Value]) -> [String: Value] {
        var out: [String: Value] = [:]
        for (k, v) in Secrets.mask(m, paths: keys) {
            if let mark = marks(v) { out[k] = mark }
        }
        for k in keys where !k.contains(".") && m[k] != nil { out[k] = .bool(true) }
        return out
    }

    static func marks(_ v: Value) -> Value? {
        if Secrets.isRedacted(v) { return .bool(true) }
        switch v {
        case .map(let m):
            var out: [String: Value] = [:]
            for (k, x) in m { if let mark = marks(x) { out[k] = mark } }
            return out.isEmpty ? nil : .map(out)
        case .list(let l):
            let inner = l.map(marks)
            return inner.allSatisfy({ $0 == nil }) ? nil : .list(inner.map { $0 ?? .bool(false) })
        default: return nil
        }
    }

    static func priorState(_ state: StateFile) -> Value {
        let resources: [Value] = state.resources.map { r in
            let address = ResourceAddress(parsing: r.address) ?? ResourceAddress(type: r.type, name: r.address)
            let sensitive = r.sensitiveAttributes
            return .map(resourceHeader(address, provider: r.provider).merging([
                "values": .map(masked(r.attributes.merging(["id": .string(r.id)]) { a, _ in a }, sensitive)),
                "sensitive_values": .map(sensitiveMarks(sensitive, in: r.attributes)),
                "mlinfra_status": .string(r.status.rawValue),
            ]) { a, _ in a })
        }
        var outputs: [String: Value] = [:]
        for (name, o) in state.outputs {
            outputs[name] = .map(["value": o.sensitive ? .null : o.value, "sensitive": .bool(o.sensitive)])
        }
        return .map([
            "format_version": .string("1.0"),
            "values": .map(["root_module": .map(["resources": .list(resources)]), "outputs": .map(outputs)]),
            "mlinfra_serial": .int(state.serial),
            "mlinfra_lineage": .string(state.lineage),
        ])
    }
}
