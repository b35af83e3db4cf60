import CaptureStorage
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// The serving data plane as a long-running service: it reads the desired endpoint configs
/// from `<data_dir>/serving/control.sqlite`, resolves their models, and reconciles one
/// `EndpointController` per endpoint, writing each endpoint's status back. On graceful
/// shutdown it stops every router and replica.
public struct ServingAgent: Service {
    public struct Options: Sendable {
        /// How often the control store is read and models are resolved.
        public var pollInterval: Double = 0.5
        /// How often each endpoint takes a reconcile step.
        public var tickInterval: Double = 0.1
        public var timing = EndpointController.Timing()
        public init() {}
    }

    public let servingDirectory: URL
    /// Where feature stores live (`<data_dir>/features`): an endpoint's `features: STORE/NAME`
    /// is the store in `featuresDirectory/STORE`.
    public let featuresDirectory: URL
    public let modelSource: any ModelSource
    public let launcher: any ReplicaLauncher
    public let clock: any ServingClock
    public let logger: Logger
    public let options: Options

    /// `servingDirectory` is `<data_dir>/serving`; `featuresDirectory` defaults to `<data_dir>/features`.
    public init(servingDirectory: URL, featuresDirectory: URL? = nil, modelSource: any ModelSource, launcher: any ReplicaLauncher,
                clock: any ServingClock = SystemServingClock(), logger: Logger, options: Options = Options()) {
        self.servingDirectory = servingDirectory
        self.featuresDirectory = featuresDirectory ?? servingDirectory.deletingLastPathComponent().appendingPathComponent("features")
        self.modelSource = modelSource
        self.launcher = launcher
        self.clock = clock
        self.logger = logger
        self.options = options
    }

    public func run() async throws {
        let store = try ControlStore(directory: servingDirectory)
        let capture = CaptureWriter(store: try SQLiteCaptureStore(directory: servingDirectory.path), logger: logger)
        let client = HTTPClientPool()
        let reconciler = Reconciler(store: store, capture: capture, client: client, agent: self)
        logger.info("serving agent started (pid \(getpid()), control store \(store.path))")
        let captureTask = Task { await capture.run() }
        await cancelWhenGracefulShutdown {
            await reconciler.loop()
        }
        logger.info("serving agent stopping: stopping routers and replicas")
        await reconciler.stopAll()
        captureTask.cancel()
        await captureTask.value
        client.closeIdle()
        logger.info("serving agent stopped")
    }
}

/// The agent's state: one controller per endpoint.
actor Reconciler {
    let store: ControlStore
    let capture: CaptureWriter
    let client: HTTPClientPool
    let agent: ServingAgent
    var controllers: [String: EndpointController] = [:]
    var tickers: [String: Task<Void, Never>] = [:]
    var lastStatus: [String: EndpointStatus] = [:]

    init(store: ControlStore, capture: CaptureWriter, client: HTTPClientPool, agent: ServingAgent) {
        self.store = store
        self.capture = capture
        self.client = client
        self.agent = agent
    }

    func loop() async {
        while !Task.isCancelled {
            await reconcileOnce()
            try? await agent.clock.sleep(seconds: agent.options.pollInterval)
        }
    }

    func reconcileOnce() async {
        let desired: [(config: EndpointConfig, generation: Int)]
        do {
            desired = try store.endpoints()
        } catch {
            agent.logger.error("cannot read the control store: \(error)")
            return
        }
        let names = Set(desired.map(\.config.name))
        for (name, controller) in controllers where !names.contains(name) {
            agent.logger.info("endpoint \(name) removed: stopping it")
            tickers.removeValue(forKey: name)?.cancel()
            controllers.removeValue(forKey: name)
            await controller.stop()
            try? store.removeStatus(name)
            lastStatus.removeValue(forKey: name)
        }
        for (config, generation) in desired {
            let primary = Result { try agent.modelSource.resolve(config.model) }
            let canary = config.canary.map { c in Result { try agent.modelSource.resolve(c.model) } }
            let features = config.features.map { f in Result { try FeatureBinding.resolve(f, featuresDirectory: agent.featuresDirectory) } }
            let controller: EndpointController
            if let existing = controllers[config.name] {
                controller = existing
            } else {
                controller = EndpointController(config: config, generation: generation, launcher: agent.launcher, client: client,
                                                capture: capture, store: store, clock: agent.clock, logger: agent.logger,
                                                timing: agent.options.timing)
                controllers[config.name] = controller
                let interval = agent.options.tickInterval
                let clock = agent.clock
                tickers[config.name] = Task {
                    while !Task.isCancelled {
                        await controller.tick()
                        try? await clock.sleep(seconds: interval)
                    }
                }
            }
            await controller.update(config: config, generation: generation, primary: primary, canary: canary, features: features)
            var status = await controller.status()
            let previous = lastStatus[config.name]
            // Write when something changed, and at least every few seconds so readers see the agent is alive.
            status.updatedAt = agent.clock.now()
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
                status.message = "the agent is stopped"
                status.versions = []
                try? store.setStatus(status)
            }
        }
        controllers.removeAll()
    }
}
