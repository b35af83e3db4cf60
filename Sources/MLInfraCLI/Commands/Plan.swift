import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show what apply would change: refresh state, then diff the spec against it.")

        @OptionGroup var spec: SpecOptions
        @OptionGroup var shape: PlanShapeOptions
        @OptionGroup var lock: LockOptions

        @Option(name: .long, help: "Save the plan to this file, for `mlinfra apply FILE`.")
        var out: String?

        @Flag(name: .customLong("detailed-exitcode"), help: "Exit 0 with no changes, 1 on error, 2 with changes.")
        var detailedExitcode = false

        @Option(name: .long, help: "How many provider calls run at once.")
        var parallelism: Int = 10

        @Option(name: .customLong("comment-limit"), help: "With --format markdown: the comment's size limit in characters; 65000 is GitHub's.")
        var commentLimit: Int = PlanMarkdownView.defaultSizeLimit

        @Flag(name: .customLong("json-stream"), help: "Write one JSON event per line as the plan runs (as terraform plan -json), instead of the rendered plan.")
        var jsonStream = false

        @Option(name: .long, help: "Output format: human, json or markdown.")
        var format: OutputFormat = .human

        func validate() throws {
            guard parallelism >= 1 else { throw ValidationError("--parallelism must be at least 1.") }
            if jsonStream && format != .human { throw ValidationError("--json-stream writes events, not a rendered plan: leave out --format.") }
            guard commentLimit >= 2000 else { throw ValidationError("--comment-limit must be at least 2000 characters.") }
        }

        func run() async throws {
            let console = Console(noColor: spec.noColor)
            let events = jsonStream ? JSONEvents(console: console) : nil
            events?.version()
            let workspace = try await Runner.workspace(spec, console: console)
            let options = shape.options(parallelism: parallelism)
            let plan = try await Runner.withLock(workspace, operation: "plan", timeout: lock.seconds, console: console) {
                let state = try await Runner.readState(workspace, console: console)
                return try await Runner.plan(workspace, state: state, options: options, console: console, events: events)
            }
            if let events {
                events.planned(plan)
            } else {
                console.out(Runner.render(
                    plan, format: format, console: console, specPath: spec.spec, commentLimit: commentLimit, configuration: workspace.configuration))
            }
            if let out {
                var file = PlanFile(
                    plan: plan, workspace: workspace, specPath: spec.spec, options: options, rendered: PlanJSONView.value(plan, configuration: workspace.configuration))
                let plain = Console(noColor: true)
                for (name, format) in [("human", OutputFormat.human), ("markdown", .markdown)] {
                    file.renderings[name] = Runner.render(plan, format: format, console: plain, specPath: spec.spec, commentLimit: commentLimit)
                }
                do {
                    try Data(file.encoded(encryption: workspace.encryption)).write(to: URL(fileURLWithPath: out), options: .atomic)
                } catch {
                    throw console.fail("could not write the plan file \(out): \(error)")
                }
                if format == .human && events == nil { console.out("\nSaved the plan to \(out). Apply it with: mlinfra apply \(out)\n") }
            }
            if detailedExitcode && plan.hasChanges { throw ExitCode(2) }
        }
    }
}
