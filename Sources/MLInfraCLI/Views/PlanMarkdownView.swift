import MLInfraCore

/// Renders a plan as a pull-request comment, summary first: the counts (also as a
/// machine-readable comment line), the destroys and every provider warning (data loss), what the
/// plan means for serving, then a table and the diffs ranked by risk — destroys and data loss,
/// replaces, updates, creates. Over the size limit (GitHub's, by default) the summary and the
/// warnings always stay; the least risky rows and diffs go first, and the comment says what was cut.
struct PlanMarkdownView {
    static let defaultSizeLimit = 65_000
    var values = PlanValues()
    var sizeLimit = PlanMarkdownView.defaultSizeLimit

    /// How risky a change is, lowest first: a destroy or a change a provider warned about, a replace, an update, a create.
    static func risk(_ c: ResourceChange) -> Int {
        switch c.action {
        case .delete: 0
        case .replace: c.warnings.isEmpty ? 1 : 0
        case .update: c.warnings.isEmpty ? 2 : 0
        default: c.warnings.isEmpty ? 3 : 0
        }
    }

    static func ranked(_ changes: [ResourceChange]) -> [ResourceChange] {
        changes.enumerated().sorted { (risk($0.element), $0.offset) < (risk($1.element), $1.offset) }.map(\.element)
    }

    func render(_ plan: Plan) -> String {
        let counts = plan.counts
        let changes = Self.ranked(plan.resourceChanges)
        let replaces = changes.filter { $0.action == .replace }.count
        var head = "<!-- mlinfra-plan: {\"add\":\(counts.add),\"change\":\(counts.change),\"destroy\":\(counts.destroy),\"replace\":\(replaces),"
            + "\"drift\":\(plan.drift.count),\"warnings\":\(changes.reduce(0) { $0 + $1.warnings.count })} -->\n"
        head += "### mlinfra plan for `\(plan.project)`\n\n"
        if plan.mode == .refreshOnly {
            head += plan.drift.isEmpty ? "**No changes.** State matches reality.\n" : "**Refresh only:** \(plan.drift.count) object(s) changed outside mlinfra.\n"
        } else if !plan.hasChanges {
            head += "**No changes.** Your infrastructure matches the spec.\n"
        } else {
            head += "**Plan: \(counts.add) to add, \(counts.change) to change, \(counts.destroy) to destroy\(PlanValues.stateCounts(plan)).**\n"
        }
        if !plan.dataReads.isEmpty {
            head += "\nData sources read for this plan: " + plan.dataReads.map { "`\($0.address)` (id `\($0.id)`)" }.joined(separator: ", ") + "\n"
        }
        let stateChanges = plan.stateChanges
        if !stateChanges.isEmpty {
            head += "\nState changes, which create and destroy nothing:\n\n"
            for s in stateChanges { head += "- `\(s.address)` " + escape(String(s.description.dropFirst(s.address.count + 1))) + "\n" }
        }
        let destructive = changes.filter { $0.action == .delete || $0.action == .replace }
        if !destructive.isEmpty {
            head += "\n> [!WARNING]\n> This plan destroys \(destructive.count) resource instance\(destructive.count == 1 ? "" : "s"): "
                + destructive.map { "`\($0.address)`" }.joined(separator: ", ") + "\n"
        }
        let warned = changes.filter { !$0.warnings.isEmpty }
        if !warned.isEmpty {
            head += "\n> [!CAUTION]\n> What the providers warn this plan does to stored data:\n>\n"
            for c in warned {
                for w in c.warnings { head += "> - `\(c.address)`: \(escape(inline(w)))\n" }
            }
        }
        head += PlanInsights(plan).markdown(escape: escape)

        // The rest, in risk order, cut from the end when it does not fit.
        let reserve = 400
        var budget = sizeLimit - head.utf8.count - reserve
        var body = ""
        var cut: [ChangeAction: Int] = [:]
        if !changes.isEmpty {
            var table = "\n| | Resource | Action | Reason |\n|---|---|---|---|\n"
            var listed = 0
            for c in changes {
                let flag = Self.risk(c) <= 1 ? "⚠️" : ""
                let row = "| \(flag) | `\(c.address)` | \(label(c)) | \(escape(c.reason?.description ?? "")) |\n"
                guard table.utf8.count + row.utf8.count <= budget / 2 || listed == 0 else { break }
                table += row
                listed += 1
            }
            if listed < changes.count {
                table += "\n_\(changes.count - listed) more not listed: \(Self.describe(changes[listed...]))._\n"
            }
            body += table
            budget -= table.utf8.count
            for c in changes {
                let section = details(c)
                if section.utf8.count > budget {
                    cut[c.action, default: 0] += 1
                    budget = 0  // keep the order: nothing less risky after a cut diff
                    continue
                }
                body += section
                budget -= section.utf8.count
            }
        }
        var tail = ""
        if !plan.drift.isEmpty {
            tail += "\n#### Changed outside mlinfra\n\n"
            for d in plan.drift {
                tail += "- `\(d.address)` " + (d.kind == .delete ? "was deleted" : "changed: " + d.changed.map { "`\($0)`" }.joined(separator: ", ")) + "\n"
            }
        }
        let outputs = plan.outputs.filter { $0.action != .noop }
        if !outputs.isEmpty {
            tail += "\n#### Outputs\n\n" + outputs.map { "- `\($0.name)`: \($0.action.rawValue)" }.joined(separator: "\n") + "\n"
        }
        if tail.utf8.count <= max(budget, 0) { body += tail } else if !tail.isEmpty { cut[.noop, default: 0] += 1 }
        if !cut.isEmpty {
            let diffs = cut.filter { $0.key != .noop }.values.reduce(0, +)
            var parts: [String] = []
            if diffs > 0 { parts.append("\(diffs) diff\(diffs == 1 ? "" : "s") (\(Self.describe(counts: cut.filter { $0.key != .noop })))") }
            if cut[.noop] != nil { parts.append("the drift and outputs sections") }
            body += "\n_Left out to stay under the \(sizeLimit)-character comment limit: \(parts.joined(separator: " and ")); "
                + "`mlinfra show PLANFILE` prints the whole plan._\n"
        }
        return head + body
    }

    /// `3 creates, 1 update`: how many changes of each action.
    static func describe(_ changes: ArraySlice<ResourceChange>) -> String {
        describe(counts: Dictionary(grouping: changes, by: \.action).mapValues(\.count))
    }

    static func describe(counts: [ChangeAction: Int]) -> String {
        let order: [(ChangeAction, String)] = [(.delete, "destroy"), (.replace, "replace"), (.update, "update"), (.create, "create")]
        return order.compactMap { action, noun in counts[action].map { "\($0) \(noun)\($0 == 1 ? "" : "s")" } }.joined(separator: ", ")
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
        let warnings = c.warnings.map { "> ⚠️ \(escape(inline($0)))\n" }.joined()
        let fence = Self.fence(for: diff)
        return "\n<details><summary><code>\(c.address)</code> — \(label(c))</summary>\n\n\(warnings.isEmpty ? "" : warnings + "\n")"
            + "\(fence)diff\n\(diff)\(fence)\n\n</details>\n"
    }

    /// A code fence longer than any run of backticks in `text`, so values show their backticks as they are (CommonMark).
    static func fence(for text: String) -> String {
        var longest = 0, run = 0
        for c in text {
            run = c == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        return String(repeating: "`", count: max(3, longest + 1))
    }

    func escape(_ s: String) -> String { s.replacingOccurrences(of: "|", with: "\\|") }

    /// One line of text for a list item or a quote.
    func inline(_ s: String) -> String { s.replacingOccurrences(of: "\n", with: " ") }
}
