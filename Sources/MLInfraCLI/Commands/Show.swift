import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the state, or a saved plan.")

        @Argument(help: "A plan saved with `mlinfra plan --out FILE`.")
        var planFile: String?

        @OptionGroup var spec: SpecOptions

        @Option(name: .long, help: "Output format: human, json or markdown.")
        var format: OutputFormat = .human

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            if let planFile {
                let file = try await Runner.readPlanFile(planFile, spec: spec, console: console)
                switch format {
                case .json: console.out(JSONText.encode(file.rendered, pretty: false) + "\n")
                default:
                    // The plan exactly as `plan` printed it; a file from before renderings were saved gets a summary.
                    if let text = file.renderings[format == .markdown ? "markdown" : "human"] {
                        console.out(text)
                    } else {
                        console.out(SavedPlanView(style: format == .human ? console.style : .plain, markdown: format == .markdown).render(file))
                    }
                }
                return
            }
            let workspace = try await Runner.workspace(spec, console: console)
            let state = try await Runner.readState(workspace, console: console)
            switch format {
            case .json:
                console.out(JSONText.encode(.map([
                    "format_version": "1.0", "values": PlanJSONView.priorState(state)["values"] ?? .null,
                    "mlinfra": .map(["serial": .int(state.serial), "lineage": .string(state.lineage)]),
                ]), pretty: false) + "\n")
            default:
                if state.count == 0 { console.out("The state is empty. Run `mlinfra apply` to create resources.\n") }
                for r in state.resources {
                    console.out(console.style.bold("# \(r.address)") + (r.status == .tainted ? console.style.red(" (tainted)") : "") + "\n")
                    let sensitive = r.sensitiveAttributes
                    console.out("    id = \(Secrets.display(.string(r.id), at: "id", sensitive: sensitive))\n")
                    for key in r.attributes.keys.sorted() where key != "id" {
                        console.out("    \(key) = \(Secrets.display(r.attributes[key], at: key, sensitive: sensitive))\n")
                    }
                    console.out("\n")
                }
                if !state.outputs.isEmpty {
                    console.out("Outputs:\n")
                    for name in state.outputs.keys.sorted() {
                        let o = state.outputs[name]!
                        console.out("  \(name) = \(o.sensitive ? "(sensitive)" : o.value.rendered)\n")
                    }
                }
            }
        }
    }
}

/// A saved plan shown from its Terraform-shaped JSON.
struct SavedPlanView {
    var style: Style
    var markdown: Bool

    func render(_ file: PlanFile) -> String {
        var out = markdown ? "### Saved plan\n\n" : ""
        let changes = file.rendered["resource_changes"]?.listValue ?? []
        var add = 0, change = 0, destroy = 0
        for c in changes {
            let actions = (c["change"]?["actions"]?.listValue ?? []).compactMap(\.stringValue)
            guard actions != ["no-op"] else { continue }
            let address = c["address"]?.stringValue ?? "?"
            let symbol: String
            switch actions {
            case ["create"]: symbol = style.green("+"); add += 1
            case ["update"]: symbol = style.yellow("~"); change += 1
            case ["delete"]: symbol = style.red("-"); destroy += 1
            default: symbol = style.red("-/+"); add += 1; destroy += 1
            }
            let reason = c["mlinfra_reason"]?.stringValue.map { "  (\($0))" } ?? ""
            out += markdown ? "- `\(address)`: \(actions.joined(separator: ", "))\(reason)\n" : "  \(symbol) \(address)\(reason)\n"
        }
        out += (markdown ? "\n**" : "\n") + "Plan: \(add) to add, \(change) to change, \(destroy) to destroy." + (markdown ? "**\n" : "\n")
        out += "Made against state serial \(file.baseSerial) (lineage \(file.baseLineage)).\n"
        return out
    }
}
