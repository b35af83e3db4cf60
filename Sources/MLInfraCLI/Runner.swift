import ArgumentParser
import Foundation
import MLInfraCore
import Synchronization

/// The secrets of the workspace this process opened. Every line the console prints passes
/// through it, so a secret that some message quotes is named instead of printed.
enum OutputRedaction {
    static let shared = Mutex(Redactor())

    static func add(_ redactor: Redactor) { shared.withLock { $0.add(contentsOf: redactor) } }
    static func scrub(_ text: String) -> String { shared.withLock { $0.scrub(text) } }
}

/// Writes to the terminal: results to stdout, diagnostics and progress to stderr.
struct Console: Sendable {
    var style: Style
    var errorStyle: Style

    init(noColor: Bool) {
        style = Style.detect(noColor: noColor, fileDescriptor: 1)
        errorStyle = Style.detect(noColor: noColor, fileDescriptor: 2)
    }

    func out(_ text: String) {
        FileHandle.standardOutput.write(Data(OutputRedaction.scrub(text).utf8))
    }

    func err(_ text: String) {
        FileHandle.standardError.write(Data(OutputRedaction.scrub(text).utf8))
    }

    func show(_ diagnostics: Diagnostics) {
        for d in diagnostics {
            let label = d.severity == .error ? errorStyle.red(errorStyle.bold("Error:")) : errorStyle.yellow(errorStyle.bold("Warning:"))
            var text = "\(label) "
            if let location = d.location { text += "\(location): " }
            if let address = d.address, !d.summary.contains(address) { text += "\(address): " }
            text += d.summary + "\n"
            if !d.detail.isEmpty { text += "  " + d.detail.replacingOccurrences(of: "\n", with: "\n  ") + "\n" }
            err(text + "\n")
        }
    }

    /// Prints an error that is not a diagnostic and returns the failure exit code to throw.
    func fail(_ message: String) -> ExitCode {
        err(errorStyle.red(errorStyle.bold("Error:")) + " " + message + "\n")
        return ExitCode.failure
    }
}

/// The shared steps of the commands: open the workspace, take the lock, plan.
enum Runner {
    static func workspace(_ spec: SpecOptions, console: Console, inputs: VariableInputs? = nil) async throws -> Workspace {
        let (workspace, diagnostics) = await Workspace.open(
            specPath: spec.spec, inputs: inputs ?? spec.inputs, catalog: BuiltinProviders.catalog,
            workspace: WorkspaceSelection.name(flag: spec.workspace, specPath: spec.spec), makeStore: StateBackends.makeStore)
        if let workspace { OutputRedaction.add(workspace.configuration.redactor) }
        console.show(diagnostics)
        guard let workspace else { throw ExitCode.failure }
        return workspace
    }

    /// Reads a saved plan. An encrypted one opens with the keys the environment holds; one sealed
    /// under a local state's key file opens with that file's key, found by opening the workspace
    /// `spec` names (so such a plan is applied with the same `--spec` it was made with).
    static func readPlanFile(_ path: String, spec: SpecOptions, console: Console) async throws -> PlanFile {
        let environment = ProcessInfo.processInfo.environment
        do {
            let encryption = try StateEncryption.fromEnvironment(environment)
            do {
                return try PlanFile.read(path: path, encryption: encryption)
            } catch let error as StateError where error.code == .encryption {
                guard let bytes = FileManager.default.contents(atPath: path), StateEncryption.isEncrypted(Array(bytes)) else { throw error }
                let (workspace, _) = await Workspace.open(
                    specPath: spec.spec, inputs: spec.inputs, catalog: BuiltinProviders.catalog,
                    workspace: WorkspaceSelection.name(flag: spec.workspace, specPath: spec.spec), makeStore: StateBackends.makeStore)
                guard let workspace, workspace.encryption.primary != nil else { throw error }
                return try PlanFile.read(path: path, encryption: workspace.encryption.adding(fallbacks: [encryption.primary].compactMap { $0 } + encryption.fallbacks))
            }
        } catch {
            throw console.fail("\(error)")
        }
    }

    /// Reads state (recovering an interrupted apply's journal), or a new empty one.
    static func readState(_ workspace: Workspace, console: Console) async throws -> StateFile {
        do {
            return try await DebugLog.timed("state: read \(workspace.backend)") { try await workspace.store.read() } ?? StateFile.new()
        } catch {
            throw console.fail("\(error)")
        }
    }

    /// Runs `body` holding the state lock; the lock is released however `body` ends.
    static func withLock<T: Sendable>(
        _ workspace: Workspace, operation: String, timeout: Double, console: Console, _ body: () async throws -> T
    ) async throws -> T {
        let info = LockInfo.make(operation: operation)
        // From the wait for the lock on, Ctrl-C and SIGTERM release it before exiting.
        SignalGuard.shared.install(console: console)
        SignalGuard.shared.acquiring()
        (workspace.store as? any VersionedStateStore)?.setWriteContext(StateWriteContext(actor: actor, operation: operation))
        do {
            try await DebugLog.timed("state: lock \(info.id) for \(operation)") { try await workspace.store.lock(info, timeout: timeout) }
        } catch {
            SignalGuard.shared.notAcquired()
            throw console.fail("\(error)")
        }
        await SignalGuard.shared.holding(workspace.store, id: info.id)
        do {
            let result = try await body()
            try? await workspace.store.unlock(id: info.id)
            SignalGuard.shared.released()
            return result
        } catch {
            try? await workspace.store.unlock(id: info.id)
            SignalGuard.shared.released()
            throw error
        }
    }

    /// With `events` (`plan --json-stream`), refreshes are reported as events and so are the diagnostics.
    static func plan(
        _ workspace: Workspace, state: StateFile, options: PlanOptions, console: Console, events: JSONEvents? = nil
    ) async throws -> Plan {
        let planner = Planner(configuration: workspace.configuration, options: options, observer: events)
        let start = ContinuousClock.now
        let (plan, diagnostics) = await planner.plan(state: state)
        DebugLog.logger.debug("plan: \(plan?.resourceChanges.count ?? 0) changes, \(diagnostics.items.count) diagnostics, \(DebugLog.milliseconds(since: start))")
        OutputRedaction.add(planner.seen.current)
        if let events { events.diagnostics(diagnostics) } else { console.show(diagnostics) }
        guard let plan else { throw ExitCode.failure }
        return plan
    }

    /// `specPath`: paths under the spec's directory are shown relative to it (human and Markdown).
    static func render(
        _ plan: Plan, format: OutputFormat, console: Console, specPath: String? = nil, commentLimit: Int = PlanMarkdownView.defaultSizeLimit,
        configuration: Configuration? = nil
    ) -> String {
        let values = PlanValues(root: specPath.map(PlanValues.root(ofSpec:)))
        switch format {
        case .human: return PlanHumanView(style: console.style, values: values).render(plan)
        case .json: return PlanJSONView.render(plan, configuration: configuration)
        case .markdown: return PlanMarkdownView(values: values, sizeLimit: commentLimit).render(plan)
        }
    }

    static var actor: String {
        let env = ProcessInfo.processInfo.environment
        if let ci = env["GITHUB_ACTOR"] ?? env["GITLAB_USER_LOGIN"] { return "\(ci) (CI)" }
        let user = env["USER"] ?? env["LOGNAME"] ?? getpwuid(getuid()).flatMap { String(validatingCString: $0.pointee.pw_name) } ?? "unknown"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }
}

/// Prints a line per operation as it starts and ends, with the elapsed time, and every
/// `interval` seconds a line for each operation still running ("Still creating… [20s elapsed]"),
/// as Terraform does, on a terminal or not.
final class ProgressObserver: ApplyObserver, Sendable {
    let console: Console
    let interval: Double
    private let running = Mutex([String: Task<Void, Never>]())

    /// `MLINFRA_PROGRESS_INTERVAL` (seconds) overrides the 10 s between "still" lines.
    init(console: Console, interval: Double = Double(ProcessInfo.processInfo.environment["MLINFRA_PROGRESS_INTERVAL"] ?? "") ?? 10) {
        self.console = console
        self.interval = max(0.1, interval)
    }

    func started(_ operation: ApplyOperation, action: ChangeAction) {
        console.err("\(operation.address): \(verb(operation, action, done: false))…\n")
        let still = "\(operation.address): Still \(verb(operation, action, done: false).lowercased())…"
        let (console, interval) = (self.console, self.interval)
        let ticker = Task {
            var elapsed = 0.0
            while true {
                do { try await Task.sleep(for: .milliseconds(Int(interval * 1000))) } catch { return }
                elapsed += interval
                console.err("\(still) [\(DurationText.format(seconds: elapsed.rounded())) elapsed]\n")
            }
        }
        running.withLock { $0[operation.description] = ticker }
    }

    func finished(_ operation: ApplyOperation, action: ChangeAction, seconds: Double, error: Diagnostics?) {
        running.withLock { $0.removeValue(forKey: operation.description) }?.cancel()
        let time = String(format: "%.1fs", seconds)
        if error != nil {
            console.err(console.errorStyle.red("\(operation.address): \(verb(operation, action, done: false)) failed after \(time)") + "\n")
        } else {
            console.err(console.errorStyle.green("\(operation.address): \(verb(operation, action, done: true)) after \(time)") + "\n")
        }
    }

    func verb(_ operation: ApplyOperation, _ action: ChangeAction, done: Bool) -> String {
        switch (operation, action) {
        case (.delete, _): done ? "Destruction complete" : "Destroying"
        case (.apply, .update): done ? "Modifications complete" : "Modifying"
        default: done ? "Creation complete" : "Creating"
        }
    }
}
