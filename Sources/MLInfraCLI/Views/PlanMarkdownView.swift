import MLInfraCore

/// Renders a plan as a pull-request comment: summary, a table of changes (destructive first),
/// attribute diffs in collapsible blocks, and drift; kept under GitHub's comment size.
struct PlanMarkdownView {
    static let sizeLimit = 65_000
    var values = PlanValues()

    func render(_ plan: Plan) -> String {
        let counts = plan.counts
        var head = "### mlinfra plan for `\(plan.project)`\n\n"
        if plan.mode == .refreshOnly {
            head += plan.drift.isEmpty ? "**No changes.** State matches reality.\n" : "**Refresh only:** \(plan.drift.count) object(s) changed outside mlinfra.\n"
        } else if !plan.hasChanges {
            head += "**No changes.** Your infrastructure matches the spec.\n"
        } else {
            head += "**Plan: \(counts.add) to add, \(counts.change) to change, \(counts.destroy) to destroy.**\n"
        }
        let changes = plan.resourceChanges
        let destructive = changes.filter { $0.action == .delete || $0.action == .replace }
        if !destructive.isEmpty {
            head += "\n> [!WARNING]\n> This plan destroys \(destructive.count) resource instance\(destructive.count == 1 ? "" : "s"): "
                + destructive.map { "`\($0.address)`" }.joined(separator: ", ") + "\n"
        }
        head += PlanInsights(plan).markdown(escape: escape)
        var sections: [String] = []
        if !changes.isEmpty {
            var table = "\n| | Resource | Action | Reason |\n|---|---|---|---|\n"
            for c in destructive + changes.filter({ $0.action != .delete && $0.action != .replace }) {
                let flag = (c.action == .delete || c.action == .replace) ? "⚠️" : ""
                table += "| \(flag) | `\(c.address)` | \(label(c)) | \(escape(c.reason?.description ?? "")) |\n"
            }
            sections.append(table)
            for c in destructive + changes.filter({ $0.action != .delete && $0.action != .replace }) {
                sections.append(details(c))
            }
        }
        if !plan.drift.isEmpty {
            var drift = "\n#### Changed outside mlinfra\n\n"
            for d in plan.drift {
                drift += "- `\(d.address)` " + (d.kind == .delete ? "was deleted" : "changed: " + d.changed.map { "`\($0)`" }.joined(separator: ", ")) + "\n"
            }
            sections.append(drift)
        }
        let outputs = plan.outputs.filter { $0.action != .noop }
        if !outputs.isEmpty {
            sections.append("\n#### Outputs\n\n" + outputs.map { "- `\($0.name)`: \($0.action.rawValue)" }.joined(separator: "\n") + "\n")
        }
        var body = head
        var omitted = 0
        let reserve = 300
        for section in sections {
            if body.utf8.count + section.utf8.count + reserve > Self.sizeLimit {
                omitted += 1
                continue
            }
            body += section
        }
        if omitted > 0 {
            body += "\n_\(omitted) section(s) left out to stay under GitHub's \(Self.sizeLimit)-character comment limit; run `mlinfra show PLANFILE` for the whole plan._\n"
        }
        return body
    }

    func label(_ c: ResourceChange) -> String {
        switch c.action {
        case .create: "➕ create"
        case .update: "🔄 update in-place"
        case .replace: c.createBeforeDestroy ? "♻️ replace (create first)" : "♻️ replace"
        case .delete: "🗑️ destroy"
        case .noop: "no-op"
        case .read: "read"
        }
    }

    func details(_ c: ResourceChange) -> String {
        var diff = ""
        func show(_ key: String, _ v: Value?) -> String {
            values.show(v, key, c.sensitive)
        }
        switch c.action {
        case .create:
            for k in PlanValues.createKeys(c) { diff += "+ \(k) = \(show(k, c.after?[k]))\n" }
        case .delete:
            for k in (c.before ?? [:]).keys.sorted() { diff += "- \(k) = \(show(k, c.before?[k]))\n" }
        default:
            for k in c.changed {
                diff += "- \(k) = \(show(k, c.before?[k]))\n+ \(k) = \(show(k, c.after?[k]))\(c.replacePaths.contains(k) ? "   # forces replacement" : "")\n"
            }
        }
        return "\n<details><summary><code>\(c.address)</code> — \(label(c))</summary>\n\n```diff\n\(diff.replacingOccurrences(of: "```", with: "ʼʼʼ"))```\n\n</details>\n"
    }

    func escape(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }
}
