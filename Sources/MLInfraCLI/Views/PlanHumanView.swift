import MLInfraCore

/// Renders a plan for a person at a terminal, in the manner of Terraform.
struct PlanHumanView {
    var style: Style
    var values = PlanValues()

    func render(_ plan: Plan) -> String {
        var out = ""
        if !plan.drift.isEmpty {
            out += style.bold("Objects have changed outside of mlinfra") + "\n\n"
            for d in plan.drift {
                switch d.kind {
                case .delete:
                    out += "  " + style.red("-") + " \(d.address) has been deleted\n"
                case .update:
                    out += "  " + style.yellow("~") + " \(d.address) has changed\n"
                    for key in d.changed {
                        out += "      \(key): \(show(d.before[key], key, d.sensitive)) → \(show(d.after?[key], key, d.sensitive))\n"
                    }
                }
            }
            out += "\n"
        }
        if plan.mode == .refreshOnly {
            if plan.drift.isEmpty {
                out += "No changes. The recorded state matches what the providers report.\n"
            } else {
                out += "Applying this refresh-only plan will update the recorded state to match; it changes no resource.\n"
            }
            return out + outputsSection(plan)
        }
        let changes = plan.resourceChanges
        let stateChanges = plan.stateChanges
        if changes.isEmpty && !plan.outputs.contains(where: { $0.action != .noop }) && stateChanges.isEmpty {
            return out + "No changes. Your infrastructure matches the spec.\n"
        }
        let destructive = changes.filter { $0.action == .delete || $0.action == .replace }
        if !destructive.isEmpty {
            out += style.red(style.bold("Warning: this plan destroys \(destructive.count) resource instance\(destructive.count == 1 ? "" : "s"):")) + "\n"
            for c in destructive {
                out += "  " + style.red(symbol(c)) + " \(c.address)" + (c.reason.map { "  (\($0))" } ?? "") + "\n"
            }
            out += "\n"
        }
        out += PlanInsights(plan).human(style)
        out += "mlinfra will perform the following actions:\n\n"
        let ordered = destructive + changes.filter { $0.action != .delete && $0.action != .replace }
        for c in ordered {
            out += render(c) + "\n"
        }
        if !plan.dataReads.isEmpty {
            out += "Data sources read for this plan:\n\n"
            for read in plan.dataReads {
                out += "  <= \(read.address) (id \(read.id))\n"
                for key in read.attributes.keys.sorted() where key != "id" {
                    out += "       \(key) = \(show(read.attributes[key], key, read.sensitive))\n"
                }
            }
            out += "\n"
        }
        if !stateChanges.isEmpty {
            out += "State changes, which create and destroy nothing:\n\n"
            for s in stateChanges { out += "  # \(s)\n" }
            out += "\n"
        }
        let counts = plan.counts
        out += style.bold("Plan: \(counts.add) to add, \(counts.change) to change, \(counts.destroy) to destroy\(PlanValues.stateCounts(plan)).") + "\n"
        return out + outputsSection(plan)
    }

    func render(_ c: ResourceChange) -> String {
        let head: String
        switch c.action {
        case .create: head = style.green("+") + " \(c.address) will be created"
        case .update: head = style.yellow("~") + " \(c.address) will be updated in-place"
        case .replace:
            head = style.red(c.createBeforeDestroy ? "+/-" : "-/+") + " \(c.address) must be replaced"
                + (c.reason.map { " (\($0))" } ?? "")
        case .delete: head = style.red("-") + " \(c.address) will be destroyed" + (c.reason.map { " (\($0))" } ?? "")
        case .noop, .read: head = "  \(c.address)"
        }
        var lines = ["  " + head]
        switch c.action {
        case .create:
            for key in PlanValues.createKeys(c) {
                lines.append("      " + style.green("+") + " \(key) = \(show(c.after?[key], key, c.sensitive))")
            }
        case .delete:
            for key in (c.before ?? [:]).keys.sorted() {
                lines.append("      " + style.red("-") + " \(key) = \(show(c.before?[key], key, c.sensitive))")
            }
        case .update, .replace:
            for key in c.changed {
                let forces = c.replacePaths.contains(key) ? style.red("  # forces replacement") : ""
                lines.append("      " + style.yellow("~") + " \(key): \(show(c.before?[key], key, c.sensitive)) → \(show(c.after?[key], key, c.sensitive))\(forces)")
            }
        case .noop, .read: break
        }
        for w in c.warnings { lines.append("      " + style.yellow("! ") + w) }
        return lines.joined(separator: "\n") + "\n"
    }

    func outputsSection(_ plan: Plan) -> String {
        let changed = plan.outputs.filter { $0.action != .noop }
        guard !changed.isEmpty else { return "" }
        var out = "\nChanges to outputs:\n"
        for o in changed {
            let after = o.sensitive ? "(sensitive)" : (o.after?.rendered ?? "null")
            switch o.action {
            case .create: out += "  " + style.green("+") + " \(o.name) = \(after)\n"
            case .delete: out += "  " + style.red("-") + " \(o.name)\n"
            default:
                let before = o.sensitive ? "(sensitive)" : (o.before?.rendered ?? "null")
                out += "  " + style.yellow("~") + " \(o.name): \(before) → \(after)\n"
            }
        }
        return out
    }

    func symbol(_ c: ResourceChange) -> String {
        switch c.action {
        case .delete: "-"
        case .replace: c.createBeforeDestroy ? "+/-" : "-/+"
        default: "~"
        }
    }

    func show(_ value: Value?, _ key: String, _ sensitive: Set<String>) -> String {
        values.show(value, key, sensitive)
    }
}
