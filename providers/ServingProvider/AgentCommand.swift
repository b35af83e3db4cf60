import ArgumentParser
import Foundation
import MLInfraCore
import Logging
import ModelServing
import ServiceLifecycle
import Synchronization

/// `mlinfra agent`: the data plane — endpoint routers, replicas and autoscalers, plus any
/// services other engines register (e.g. the drift monitor's schedules) — with graceful
/// shutdown on SIGINT/SIGTERM.
public struct AgentCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the data plane: serve endpoints (and run schedules) from the data directory's control stores.",
        discussion: "Without options it runs in the foreground until SIGINT or SIGTERM. `--detach` starts it in the background (pid file and log under <data_dir>/serving/); `--stop` stops a background agent."
    )

    @Option(name: .customLong("data-dir"), help: "The local engines' data directory (default: the spec's providers.local.data_dir, else .mlinfra).")
    public var dataDirOption: String?
    @Option(name: .long, help: "The spec file or directory (default: the current directory when it holds YAML files): where the data directory is found.")
    public var spec: String?
    @Flag(name: .long, help: "Start the agent in the background and return.")
    public var detach = false
    @Flag(name: .long, help: "Stop the background agent of this data directory.")
    public var stop = false

    public init() {}

    private static let extra = Mutex<[@Sendable (URL) -> any Service]>([])

    /// Adds a service the agent runs beside serving; it gets the data directory.
    /// Register before `MLInfraCommand.main()` runs.
    public static func register(service make: @escaping @Sendable (URL) -> any Service) {
        extra.withLock { $0.append(make) }
    }

    /// The services registered with `register(service:)`.
    public static var extraServices: [@Sendable (URL) -> any Service] { extra.withLock { $0 } }

    public func validate() throws {
        if detach && stop { throw ValidationError("--detach and --stop cannot be used together") }
    }

    public func run() async throws {
        let dataDirectory: URL
        do { dataDirectory = try EngineDataDirectory.resolve(dataDir: dataDirOption, spec: spec) } catch { throw CommandFailure("\(error)") }
        let files = AgentProcess(dataDirectory: dataDirectory)
        if stop {
            if let pid = try files.stop() {
                print("agent (pid \(pid)) stopped")
            } else {
                print("no agent runs for \(dataDirectory.path)")
            }
            return
        }
        if detach {
            if let pid = files.runningPID() {
                print("agent already runs (pid \(pid)); log: \(files.logFile.path)")
                return
            }
            let pid = try files.spawnDetached(executable: currentExecutablePath(), dataDirectory: dataDirectory)
            print("agent started (pid \(pid)); log: \(files.logFile.path)")
            return
        }
        try await Self.runForeground(dataDirectory: dataDirectory)
    }

    /// Runs the agent in this process until SIGINT/SIGTERM.
    public static func runForeground(dataDirectory: URL) async throws {
        let files = AgentProcess(dataDirectory: dataDirectory)
        guard try files.claim() != nil else {
            throw AgentError(message: "an agent already runs for \(dataDirectory.path) (pid \(files.runningPID().map(String.init) ?? "unknown"))",
                             fix: "use it, or stop it with `mlinfra agent --stop --data-dir \(dataDirectory.path)`")
        }
        defer { files.removePIDFile() }
        var logger = Logger(label: "mlinfra.agent", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .info
        let agent = ServingAgent(
            servingDirectory: files.servingDirectory,
            modelSource: defaultModelSource(dataDirectory: dataDirectory),
            launcher: ProcessReplicaLauncher(executable: URL(fileURLWithPath: currentExecutablePath())),
            logger: logger)
        let services: [any Service] = [agent] + extraServices.map { $0(dataDirectory) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
