import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a spec against the provider schemas without touching state.")

        @OptionGroup var spec: SpecOptions

        @Option(name: .long, help: "Output format: human or json.")
        var format: OutputFormat = .human

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let (workspace, diagnostics) = await Workspace.open(
                specPath: spec.spec, inputs: spec.inputs, catalog: BuiltinProviders.catalog,
                // The store is made (its settings checked) but never opened: validate reads no state.
                makeStore: StateBackends.makeStore, loadsStateKey: false)
            if format == .json {
                let items: [Value] = diagnostics.map { d in
                    var m: [String: Value] = ["severity": .string(d.severity.rawValue), "summary": .string(d.summary), "detail": .string(d.detail)]
                    if let l = d.location {
                        m["range"] = .map(["filename": .string(l.file), "start": .map(["line": .int(l.line), "column": .int(l.column)])])
                    }
                    if let a = d.address { m["address"] = .string(a) }
                    return .map(m)
                }
                console.out(JSONText.encode(.map([
                    "format_version": "1.0", "valid": .bool(workspace != nil), "error_count": .int(diagnostics.errors.count),
                    "warning_count": .int(diagnostics.count - diagnostics.errors.count), "diagnostics": .list(items),
                ])) + "\n")
            } else {
                console.show(diagnostics)
                if let workspace {
                    console.out(console.style.green("The spec is valid:") + " \(workspace.configuration.instances.count) resource instance(s) in project \(workspace.spec.project).\n")
                }
            }
            if workspace == nil { throw ExitCode.failure }
        }
    }
}
