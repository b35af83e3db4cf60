import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    struct ConsoleCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "console",
            abstract: "Evaluate expressions against the spec and state, one a line from standard input.",
            discussion: """
                Each line is an expression (`upper(var.env)`, `local.tags`, `model_version.v3.version`) or text \
                with `${…}` in it. Sensitive values print as (sensitive). Non-interactive use: \
                `echo 'var.env' | mlinfra console --spec DIR`.
                """)

        @OptionGroup var spec: SpecOptions

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let workspace = try await Runner.workspace(spec, console: console)
            let state = try await Runner.readState(workspace, console: console)
            let evaluator = ExpressionConsole(configuration: workspace.configuration, state: state)
            var lineNumber = 0
            var failed = false
            while let line = readLine() {
                lineNumber += 1
                if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
                let (value, diagnostics) = evaluator.evaluate(line, lineNumber: lineNumber)
                console.show(diagnostics)
                if let value { console.out(value + "\n") } else { failed = true }
            }
            if failed { throw ExitCode.failure }
        }
    }
}
