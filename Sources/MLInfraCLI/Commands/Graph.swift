import ArgumentParser
import MLInfraCore

extension MLInfraCommand {
    struct Graph: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the resource dependency graph (dot or mermaid).")

        enum Format: String, ExpressibleByArgument { case dot, mermaid }

        @OptionGroup var spec: SpecOptions

        @Option(name: .long, help: "dot (Graphviz) or mermaid.")
        var format: Format = .dot

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            let graph = workspace.configuration.graph
            let nodes = workspace.configuration.instances.map(\.address.description)
            var out = ""
            switch format {
            case .dot:
                out += "digraph mlinfra {\n  rankdir = \"RL\";\n  node [shape = box];\n"
                for n in nodes { out += "  \(quote(n));\n" }
                for n in nodes { for d in graph.dependencies(of: n) { out += "  \(quote(n)) -> \(quote(d));\n" } }
                out += "}\n"
            case .mermaid:
                out += "graph RL\n"
                var ids: [String: String] = [:]
                for (i, n) in nodes.enumerated() {
                    ids[n] = "n\(i)"
                    out += "  n\(i)[\"\(n.replacingOccurrences(of: "\"", with: "#quot;"))\"]\n"
                }
                for n in nodes { for d in graph.dependencies(of: n) { out += "  \(ids[n]!) --> \(ids[d]!)\n" } }
            }
            console.out(out)
        }

        func quote(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }
    }
}
