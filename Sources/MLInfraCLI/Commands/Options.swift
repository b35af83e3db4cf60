import ArgumentParser
import Foundation
import MLInfraCore

/// Where the spec is, and the variables it gets.
struct SpecOptions: ParsableArguments {
    @Option(name: .long, help: "The spec: a YAML file or a directory of them.")
    var spec: String = "."

    @Option(name: .customLong("var"), help: ArgumentHelp("Set a variable: NAME=VALUE (repeatable).", valueName: "NAME=VALUE"))
    var vars: [String] = []

    @Option(name: .customLong("var-file"), help: ArgumentHelp("Read variables from a YAML file of name: value (repeatable).", valueName: "FILE"))
    var varFiles: [String] = []

    @Flag(name: .customLong("no-color"), help: "Never colour the output.")
    var noColor = false

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The workspace (one state per environment); default: MLINFRA_WORKSPACE, then `mlinfra workspace select`, then `default`.",
            valueName: "NAME"))
    var workspace: String?

    var inputs: VariableInputs {
        VariableInputs(flags: vars, files: varFiles, environment: ProcessInfo.processInfo.environment)
    }
}

/// Options of commands that write state.
struct LockOptions: ParsableArguments {
    @Option(name: .customLong("lock-timeout"), help: "How long to wait for the state lock, e.g. 30s; 0s fails at once.")
    var lockTimeout: String = "0s"

    func validate() throws {
        guard DurationText.seconds(lockTimeout) != nil || lockTimeout == "0" else {
            throw ValidationError("--lock-timeout must be a duration such as 30s or 5m, not `\(lockTimeout)`.")
        }
    }

    var seconds: Double { DurationText.seconds(lockTimeout) ?? 0 }
}

/// Options that shape a plan.
struct PlanShapeOptions: ParsableArguments {
    @Option(name: .long, help: "Only plan this address and what it depends on (repeatable).")
    var target: [String] = []

    @Option(name: .long, help: "Replace this instance even if nothing changed (repeatable).")
    var replace: [String] = []

    @Option(name: .long, help: "Refresh state from the providers before planning (true or false).")
    var refresh: Bool = true

    @Flag(name: .customLong("refresh-only"), help: "Only bring recorded state up to date with reality.")
    var refreshOnly = false

    @Flag(name: .long, help: "Plan to destroy everything in state.")
    var destroy = false

    func validate() throws {
        if refreshOnly && destroy { throw ValidationError("--refresh-only and --destroy cannot be used together.") }
        if refreshOnly && !refresh { throw ValidationError("--refresh-only needs refreshing; drop --refresh=false.") }
        for address in target + replace where ResourceAddress(parsing: address) == nil {
            throw ValidationError("`\(address)` is not a resource address (TYPE.NAME or TYPE.NAME[\"key\"]).")
        }
    }

    func options(parallelism: Int) -> PlanOptions {
        PlanOptions(
            mode: refreshOnly ? .refreshOnly : (destroy ? .destroy : .normal), refresh: refresh, targets: target,
            replace: replace, parallelism: parallelism)
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case human, json, markdown
}
