import MLInfraCore

/// What a plan means for the running ML system, beyond its resource diffs: a model alias that
/// moves rolls out every endpoint that serves it. The views print these first, so a reviewer
/// sees "endpoint.fraud will serve fraud_detector v2 (was v1)" before the attribute diffs.
struct PlanInsights {
    /// One endpoint (or none) affected by an alias that moves.
    struct Rollout: Sendable, Hashable {
        var alias: String          // model_alias.production
        var model: String          // fraud_detector
        var aliasName: String      // production
        var from: String           // "v1", or "no version"
        var to: String             // "v2", or "a version this apply registers"
        var endpoint: String?      // endpoint.fraud
        var canary: String?        // "models:/fraud_detector/2 at 10 %"
        /// The two versions' tags and descriptions, side by side: (key, was, will be).
        var comparison: [(String, String, String)]

        static func == (a: Rollout, b: Rollout) -> Bool { a.sentence == b.sentence }
        func hash(into hasher: inout Hasher) { hasher.combine(sentence) }

        var sentence: String {
            guard let endpoint else {
                return "\(alias) moves \(model)@\(aliasName) from \(from) to \(to); no endpoint of this spec serves it"
            }
            return "\(endpoint) will serve \(model) \(to) (was \(from))" + (canary.map { ", canary \($0)" } ?? "")
        }
    }

    let rollouts: [Rollout]

    init(_ plan: Plan) {
        var out: [Rollout] = []
        let versions = plan.changes.filter { $0.address.type == "model_version" }
        func version(_ value: Value?) -> String {
            if let n = value?.intValue { return "v\(n)" }
            if value?.isUnknown == true { return "a version this apply registers" }
            return "no version"
        }
        /// A version's planned attributes and which of them are secret.
        func version(of model: String, _ value: Value?) -> (attributes: [String: Value], sensitive: Set<String>)? {
            guard let number = value?.intValue else { return nil }
            return versions.lazy.compactMap { c in (c.after ?? c.before).map { ($0, c.sensitive) } }
                .first { $0.0["model"]?.stringValue == model && $0.0["version"]?.intValue == number }
        }
        for alias in plan.changes where alias.address.type == "model_alias" && (alias.action == .update || alias.action == .replace) {
            let before = alias.before?["version"], after = alias.after?["version"]
            // What is built from a secret is not shown here either (the diff below says "(sensitive)").
            guard before != after, !["model", "alias", "version"].contains(where: { Secrets.covers(alias.sensitive, $0) }),
                let model = (alias.after ?? alias.before)?["model"]?.stringValue
            else { continue }
            let name = (alias.after ?? alias.before)?["alias"]?.stringValue ?? alias.address.name
            var comparison: [(String, String, String)] = []
            let old = version(of: model, before), new = version(of: model, after)
            if old != nil || new != nil {
                func text(_ side: (attributes: [String: Value], sensitive: Set<String>)?, _ path: String) -> String {
                    guard let side else { return "—" }
                    if Secrets.covers(side.sensitive, path) { return "(sensitive)" }
                    guard let v = Value.map(side.attributes).value(at: path) else { return "—" }
                    return v.isUnknown ? "(known after apply)" : v.interpolated ?? "—"
                }
                let oldTags = old?.attributes["tags"]?.mapValue ?? [:], newTags = new?.attributes["tags"]?.mapValue ?? [:]
                for key in Set(oldTags.keys).union(newTags.keys).sorted() {
                    comparison.append(("tags.\(key)", text(old, "tags.\(key)"), text(new, "tags.\(key)")))
                }
                for key in ["dataset", "run_id", "commit", "sha256"] where old?.attributes[key] != nil || new?.attributes[key] != nil {
                    let was = text(old, key), will = text(new, key)
                    if was != will { comparison.append((key, key == "sha256" ? String(was.prefix(12)) : was, key == "sha256" ? String(will.prefix(12)) : will)) }
                }
            }
            var base = Rollout(alias: alias.address.description, model: model, aliasName: name, from: version(before), to: version(after),
                               endpoint: nil, canary: nil, comparison: comparison)
            let endpoints = plan.changes.filter { $0.address.type == "endpoint" && $0.dependencies.contains(alias.address.description) }
            if endpoints.isEmpty { out.append(base) }
            for endpoint in endpoints {
                base.endpoint = endpoint.address.description
                let traffic = (endpoint.after ?? endpoint.before)?["traffic"]
                if let canary = traffic?["canary"], !canary.isNull, !Secrets.covers(endpoint.sensitive, "traffic") {
                    let percent = traffic?["percent"]?.doubleValue ?? 10
                    base.canary = (canary.isUnknown ? "a version this apply registers" : canary.interpolated ?? "?")
                        + " at \(percent == percent.rounded() ? String(Int(percent)) : String(percent)) %"
                }
                out.append(base)
            }
        }
        rollouts = out
    }

    var isEmpty: Bool { rollouts.isEmpty }

    func human(_ style: Style) -> String {
        guard !isEmpty else { return "" }
        var out = style.bold("What this plan changes for serving:") + "\n"
        for r in rollouts {
            out += "  " + style.yellow("↻") + " \(r.sentence)\n"
            for (key, was, will) in r.comparison { out += "      \(key): \(was) → \(will)\n" }
        }
        return out + "\n"
    }

    /// The rollouts for tools that render their own view: the sentence, and its parts as fields.
    var json: Value {
        .list(rollouts.map { r in
            .map([
                "summary": .string(r.sentence),
                "alias": .string(r.alias), "model": .string(r.model), "alias_name": .string(r.aliasName),
                "from": .string(r.from), "to": .string(r.to),
                "endpoint": r.endpoint.map(Value.string) ?? .null, "canary": r.canary.map(Value.string) ?? .null,
                "comparison": .list(r.comparison.map { key, was, will in .map(["key": .string(key), "was": .string(was), "will_be": .string(will)]) }),
            ])
        })
    }

    func markdown(escape: (String) -> String) -> String {
        guard !isEmpty else { return "" }
        var out = "\n#### What this plan changes for serving\n\n"
        for r in rollouts {
            out += "- 🔁 " + escape(r.sentence) + "\n"
            if !r.comparison.isEmpty {
                out += "\n  | | \(escape(r.from)) | \(escape(r.to)) |\n  |---|---|---|\n"
                for (key, was, will) in r.comparison { out += "  | `\(key)` | \(escape(was)) | \(escape(will)) |\n" }
                out += "\n"
            }
        }
        return out
    }
}
