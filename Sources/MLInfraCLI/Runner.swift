import ArgumentParser
import Foundation
import MLInfraCore

/// Writes to the terminal: results to stdout, diagnostics and progress to stderr.
struct Console: Sendable {
    var style: Style
    var errorStyle: Style

    init(noColor: Bool) {
        style = Style.detect(noColor: noColor, fileDescriptor: 1)
        errorStyle = Style.detect(noColor: noColor, fileDescriptor: 2)
    }

    func out(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    func err(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
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
        console.show(diagnostics)
        guard let workspace else { throw ExitCode.failure }
        return workspace
    }

    /// Reads state (recovering an interrupted apply's journal), or a new empty one.
    static func readState(_ workspace: Workspace, console: Console) async throws -> StateFile {
        do {
            return try await workspace.store.read() ?? StateFile.new()
        } catch {
            throw console.fail("\(error)")
        }
    }

    /// Runs `body` holding the state lock; the lock is released however `body` ends.
    static func withLock<T: Sendable>(
        _ workspace: Workspace, operation: String, timeout: Double, console: Console, _ body: () async throws -> T
    ) async throws -> T {
        let info = LockInfo.make(operation: operation)
        (workspace.store as? any VersionedStateStore)?.setWriteContext(StateWriteContext(actor: actor, operation: operation))
        do {
            try await workspace.store.lock(info, timeout: timeout)
        } catch {
            throw console.fail("\(error)")
        }
        do {
            let result = try await body()
            try? await workspace.store.unlock(id: info.id)
            return result
        } catch {
            try? await workspace.store.unlock(id: info.id)
            throw error
        }
    }

    static func plan(_ workspace: Workspace, state: StateFile, options: PlanOptions, console: Console) async throws -> Plan {
        let (plan, diagnostics) = await Planner(configuration: workspace.configuration, options: options).plan(state: state)
        console.show(diagnostics)
        guard let plan else { throw ExitCode.failure }
        return plan
    }

    static func render(_ plan: Plan, format: OutputFormat, console: Console) -> String {
        switch format {
        case .human: PlanHumanView(style: console.style).render(plan)
        case .json: PlanJSONView.render(plan)
        case .markdown: PlanMarkdownView().render(plan)
        }
    }

    static var actor: String {
        let env = ProcessInfo.processInfo.environment
        if let ci = env["GITHUB_ACTOR"] ?? env["GITLAB_USER_LOGIN"] { return "\(ci) (CI)" }
        let user = env["USER"] ?? env["LOGNAME"] ?? getpwuid(getuid()).flatMap { String(validatingCString: $0.pointee.pw_name) } ?? "unknown"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }
}

/// Becomes true on the first SIGINT or SIGTERM; a second SIGINT exits at once.
final class InterruptFlag: @unchecked Sendable {
    // Written from the signal source's queue, read by the apply; guarded by `lock`.
    private let lock = NSLock()
    private var raised = false
    private var sources: [DispatchSourceSignal] = []

    var isRaised: Bool { lock.withLock { raised } }

    func install(console: Console) {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [weak self] in
                guard let self else { return }
                let again = self.lock.withLock { () -> Bool in
                    defer { self.raised = true }
                    return self.raised
                }
                if again && sig == SIGINT {
                    console.err("\nSecond interrupt: exiting now. Finished operations are in the state journal.\n")
                    exit(130)
                }
                console.err("\nInterrupt received: no new operations will start; waiting for running ones to finish, then saving state…\n")
            }
            source.resume()
            sources.append(source)
        }
    }
}

/// Prints a line per operation as it starts and ends, with the elapsed time.
struct ProgressObserver: ApplyObserver {
    let console: Console

    func started(_ operation: ApplyOperation, action: ChangeAction) {
        console.err("\(operation.address): \(verb(operation, action, done: false))…\n")
    }

    func finished(_ operation: ApplyOperation, action: ChangeAction, seconds: Double, error: Diagnostics?) {
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
