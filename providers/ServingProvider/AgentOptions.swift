import ArgumentParser
import Foundation
import MLInfraCore
import Logging
import CaptureStorage
import EnginePostgres
import ModelRegistry
import ModelServing
import ServiceLifecycle
import ServerCommands

/// A service another engine runs beside serving (e.g. the drift monitor's schedules), in the data
/// directory's own agent and in a serving host's.
public typealias AgentService = @Sendable (AgentServiceContext) -> any Service

/// What a service beside serving is given.
public struct AgentServiceContext: Sendable {
    public var dataDirectory: URL
    /// On a serving host (`--control`): the database the agents share. nil in the data directory's own agent.
    public var shared: Shared?

    public struct Shared: Sendable {
        /// The control store's database and schema.
        public var control: PostgresURL
        public var controlSchema: String
        /// Where the routers' captured requests and labels are.
        public var capture: PostgresURL
        public var captureSchema: String
    }
}

/// `mlinfra agent`'s options and run: the data plane — endpoint routers, replicas and
/// autoscalers, plus the services it is handed — with graceful shutdown on SIGINT/SIGTERM.
///
/// The CLI composes the command (`configuration`, these options, and the services of the other
/// engines it links), so what runs beside serving is a value passed in, not a process-wide hook.
public struct AgentOptions: ParsableArguments {
    public static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the data plane: serve endpoints (and run schedules) from the data directory's control stores.",
        discussion: """
            Without options it runs in the foreground until SIGINT or SIGTERM, serving the data directory's endpoints. \
            `--detach` starts it in the background (pid file and log under <data_dir>/serving/); `--stop` stops a background agent.

            On a serving host: `mlinfra agent --control URL --host NAME --advertise ADDR` serves the endpoints a PostgreSQL \
            control store places on NAME (the URL may also come from MLINFRA_CONTROL_URL, which keeps its password out of `ps`); \
            see docs/serving-hosts.md for a systemd unit.
            """
    )

    @OptionGroup public var location: EngineDirectoryOptions
    @Flag(name: .long, help: "Start the agent in the background and return.")
    public var detach = false
    @Flag(name: .long, help: "Stop the background agent of this data directory.")
    public var stop = false
    @Option(name: .long, help: "The PostgreSQL control store (postgres://…); default MLINFRA_CONTROL_URL, else the data directory's SQLite file.")
    public var control: String?
    @Option(name: .long, help: "The control store's schema.")
    public var controlSchema: String = PostgresControlStore.defaultSchema
    @Option(name: .long, help: "This serving host's name, as endpoints' hosts.names give it (default: the machine's host name).")
    public var host: String?
    @Option(name: .long, help: "The address other machines (the load balancer) reach this host's routers at (default: the endpoint's host).")
    public var advertise: String?
    @Option(name: .long, help: "Added to every endpoint's port for this host's routers (several agents on one machine; may be negative).")
    public var portOffset: Int = 0
    @Option(name: .long, help: "Seconds this host's lease lasts unless renewed: how soon its endpoints move when it dies.")
    public var lease: Double = 6
    @Option(name: .long, help: "The model registry's PostgreSQL URL (default MLINFRA_REGISTRY_URL, else the data directory's registry).")
    public var registry: String?
    @Option(name: .long, help: "The registry's schema.")
    public var registrySchema: String = RegistryLocation.defaultSchema
    @Option(name: .long, help: "The registry's artifact directory when its artifacts are files (a shared mount); default: in PostgreSQL.")
    public var registryArtifacts: String?
    @Option(name: .long, help: "Where the routers' captured requests and labels go (postgres://…); default MLINFRA_CAPTURE_URL, else the control store's database (with --control), else the data directory.")
    public var capture: String?
    @Option(name: .long, help: "The capture store's schema (in PostgreSQL).")
    public var captureSchema: String = CaptureStoreLocation.defaultSchema
    @Option(name: .long, help: "Keep this nginx include file in step with the control store's load balancers (with --control).")
    public var nginxConfig: String?
    @Option(name: .long, help: "nginx's pid file, to reload it after writing.")
    public var nginxPid: String = "/run/nginx.pid"

    public init() {}

    public func validate() throws {
        if detach && stop { throw ValidationError("--detach and --stop cannot be used together") }
        if let host, let problem = HostIdentity.nameProblem(host) { throw ValidationError("--host: \(problem)") }
        if !(lease >= 1) { throw ValidationError("--lease must be at least 1 second, got \(lease)") }
        if !(-65534...65534).contains(portOffset) { throw ValidationError("--port-offset must be between -65534 and 65534, got \(portOffset)") }
        if (detach || stop) && (control != nil || host != nil) {
            throw ValidationError("--detach and --stop are for the data directory's own agent; run a serving host's agent under systemd (docs/serving-hosts.md)")
        }
    }

    /// What the options say this agent serves from; the URLs are read once and never printed.
    func team(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServingAgentSetup.Team? {
        guard let text = control ?? environment["MLINFRA_CONTROL_URL"] else {
            if host != nil || advertise != nil || nginxConfig != nil || capture != nil || environment["MLINFRA_CAPTURE_URL"] != nil {
                throw ValidationError(
                    "--host, --advertise, --nginx-config and --capture need --control (or MLINFRA_CONTROL_URL): the PostgreSQL control store")
            }
            return nil
        }
        func url(_ text: String, _ option: String) throws -> PostgresURL {
            do { return try PostgresURL(parsing: text) } catch {
                throw ValidationError("\(option): the URL \(error.what) (it is not shown, as it may hold a password); give postgres://USER:PASSWORD@HOST:PORT/DATABASE")
            }
        }
        // A load balancer's agent serves no endpoints unless it is given a host name too.
        let name = host ?? (nginxConfig == nil ? HostIdentity.machineName : nil)
        if let name, let problem = HostIdentity.nameProblem(name) { throw ValidationError("the host name: \(problem); give --host NAME") }
        func absolute(_ path: String) -> URL {
            path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(path).standardizedFileURL
        }
        let control = try url(text, "--control")
        return ServingAgentSetup.Team(
            control: control, controlSchema: controlSchema,
            capture: try (capture ?? environment["MLINFRA_CAPTURE_URL"]).map { try url($0, "--capture") } ?? control, captureSchema: captureSchema,
            identity: name.map { HostIdentity(name: $0, advertise: advertise, portOffset: portOffset) }, lease: lease,
            registry: try (registry ?? environment["MLINFRA_REGISTRY_URL"]).map { try url($0, "--registry") },
            registrySchema: registrySchema, registryArtifacts: registryArtifacts.map(absolute),
            nginx: nginxConfig.map { (config: absolute($0), pid: absolute(nginxPid)) })
    }

    /// Runs, stops or detaches the agent as the options say; `services` run beside serving in the
    /// data directory's own agent.
    public func run(beside services: [AgentService]) async throws {
        let dataDirectory = location.directory
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
        try await Self.runForeground(dataDirectory: dataDirectory, team: try team(), beside: services)
    }

    /// Runs the agent in this process until SIGINT/SIGTERM.
    public static func runForeground(dataDirectory: URL, team: ServingAgentSetup.Team? = nil, beside extra: [AgentService] = []) async throws {
        let files = AgentProcess(dataDirectory: dataDirectory)
        guard try files.claim() != nil else {
            throw AgentError(message: "an agent already runs for \(dataDirectory.path) (pid \(files.runningPID().map(String.init) ?? "unknown"))",
                             remedy: "use it, or stop it with `mlinfra agent --stop --data-dir \(dataDirectory.path)`")
        }
        defer { files.removePIDFile() }
        var logger = Logger(label: "mlinfra.agent", factory: { StreamLogHandler.standardError(label: $0) })
        logger.logLevel = .info
        let services = try ServingAgentSetup.services(dataDirectory: dataDirectory, team: team, beside: extra, logger: logger)
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// How `mlinfra agent` is put together from its options.
public enum ServingAgentSetup {
    /// A serving host's (or a load balancer's) agent: its control store, name, registry and nginx.
    public struct Team: Sendable {
        public var control: PostgresURL
        public var controlSchema: String
        /// Where the routers' captured requests and labels go: the database the serving hosts and monitors share.
        public var capture: PostgresURL
        public var captureSchema: String
        /// nil: it serves no endpoints (a load balancer's agent).
        public var identity: HostIdentity?
        public var lease: Double
        public var registry: PostgresURL?
        public var registrySchema: String
        public var registryArtifacts: URL?
        /// The nginx include file it keeps, and nginx's pid file.
        public var nginx: (config: URL, pid: URL)?
    }

    /// The agent's services. The services `beside` run in the data directory's own agent (no `team`)
    /// and on serving hosts (a `team` with an identity), told the shared database; a load balancer's agent runs none.
    public static func services(dataDirectory: URL, team: Team?, beside extra: [AgentService] = [], logger: Logger) throws -> [any Service] {
        let serving = dataDirectory.appendingPathComponent("serving")
        let launcher = ProcessReplicaLauncher(executable: URL(fileURLWithPath: currentExecutablePath()))
        guard let team else {
            let agent = try ServingAgent(servingDirectory: serving, modelSource: defaultModelSource(dataDirectory: dataDirectory), launcher: launcher, logger: logger)
            return [agent] + extra.map { $0(AgentServiceContext(dataDirectory: dataDirectory)) }
        }
        let control = try PostgresControlStore(url: team.control, schema: team.controlSchema)
        var services: [any Service] = []
        if let identity = team.identity {
            var models = defaultModelSource(dataDirectory: dataDirectory)
            if let registry = team.registry {
                let location = RegistryLocation(directory: dataDirectory.appendingPathComponent("registry"), records: .postgres(registry, schema: team.registrySchema),
                                                artifactDirectory: team.registryArtifacts)
                models = ChainedModelSource([RegistryModelSource(location: location, mlmodel: MLmodelYAML.read)])
            }
            var options = ServingAgent.Options()
            options.leaseSeconds = team.lease
            options.pollInterval = min(1, team.lease / 6)
            let capture = try PostgresCaptureStore(url: team.capture, schema: team.captureSchema)
            services.append(try ServingAgent(servingDirectory: serving, control: control, capture: capture, identity: identity, modelSource: models,
                                             launcher: launcher, logger: logger, options: options))
            let shared = AgentServiceContext.Shared(control: team.control, controlSchema: team.controlSchema, capture: team.capture, captureSchema: team.captureSchema)
            services += extra.map { $0(AgentServiceContext(dataDirectory: dataDirectory, shared: shared)) }
        }
        if let nginx = team.nginx {
            let name = "nginx@" + (team.identity?.name ?? HostIdentity.machineName)
            services.append(NginxWriter(control: control, name: name, configFile: nginx.config, pidFile: nginx.pid, logger: logger))
        }
        return services
    }
}
