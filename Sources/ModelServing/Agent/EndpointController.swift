import Foundation
import Logging
import NIOCore

/// Runs one endpoint: its router, a replica set per model version, its autoscaler and rollouts.
///
/// `tick()` moves the running state one step toward the desired one. Rollouts follow the
/// issue's order: new replicas start and must be ready before traffic shifts to them, and an
/// old replica leaves the routing table first, finishes its requests, and only then stops.
public actor EndpointController {
    public struct Timing: Sendable {
        /// How often the autoscaler decides.
        public var decisionInterval: Double = 1
        /// Longest wait for a removed replica's requests before it is stopped anyway.
        public var drainTimeout: Double = 30
        /// First restart delay of a crashed replica; doubled per crash in a row, at most `maxBackoff`.
        public var initialBackoff: Double = 0.25
        public var maxBackoff: Double = 10
        public init() {}
    }

    final class Slot {
        enum State: String { case starting, ready, draining, restarting }
        let id: Int
        let version: String
        /// The feature binding it serves `entities` requests from (replicas are replaced when it changes).
        let features: FeatureBinding?
        var state: State
        var instance: (any ReplicaInstance)?
        var backendID: Int?
        var restarts = 0
        var notBefore: Double = 0
        var readySince: Double?
        init(id: Int, version: String, features: FeatureBinding?, state: State) {
            self.id = id
            self.version = version
            self.features = features
            self.state = state
        }
    }

    struct VersionSet {
        var model: ResolvedModel
        var desired: Int
        var slots: [Int: Slot] = [:]
        var lastError: String?
        var active: [Slot] { slots.values.filter { $0.state != .draining } }
        var readyCount: Int { slots.values.filter { $0.state == .ready }.count }
        /// Ready replicas bound to `features`.
        func readyCount(_ features: FeatureBinding?) -> Int { slots.values.filter { $0.state == .ready && $0.features == features }.count }
    }

    public nonisolated let name: String
    public nonisolated let table = RoutingTable()
    public nonisolated let router: EndpointRouter
    private(set) var config: EndpointConfig
    private(set) var generation: Int
    private let launcher: any ReplicaLauncher
    private let client: HTTPClientPool
    /// Waits (drains, the kill timer) and intervals (`uptime`): `ContinuousClock`, or a test's manual clock.
    private let clock: any Clock<Duration>
    /// Restart backoff and router retries are measured on `clock` from the controller's start.
    private let uptime: Stopwatch
    /// The wall time the autoscaler, its decisions and the status carry.
    private let now: @Sendable () -> Date
    private let logger: Logger
    private let store: (any ControlStore)?
    private let timing: Timing

    private var routerTask: Task<Void, Never>?
    private var routerAddress: (host: String, port: Int)?
    private var routerListening = false
    private var routerError: String?
    private var routerRetryAt: Double = 0

    private var primary: ResolvedModel?
    private var canary: ResolvedModel?
    private var features: FeatureBinding?
    private var resolveError: String?
    private var sets: [String: VersionSet] = [:]
    private var activeWeights: [String: Double] = [:]
    private var nextSlot = 1
    private var tasks: [Int: Task<Void, Never>] = [:]
    private var nextTask = 1
    /// Replicas whose health check is under way.
    private var checking: Set<Int> = []

    private var autoscaler: Autoscaler
    private var primaryReplicas: Int
    private var samples: [Double] = []
    private var lastDecision: (time: Double, started: UInt64)
    public private(set) var decisions: [ScalingDecision] = []
    private var stopped = false

    public init(config: EndpointConfig, generation: Int, launcher: any ReplicaLauncher, client: HTTPClientPool,
                capture: CaptureWriter?, store: (any ControlStore)?, clock: any Clock<Duration> = ContinuousClock(), now: @escaping @Sendable () -> Date = { Date() }, logger: Logger,
                timing: Timing = Timing()) {
        name = config.name
        self.config = config
        self.generation = generation
        self.launcher = launcher
        self.client = client
        self.clock = clock
        uptime = Stopwatch(clock)
        self.now = now
        self.logger = logger
        self.store = store
        self.timing = timing
        router = EndpointRouter(endpoint: config.name, table: table, client: client, capture: capture,
                                capturePercent: config.captureSamplePercent, logger: logger, now: now)
        primaryReplicas = config.replicas.min
        let wall = now().timeIntervalSince1970
        autoscaler = Autoscaler(policy: config, startedAt: wall, current: config.replicas.min)
        lastDecision = (wall, 0)
    }

    /// Takes a new desired config, the models its references resolve to now, and its feature binding.
    public func update(config: EndpointConfig, generation: Int, primary: Result<ResolvedModel, any Error>, canary: Result<ResolvedModel, any Error>?,
                       features: Result<FeatureBinding, any Error>? = nil) {
        self.config = config
        self.generation = generation
        router.setCapturePercent(config.captureSamplePercent)
        autoscaler.update(min: config.replicas.min, max: config.replicas.max, metric: config.autoscaling.metric,
                          target: config.autoscaling.target, scaleDownWindow: config.autoscaling.scaleDownWindow)
        primaryReplicas = min(max(primaryReplicas, config.replicas.min), config.replicas.max)
        var errors: [String] = []
        switch primary {
        case .success(let m): self.primary = m
        case .failure(let e): errors.append("\(e)")
        }
        switch canary {
        case .none: self.canary = nil
        case .success(let m): self.canary = m
        case .failure(let e): errors.append("\(e)")
        }
        switch features {
        case .none: self.features = nil
        case .success(let f): self.features = f
        case .failure(let e): errors.append("\(e)")
        }
        resolveError = errors.isEmpty ? nil : errors.joined(separator: "; ")
    }

    // MARK: Reconcile

    /// The versions wanted now, with their traffic share and replica count.
    private func wanted() -> [(model: ResolvedModel, weight: Double, replicas: Int, role: String)] {
        guard let primary else { return [] }
        guard let canary, let percent = config.canary?.percent, percent > 0, canary.version != primary.version else {
            return [(primary, 100, primaryReplicas, "primary")]
        }
        let canaryReplicas = max(1, Int((Double(primaryReplicas) * percent / 100).rounded(.up)))
        if percent >= 100 { return [(canary, 100, primaryReplicas, "canary")] }
        return [(primary, 100 - percent, primaryReplicas, "primary"), (canary, percent, canaryReplicas, "canary")]
    }

    /// One step toward the desired state.
    public func tick() {
        guard !stopped else { return }
        let elapsed = uptime.seconds
        ensureRouter(now: elapsed)
        let wanted = wanted()
        let wantedVersions = Set(wanted.map(\.model.version))

        for w in wanted {
            var set = sets[w.model.version] ?? VersionSet(model: w.model, desired: w.replicas)
            set.desired = w.replicas
            set.model = w.model
            sets[w.model.version] = set
            // Replicas bound to another feature view or service are replaced: new ones start,
            // and the old ones drain once the new ones are ready.
            let stale = set.active.filter { $0.features != features }
            var active = set.active.filter { $0.features == features }
            while active.count < w.replicas {
                let slot = Slot(id: nextSlot, version: w.model.version, features: features, state: .starting)
                nextSlot += 1
                sets[w.model.version]!.slots[slot.id] = slot
                launch(slot, model: w.model)
                active.append(slot)
            }
            if !stale.isEmpty && active.filter({ $0.state == .ready }).count >= w.replicas {
                for slot in stale { drain(slot) }
            }
            if active.count > w.replicas {
                // Remove replicas that are not serving yet first, then the newest.
                let extra = active.sorted { a, b in
                    if (a.state == .ready) != (b.state == .ready) { return a.state != .ready }
                    return a.id > b.id
                }.prefix(active.count - w.replicas)
                for slot in extra { drain(slot) }
            }
        }

        // Restart crashed replicas whose backoff has passed.
        for set in sets.values {
            for slot in set.slots.values where slot.state == .restarting && slot.notBefore <= elapsed {
                slot.state = .starting
                launch(slot, model: set.model)
            }
        }

        // Shift traffic only when every wanted version has all its replicas ready.
        let allReady = !wanted.isEmpty && wanted.allSatisfy { (sets[$0.model.version]?.readyCount(features) ?? 0) >= $0.replicas }
        if allReady {
            let weights = Dictionary(wanted.map { ($0.model.version, $0.weight) }, uniquingKeysWith: +)
            if weights != activeWeights {
                logger.info("endpoint \(name): traffic \(weights.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)%" }.joined(separator: ", "))")
                activeWeights = weights
                table.setWeights(weights)
            }
        }
        // Old versions that no longer get traffic are drained and stopped.
        for (version, set) in sets where !wantedVersions.contains(version) && (activeWeights[version] ?? 0) == 0 {
            for slot in set.slots.values where slot.state != .draining { drain(slot) }
            if set.slots.isEmpty { sets.removeValue(forKey: version) }
        }

        // Replicas whose connection failed are checked and put back when healthy.
        for b in table.backends where !b.healthy && !checking.contains(b.id) {
            let id = b.id
            let (host, port) = (b.host, b.port)
            checking.insert(id)
            spawn { [client, table] in
                if (try? await client.execute(host: host, port: port, method: .GET, path: "/v2/health/ready", timeout: 1))?.status == 200 {
                    table.setHealthy(id, true)
                }
                await self.checked(id)
            }
        }
        autoscale(now: now().timeIntervalSince1970)
    }

    private func autoscale(now: Double) {
        guard let primary, let set = sets[primary.version], (activeWeights[primary.version] ?? 0) > 0 else { return }
        let load = table.load()[primary.version]
        samples.append(Double(load?.inFlight ?? 0))
        guard now - lastDecision.time >= timing.decisionInterval else { return }
        let started = load?.started ?? 0
        let current = max(1, set.desired)
        let value: Double
        switch config.autoscaling.metric {
        case .concurrency:
            value = (samples.isEmpty ? 0 : samples.reduce(0, +) / Double(samples.count)) / Double(current)
        case .rps:
            value = Double(started &- lastDecision.started) / max(0.001, now - lastDecision.time) / Double(current)
        }
        samples.removeAll(keepingCapacity: true)
        lastDecision = (now, started)
        let decision = autoscaler.decide(endpoint: name, current: primaryReplicas, value: value, now: now)
        if decision.desired != primaryReplicas || decisions.last?.desired != decision.desired || decisions.isEmpty {
            logger.info("autoscaler \(name): \(decision.reason) [current \(decision.current), \(decision.metric) \(String(format: "%.3f", decision.value)), target \(decision.target), desired \(decision.desired)]")
        }
        decisions.append(decision)
        if decisions.count > 50 { decisions.removeFirst(decisions.count - 50) }
        try? store?.record(decision)
        primaryReplicas = decision.desired
    }

    // MARK: Replicas

    private func spawn(_ work: @escaping @Sendable () async -> Void) {
        let id = nextTask
        nextTask += 1
        tasks[id] = Task {
            await work()
            self.taskDone(id)
        }
    }

    private func taskDone(_ id: Int) { tasks.removeValue(forKey: id) }

    private func checked(_ backendID: Int) { checking.remove(backendID) }

    private func launch(_ slot: Slot, model: ResolvedModel) {
        let spec = ReplicaSpec(endpoint: name, model: model, features: slot.features)
        let slotID = slot.id
        let version = model.version
        spawn { [launcher, client] in
            do {
                let instance = try await launcher.launch(spec)
                let info = try await Self.fetchInfo(client: client, port: instance.port, model: model)
                await self.started(slotID: slotID, version: version, instance: instance, info: info)
            } catch {
                await self.failedToStart(slotID: slotID, version: version, error: error)
            }
        }
    }

    /// Reads the replica's model metadata (feature and output names, for capture).
    static func fetchInfo(client: HTTPClientPool, port: Int, model: ResolvedModel) async throws -> RoutingTable.VersionInfo {
        let path = "/v2/models/" + (model.name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? model.name)
        let reply = try await client.execute(port: port, method: .GET, path: path, timeout: 10)
        let object = try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any]
        let parameters = object?["parameters"] as? [String: Any]
        return RoutingTable.VersionInfo(version: model.version, featureNames: parameters?["feature_names"] as? [String] ?? [],
                                        outputNames: parameters?["output_names"] as? [String] ?? [])
    }

    private func slot(_ id: Int, _ version: String) -> Slot? { sets[version]?.slots[id] }

    private func started(slotID: Int, version: String, instance: any ReplicaInstance, info: RoutingTable.VersionInfo) {
        guard let slot = slot(slotID, version), slot.state == .starting, !stopped else {
            // Drained (or the endpoint stopped) while it was starting: it is not wanted.
            if slot(slotID, version)?.state == .draining { sets[version]?.slots.removeValue(forKey: slotID) }
            instance.terminate()
            return
        }
        slot.instance = instance
        table.setVersionInfo(info)
        slot.backendID = table.add(version: version, port: instance.port)
        slot.state = .ready
        slot.readySince = uptime.seconds
        sets[version]?.lastError = nil
        logger.info("endpoint \(name): replica pid \(instance.pid) of \(version) ready on port \(instance.port)")
        spawn {
            let status = await instance.waitForExit()
            await self.exited(slotID: slotID, version: version, pid: instance.pid, status: status)
        }
    }

    private func failedToStart(slotID: Int, version: String, error: any Error) {
        logger.error("endpoint \(name): \(error)")
        sets[version]?.lastError = "\(error)"
        guard let slot = slot(slotID, version) else { return }
        if slot.state == .draining {
            sets[version]?.slots.removeValue(forKey: slotID)
            return
        }
        scheduleRestart(slot)
    }

    private func scheduleRestart(_ slot: Slot) {
        // A replica that served for a minute starts its backoff over.
        if let since = slot.readySince, uptime.seconds - since > 60 { slot.restarts = 0 }
        slot.restarts += 1
        slot.state = .restarting
        slot.instance = nil
        slot.readySince = nil
        slot.notBefore = uptime.seconds + min(timing.maxBackoff, timing.initialBackoff * pow(2, Double(slot.restarts - 1)))
    }

    private func exited(slotID: Int, version: String, pid: Int32, status: Int32) {
        guard let slot = slot(slotID, version) else { return }
        if let id = slot.backendID {
            table.remove(id)
            slot.backendID = nil
        }
        if slot.state == .draining || stopped {
            sets[version]?.slots.removeValue(forKey: slotID)
            return
        }
        logger.warning("endpoint \(name): replica pid \(pid) of \(version) exited with status \(status); restarting")
        scheduleRestart(slot)
    }

    /// Takes a replica out of the routing table, waits for its requests, then stops it.
    private func drain(_ slot: Slot) {
        let previous = slot.state
        slot.state = .draining
        let version = slot.version
        let slotID = slot.id
        guard let instance = slot.instance else {
            // Not started yet (or waiting to restart): the launch result is stopped when it comes.
            if previous == .restarting { sets[version]?.slots.removeValue(forKey: slotID) }
            return
        }
        let backendID = slot.backendID
        if let backendID { table.remove(backendID) }
        slot.backendID = nil
        let drainTimeout = timing.drainTimeout
        spawn { [table, clock] in
            if let backendID {
                let waited = Stopwatch(clock)
                while table.drainingInFlight(backendID) > 0 && waited.elapsed < .seconds(drainTimeout) {
                    try? await clock.sleep(for: .milliseconds(10))
                }
            }
            instance.terminate()
            let killer = Task {
                try? await clock.sleep(for: .seconds(10))
                instance.kill()
            }
            _ = await instance.waitForExit()
            killer.cancel()
        }
    }

    // MARK: Router

    private func ensureRouter(now: Double) {
        let address = (config.host, config.port)
        if let current = routerAddress, current != address {
            routerTask?.cancel()
            routerTask = nil
            routerListening = false
        }
        guard routerTask == nil, now >= routerRetryAt else { return }
        routerAddress = address
        routerError = nil
        let app = router.application(host: config.host, port: config.port) { _ in await self.routerUp() }
        routerTask = Task {
            do {
                try await app.run()
            } catch {
                self.routerDown(error: "\(error)")
                return
            }
            self.routerDown(error: nil)
        }
    }

    private func routerUp() {
        routerListening = true
        logger.info("endpoint \(name): router listening on \(config.url)")
    }

    private func routerDown(error: String?) {
        routerListening = false
        routerTask = nil
        if let error, !stopped {
            routerError = "router cannot listen on \(config.host):\(config.port): \(error)"
            logger.error("endpoint \(name): \(routerError!)")
            routerRetryAt = uptime.seconds + 2
        }
    }

    // MARK: Status and stop

    public func status() -> EndpointStatus {
        let wanted = wanted()
        var versions: [EndpointStatus.Version] = []
        var problems: [String] = []
        if let resolveError { problems.append(resolveError) }
        if let routerError { problems.append(routerError) } else if !routerListening { problems.append("router not listening yet on \(config.url)") }
        for (version, set) in sets.sorted(by: { $0.key < $1.key }) {
            let role = wanted.first { $0.model.version == version }?.role ?? "draining"
            let replicas = set.slots.values.sorted { $0.id < $1.id }.map { s in
                EndpointStatus.Replica(pid: s.instance?.pid ?? 0, port: s.instance?.port ?? 0,
                                       state: EndpointStatus.Replica.State(rawValue: s.state.rawValue) ?? .starting, restarts: s.restarts)
            }
            versions.append(.init(version: version, role: role, percent: activeWeights[version] ?? 0, desiredReplicas: set.desired, replicas: replicas))
        }
        for w in wanted {
            let set = sets[w.model.version]
            let ready = set?.readyCount(features) ?? 0
            if ready < w.replicas {
                var text = "\(w.model.version): \(ready) of \(w.replicas) replicas ready"
                if let e = set?.lastError { text += " (last error: \(e))" }
                problems.append(text)
            }
            if (activeWeights[w.model.version] ?? 0) != w.weight { problems.append("\(w.model.version): traffic not shifted yet") }
        }
        if wanted.isEmpty && resolveError == nil { problems.append("model \(config.model) not resolved yet") }
        let serving = routerListening && activeWeights.contains { version, weight in weight > 0 && (sets[version]?.readyCount ?? 0) > 0 }
        return EndpointStatus(name: name, url: config.url, generation: generation, ready: problems.isEmpty, serving: serving,
                              message: problems.isEmpty ? nil : problems.joined(separator: "; "), blocked: resolveError == nil ? nil : true,
                              versions: versions, updatedAt: now().timeIntervalSince1970)
    }

    /// Stops the router and every replica (SIGTERM, then SIGKILL after 10 s).
    public func stop() async {
        stopped = true
        routerTask?.cancel()
        let instances = sets.values.flatMap { $0.slots.values.compactMap(\.instance) }
        for t in tasks.values { t.cancel() }
        for i in instances { i.terminate() }
        let clock = self.clock
        await withTaskGroup(of: Void.self) { group in
            for i in instances {
                group.addTask {
                    let killer = Task {
                        try? await clock.sleep(for: .seconds(10))
                        i.kill()
                    }
                    _ = await i.waitForExit()
                    killer.cancel()
                }
            }
        }
        if let routerTask { await routerTask.value }
        sets.removeAll()
    }

    /// Running replicas, for tests and status.
    public func instances() -> [(version: String, pid: Int32, port: Int)] {
        sets.values.flatMap { set in set.slots.values.compactMap { s in s.instance.map { (s.version, $0.pid, $0.port) } } }
    }

    public var isRouterListening: Bool { routerListening }
}
