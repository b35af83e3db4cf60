import ArgumentParser
import Foundation
import MLInfraCore

extension MLInfraCommand {
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make the infrastructure match the spec: plan and apply, or apply a saved plan.")

        @Argument(help: "A plan saved with `mlinfra plan --out FILE`.")
        var planFile: String?

        @OptionGroup var spec: SpecOptions
        @OptionGroup var shape: PlanShapeOptions
        @OptionGroup var lock: LockOptions

        @Flag(name: .customLong("auto-approve"), help: "Apply without asking.")
        var autoApprove = false

        @Option(name: .long, help: "How many operations run at once.")
        var parallelism: Int = 10

        @Flag(name: .customLong("json"), help: "Write one JSON event per line (as terraform apply -json); needs --auto-approve or a saved plan.")
        var json = false
        @Flag(name: .customLong("continue-on-error"), help: "Carry on with what does not depend on a failed operation.")
        var continueOnError = false

        func validate() throws {
            guard parallelism >= 1 else { throw ValidationError("--parallelism must be at least 1.") }
        }

        func run() async throws {
            try await ApplyRun(
                spec: spec, planOptions: shape.options(parallelism: parallelism), lock: lock, planFile: planFile,
                autoApprove: autoApprove, parallelism: parallelism, continueOnError: continueOnError, destroy: shape.destroy, json: json
            ).run()
        }
    }

    struct Destroy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Destroy everything the state records.")

        @OptionGroup var spec: SpecOptions
        @OptionGroup var lock: LockOptions

        @Option(name: .long, help: "Only destroy this address and what depends on it (repeatable).")
        var target: [String] = []

        @Flag(name: .customLong("auto-approve"), help: "Destroy without asking.")
        var autoApprove = false

        @Option(name: .long, help: "How many operations run at once.")
        var parallelism: Int = 10

        @Flag(name: .customLong("json"), help: "Write one JSON event per line (as terraform destroy -json); needs --auto-approve.")
        var json = false

        func run() async throws {
            try await ApplyRun(
                spec: spec, planOptions: PlanOptions(mode: .destroy, targets: target, parallelism: parallelism), lock: lock,
                planFile: nil, autoApprove: autoApprove, parallelism: parallelism, continueOnError: false, destroy: true, json: json
            ).run()
        }
    }
}

/// The flow shared by apply and destroy.
struct ApplyRun {
    var spec: SpecOptions
    var planOptions: PlanOptions
    var lock: LockOptions
    var planFile: String?
    var autoApprove: Bool
    var parallelism: Int
    var continueOnError: Bool
    var destroy: Bool
    var json = false

    func run() async throws {
        let console = Console(noColor: spec.noColor)
        let events = json ? JSONEvents(console: console) : nil
        if json && !autoApprove && planFile == nil {
            throw console.fail("--json needs --auto-approve or a saved plan: there is no prompt in a JSON stream.")
        }
        events?.version()
        var saved: PlanFile?
        var inputs = spec.inputs
        var specOptions = spec
        if let planFile {
            saved = try await Runner.readPlanFile(planFile, spec: specOptions, console: console)
            // The saved plan's non-sensitive variables; sensitive ones come from the environment or --var again.
            inputs.flags = saved!.variables.keys.sorted().map { "\($0)=\(Self.flagText(saved!.variables[$0]!))" } + spec.vars
            if specOptions.spec == "." { specOptions.spec = saved!.specPath }
        }
        let workspace = try await Runner.workspace(specOptions, console: console, inputs: inputs)
        let options = saved?.options ?? planOptions
        let result: ApplyResult? = try await Runner.withLock(
            workspace, operation: destroy ? "destroy" : "apply", timeout: lock.seconds, console: console
        ) {
            var state = try await Runner.readState(workspace, console: console)
            if let saved {
                if let versioned = workspace.store as? any VersionedStateStore {
                    let applied: StateVersionInfo?
                    do { applied = try await versioned.version(appliedPlan: saved.planID) } catch { throw console.fail("\(error)") }
                    if let applied {
                        throw console.fail(
                            "the saved plan \(saved.planID) was already applied: it produced state serial \(applied.serial), written by "
                                + "\(applied.writtenBy) at \(LockInfo.timestamp(applied.writtenAt)). A plan is applied once; run `mlinfra plan` again.")
                    }
                    versioned.setWriteContext(
                        StateWriteContext(actor: Runner.actor, operation: destroy ? "destroy" : "apply", planID: saved.planID))
                }
                if try await workspace.store.read() == nil { state.lineage = saved.baseLineage }
                if let reason = saved.staleness(state: state, workspace: workspace) {
                    throw console.fail("the saved plan is stale: \(reason)")
                }
            }
            var planOptions = options
            planOptions.parallelism = parallelism
            let plan = try await Runner.plan(workspace, state: state, options: planOptions, console: console)
            if let saved {
                let differences = saved.differences(from: plan, key: workspace.configuration.stateKey)
                if !differences.isEmpty {
                    throw console.fail(
                        "the saved plan \(planFile ?? "") is stale: planned again now, it would not do what was reviewed:\n"
                            + differences.map { "  - \($0)\n" }.joined()
                            + "Something changed outside mlinfra since the plan was made (the infrastructure, or a file the spec names). "
                            + "Nothing was applied. Plan again (`mlinfra plan --out FILE`), review it, and apply the new file.")
                }
            }
            if let events {
                events.planned(plan)
            } else if saved == nil {
                console.out(Runner.render(plan, format: .human, console: console, specPath: specOptions.spec))
            }
            guard plan.hasChanges || plan.mode == .refreshOnly || !plan.drift.isEmpty else { return nil }
            if saved == nil && !autoApprove {
                guard isatty(0) != 0 else {
                    throw console.fail("refusing to \(destroy ? "destroy" : "apply") without approval: there is no terminal to ask. Pass --auto-approve, or apply a saved plan.")
                }
                console.out("\nDo you want to perform these actions? Only 'yes' will be accepted.\n  Enter a value: ")
                guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                    throw console.fail("\(destroy ? "destroy" : "apply") cancelled.")
                }
            }
            SignalGuard.shared.beginGracefulStop()
            let applier = Applier(
                configuration: workspace.configuration, plan: plan, store: workspace.store,
                options: ApplyOptions(
                    parallelism: parallelism, continueOnError: continueOnError,
                    context: ApplyContext(actor: Runner.actor, planID: saved?.inputHash ?? workspace.inputHash)),
                observer: events ?? ProgressObserver(console: console) as any ApplyObserver)
            let result = await applier.apply(interrupted: { SignalGuard.shared.isRaised })
            if let events {
                events.diagnostics(result.diagnostics)
                events.summary(result, plan: Dictionary(plan.changes.map { ($0.address.description, $0.action) }) { a, _ in a }, destroy: destroy)
            }
            return result
        }
        guard let result else {
            if let events { events.summary(nil, plan: [:], destroy: destroy) } else { console.out("\nNothing to do.\n") }
            return
        }
        if events == nil { console.show(result.diagnostics) }
        let added = result.succeeded.filter { if case .apply = $0 { true } else { false } }.count
        let destroyed = result.succeeded.filter { if case .delete = $0 { true } else { false } }.count
        if result.interrupted {
            _ = console.fail("interrupted: \(added + destroyed) operation(s) finished and are saved in state; \(result.skipped.count) did not start. Run apply again to finish.")
            throw ExitCode(SignalGuard.status(SIGINT))
        }
        if !result.ok {
            throw console.fail("\(result.failed.count) operation(s) failed, \(result.skipped.count) skipped; \(added + destroyed) finished and are saved in state.")
        }
        let leftovers = destroy ? DestroyLeftovers.settle(spec: specOptions.spec) : []
        if events != nil { return }
        console.out(console.style.green(console.style.bold("\n\(destroy ? "Destroy" : "Apply") complete! \(added) applied, \(destroyed) destroyed.")) + "\n")
        if !leftovers.isEmpty { console.out("\n" + leftovers.joined(separator: "\n") + "\n") }
        let shown = result.outputs.filter { !$0.value.sensitive }
        if !shown.isEmpty || result.outputs.count > 0 {
            console.out("\nOutputs:\n")
            for name in result.outputs.keys.sorted() {
                let o = result.outputs[name]!
                console.out("  \(name) = \(o.sensitive ? "(sensitive)" : o.value.rendered)\n")
            }
        }
    }

    static func flagText(_ value: Value) -> String {
        switch value {
        case .string(let s): s
        case .list, .map: JSONText.encode(value, pretty: false)
        default: value.interpolated ?? value.rendered
        }
    }
}
