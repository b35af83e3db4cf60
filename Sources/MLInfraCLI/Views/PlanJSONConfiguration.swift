import Foundation
import MLInfraCore

/// The parts of Terraform's JSON plan that describe the spec rather than the changes —
/// `configuration`, `variables`, `relevant_attributes`, `timestamp` and `planned_values.outputs` —
/// which plan-checking tools (terraform-compliance, checkov) read. See docs/decisions/plan-json.md.
///
/// No secret is written: sensitive variables appear without their value, and an attribute the
/// schema marks sensitive, or that refers to a secret, shows its references only.
extension PlanJSONView {
    /// Adds the spec-derived fields to `root` (a plan's JSON object).
    static func addConfiguration(_ root: inout [String: Value], plan: Plan, configuration: Configuration, now: Date = Date()) {
        let spec = configuration.spec
        var resources: [Value] = []
        for decl in spec.resources {
            // Sensitive paths, nested ones included (`alert.token`): a constant is shown with them masked.
            let sensitive = configuration.providers.resourceSchema(decl.type).map(Secrets.paths(of:)) ?? []
            var constants: [String: Value] = [:]
            for entry in decl.attributes where entry.value.references.isEmpty { constants[entry.key] = constant(entry.value) }
            let shown = masked(constants, sensitive)
            var expressions: [String: Value] = [:]
            for entry in decl.attributes {
                expressions[entry.key] = entry.value.references.isEmpty
                    ? (sensitive.contains(entry.key) || shown[entry.key] == nil ? .map([:]) : .map(["constant_value": shown[entry.key]!]))
                    : expression(entry.value, secret: false)
            }
            var resource: [String: Value] = [
                "address": .string(decl.address), "mode": "managed", "type": .string(decl.type), "name": .string(decl.name),
                "provider_config_key": .string(decl.provider ?? configuration.providers.typeOwners[decl.type] ?? ""),
                "expressions": .map(expressions), "schema_version": .int(0),
            ]
            if let module = decl.module { resource["module_address"] = .string(module) }
            if let forEach = decl.forEach { resource["for_each_expression"] = expression(forEach, secret: false) }
            if !decl.dependsOn.isEmpty { resource["depends_on"] = .list(decl.dependsOn.map { .string($0.0) }) }
            resources.append(.map(resource))
        }
        var variables: [String: Value] = [:]
        var declared: [String: Value] = [:]
        for v in spec.variables {
            var entry: [String: Value] = [:]
            if !v.description.isEmpty { entry["description"] = .string(v.description) }
            if v.sensitive { entry["sensitive"] = true } else if let d = v.defaultValue { entry["default"] = d }
            declared[v.name] = .map(entry)
            if !configuration.variables.sensitive.contains(v.name), let value = configuration.variables.values[v.name] {
                variables[v.name] = .map(["value": value])
            }
        }
        var outputs: [String: Value] = [:]
        for o in spec.outputs {
            var entry: [String: Value] = ["expression": expression(o.value, secret: o.sensitive)]
            if o.sensitive { entry["sensitive"] = true }
            if !o.description.isEmpty { entry["description"] = .string(o.description) }
            outputs[o.name] = .map(entry)
        }
        var providers: [String: Value] = [:]
        for name in configuration.providers.providers.keys.sorted() {
            providers[name] = .map(["name": .string(name), "full_name": .string(providerName(name))])
        }
        root["configuration"] = .map([
            "provider_config": .map(providers),
            "root_module": .map(["resources": .list(resources), "variables": .map(declared), "outputs": .map(outputs)]),
        ])
        root["variables"] = .map(variables)
        root["relevant_attributes"] = .list(plan.drift.flatMap { d in
            (d.changed.isEmpty ? [""] : d.changed).map { path -> Value in
                .map(["resource": .string(d.address.description), "attribute": .list(path.isEmpty ? [] : path.split(separator: ".").map { .string(String($0)) })])
            }
        })
        let stamp = ISO8601DateFormatter()
        stamp.formatOptions = [.withInternetDateTime]
        root["timestamp"] = .string(stamp.string(from: now))
        if case .map(var planned)? = root["planned_values"] {
            var values: [String: Value] = [:]
            for o in plan.outputs where o.action != .delete {
                var entry: [String: Value] = ["sensitive": .bool(o.sensitive)]
                if !o.sensitive, let after = o.after, !after.containsUnknown, !Secrets.isRedacted(after) { entry["value"] = after }
                values[o.name] = .map(entry)
            }
            planned["outputs"] = .map(values)
            root["planned_values"] = .map(planned)
        }
    }

    /// Terraform's expression shape: `constant_value` for a value written as it is, `references`
    /// (`var.x`, `TYPE.NAME.attr` and `TYPE.NAME`) for one that refers to others.
    static func expression(_ expr: SpecExpr, secret: Bool) -> Value {
        let references = expr.references.map(\.0)
        guard references.isEmpty else {
            var names: [String] = []
            for r in references {
                names.append(r.description)
                if let resource = r.resource, !r.path.isEmpty { names.append(resource) }
            }
            var seen = Set<String>()
            return .map(["references": .list(names.filter { seen.insert($0).inserted }.map(Value.string))])
        }
        guard !secret, let value = constant(expr) else { return .map([:]) }
        return .map(["constant_value": value])
    }

    static func constant(_ expr: SpecExpr) -> Value? {
        switch expr {
        case .literal(let v, _): return v
        case .template(let t, _):
            // A function of constants (`${upper("a")}`) is computed, not written: no constant to show.
            guard !t.hasExpressions else { return nil }
            return .string(t.parts.map { if case .text(let s) = $0 { s } else { "" } }.joined())
        case .list(let items, _):
            let values = items.compactMap(constant)
            return values.count == items.count ? .list(values) : nil
        case .map(let entries, _):
            var out: [String: Value] = [:]
            for e in entries {
                guard let v = constant(e.value) else { return nil }
                out[e.key] = v
            }
            return .map(out)
        }
    }
}
