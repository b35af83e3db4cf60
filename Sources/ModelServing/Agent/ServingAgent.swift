import CaptureStorage
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The serving data plane of one host as a long-running service: it holds the host's lease in
/// the control store, reads the desired endpoint configs, runs the endpoints placed on this host
/// (resolving their models and reconciling one `EndpointController` each) and writes each one's
/// status back. It wakes at once when a config changes and resyncs every `pollInterval`
/// (a dead host's lease expires without anyone being told). On graceful shutdown it stops every
/// router and replica and gives its lease up, so the others take its endpoints at once.
public struct ServingAgent: Service {
    public struct Options: Sendable {
        /// The longest wait between two reads of the control store (and model resolutions).
        public var pollInterval: Double = 0.5
        /// How often each endpoint takes a reconcile step.
        public var tickInterval: Double = 0.1
        /// How long the host's lease lasts unless renewed (every third of it): the time
        /// before another host takes over the endpoints of a host that died.
        public var leaseSeconds: Double = 6
        public var timing = EndpointController.Timing()
        public init() {}
    }

    public let servingDirectory: URL
    /// Where feature stores live (`<data_dir>/features`): an endpoint's `features: STORE/NAME`
    /// is the store in `featuresDirectory/STORE`.
    public let featuresDirectory: URL
    public let control: any ControlStore
    /// Where the routers' captured requests and the labels sent to them go: the serving directory's
    /// SQLite file, or the store the serving hosts share (PostgreSQL), which monitors read.
    public let capture: any CaptureStore
    public let identity: HostIdentity
    public let modelSource: any ModelSource
    public let launcher: any ReplicaLauncher
    /// Waits and intervals (ticks, lease renewal, backoff, drains): `ContinuousClock`, or a test's manual clock.
    public let clock: any Clock<Duration>
    /// The wall time statuses and scaling decisions carry.
    public let now: @Sendable () -> Date
    public let logger: Logger
    public let options: Options

    /// `servingDirectory` is `<data_dir>/serving` (the SQLite capture and control stores unless
    /// `capture` and `control` name others); `featuresDirectory` defaults to `<data_dir>/features`.
    public init(servingDirectory: URL, featuresDirectory: URL? = nil, control: (any ControlStore)? = nil, capture: (any CaptureStore)? = nil,
                identity: HostIdentity = HostIdentity(),
                modelSource: any ModelSource, launcher: any ReplicaLauncher, clock: any Clock<Duration> = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() }, logger: Logger,
                options: Options = Options()) throws {
        self.servingDirectory = servingDirectory
        self.featuresDirectory = featuresDirectory ?? servingDirectory.deletingLastPathComponent().appendingPathComponent("features")
        self.control = try control ?? SQLiteControlStore(directory: servingDirectory)
        self.capture = try capture ?? SQLiteCaptureStore(directory: servingDirectory.path)
        self.identity = identity
        self.modelSource = modelSource
        self.launcher = launcher
        self.clock = clock
        self.now = now
        self.logger = logger
        self.options = options
    }

    /// Names this agent's installation: a restart of the same agent (same machine and data
    /// directory) takes its host's lease back at once; another agent claiming the name is refused.
    var holder: String { "\(HostIdentity.machineName):\(servingDirectory.path)" }

    public func run() async throws {
        let store = control
        try store.renewLease(identity, holder: holder, seconds: options.leaseSeconds)
        let capture = CaptureWriter(store: self.capture, logger: logger)
        let client = HTTPClientPool()
        let reconciler = Reconciler(store: store, capture: capture, client: client, agent: self)
        logger.info("serving agent started as host \(identity.name) (pid \(getpid()), control store \(store.location), capture \(self.capture.location))")
        let captureTask = Task { await capture.run() }
        await cancelWhenGracefulShutdown {
            await reconciler.loop()
        }
        logger.info("serving agent stopping: stopping routers and replicas")
        await reconciler.stopAll()
        do { try store.releaseLease(host: identity.name, holder: holder) } catch { logger.error("\(error)") }
        captureTask.cancel()
        await captureTask.value
        client.closeIdle()
        logger.info("serving agent stopped")
    }
}

/// The agent's state: one controller per endpoint.
actor Reconciler {
    let store: any ControlStore
    let capture: CaptureWriter
    let client: HTTPClientPool
    let agent: ServingAgent
    var controllers: [String: EndpointController] = [:]
    var tickers: [String: Task<Void, Never>] = [:]
    var lastStatus: [String: EndpointStatus] = [:]
    /// When the lease was last renewed, on `uptime`; nil before the first renewal here.
    var renewedAt: Double?
    let uptime: Stopwatch
    /// Where each endpoint ran at the last reconcile, to log moves once.
    var placed: [String: [String]] = [:]

    init(store: any ControlStore, capture: CaptureWriter, client: HTTPClientPool, agent: ServingAgent) {
        self.store = store
        self.capture = capture
        self.client = client
        self.agent = agent
        uptime = Stopwatch(agent.clock)
    }

    func loop() async {
        while !Task.isCancelled {
            await reconcileOnce()
            await store.waitForChange(timeout: agent.options.pollInterval)
        }
    }

    func reconcileOnce() async {
        let me = agent.identity
        let now = uptime.seconds
        if renewedAt.map({ now - $0 >= agent.options.leaseSeconds / 3 }) ?? true {
            do {
                try store.renewLease(me, holder: agent.holder, seconds: agent.options.leaseSeconds)
                renewedAt = now
            } catch {
                agent.logger.error("cannot renew the lease of host \(me.name): \(error)")
            }
        }
        let desired: [(config: EndpointConfig, generation: Int)]
        let live: [String]
        do {
            desired = try store.endpoints()
            live = Set(try store.liveHosts().map(\.host) + [me.name]).sorted()
        } catch {
            agent.logger.error("cannot read the control store: \(error)")
            return
        }
        var mine: [(config: EndpointConfig, generation: Int)] = []
        var reports: [EndpointStatus]?
        for (config, generation) in desired {
            let hosts = (config.placement ?? Placement()).hosts(for: config.name, live: live)
            if placed[config.name] != hosts {
                agent.logger.info("endpoint \(config.name) runs on \(hosts.isEmpty ? "no live host" : hosts.joined(separator: ", ")) (live hosts: \(live.joined(separator: ", ")))")
                placed[config.name] = hosts
            }
            if !hosts.contains(me.name) {
                // Moved to another host: keep serving until every host it is placed on serves it,
                // so a load balancer always has a router to send requests to.
                guard controllers[config.name] != nil else { continue }
                if reports == nil { reports = (try? store.statuses()) ?? [] }
                let takenOver = hosts.allSatisfy { host in
                    reports!.contains { $0.name == config.name && $0.host == host && $0.serving && $0.generation >= generation }
                }
                if takenOver && !hosts.isEmpty { continue }
            }
            // This host's router: the spec's address, on the port shifted by the host's offset.
            var local = config
            local.port += me.portOffset
            mine.append((local, generation))
        }
        let names = Set(mine.map(\.config.name))
        for name in placed.keys where !desired.contains(where: { $0.config.name == name }) { placed.removeValue(forKey: name) }
        for (name, controller) in controllers where !names.contains(name) {
            agent.logger.info("endpoint \(name) removed from host \(me.name): stopping it")
            tickers.removeValue(forKey: name)?.cancel()
            controllers.removeValue(forKey: name)
            await controller.stop()
            try? store.removeStatus(name, host: me.name)
            lastStatus.removeValue(forKey: name)
        }
        for (config, generation) in mine {
            let primary = Result { try agent.modelSource.resolve(config.model, pinned: config.pinned) }
            let canary = config.canary.map { c in Result { try agent.modelSource.resolve(c.model, pinned: c.pinned) } }
            let features = config.features.map { f in Result { try FeatureBinding.resolve(f, featuresDirectory: agent.featuresDirectory) } }
            let controller: EndpointController
            if let existing = controllers[config.name] {
                controller = existing
            } else {
                controller = EndpointController(config: config, generation: generation, launcher: agent.launcher, client: client,
                                                capture: capture, store: store, clock: agent.clock, now: agent.now, logger: agent.logger,
                                                timing: agent.options.timing)
                controllers[config.name] = controller
                let interval = agent.options.tickInterval
                let clock = agent.clock
                tickers[config.name] = Task {
                    while !Task.isCancelled {
                        await controller.tick()
                        try? await clock.sleep(for: .seconds(interval))
                    }
                }
            }
            await controller.update(config: config, generation: generation, primary: primary, canary: canary, features: features)
            var status = await controller.status()
            status.host = me.name
            status.url = me.advertise.map { "http://\($0):\(config.port)" } ?? config.url
            let previous = lastStatus[config.name]
            // Write when something changed, and at least every few seconds so readers see the agent is alive.
            status.updatedAt = agent.now().timeIntervalSince1970
            if previous == nil || !Self.sameShape(previous!, status) || status.updatedAt - previous!.updatedAt >= 5 {
                try? store.setStatus(status)
                lastStatus[config.name] = status
            }
        }
    }

    static func sameShape(_ a: EndpointStatus, _ b: EndpointStatus) -> Bool {
        var a = a
        a.updatedAt = b.updatedAt
        return a == b
    }

    func stopAll() async {
        for t in tickers.values { t.cancel() }
        tickers.removeAll()
        await withTaskGroup(of: Void.self) { group in
            for c in controllers.values { group.addTask { await c.stop() } }
        }
        for name in controllers.keys {
            if var status = lastStatus[name] {
                status.ready = false
                status.serving = false
                status.message = "the agent is stopped"
                status.versions = []
                try? store.setStatus(status)
            }
        }
        controllers.removeAll()
    }
}
