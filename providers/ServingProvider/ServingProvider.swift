import Foundation
import MLInfraCore
import ModelRegistry
import ModelServing
import Synchronization

/// The `endpoint` resource: a model served over HTTP by the agent's routers and replicas.
///
/// `apply` writes the desired config into the control store — `<data_dir>/serving/control.sqlite`,
/// whose agent it starts when none runs, or a PostgreSQL schema that the agents of the serving
/// hosts read (then it starts nothing) — and waits until every host it is placed on reports it ready. `read` reports the version
/// served and the ready replicas; the replica count the autoscaler picks is not drift
/// (it is reported only in the computed `ready_replicas`).
public struct ServingProvider: Provider {
    public static let name = "local"

    /// The data directory `configure` sets; shared by the copies of the provider value.
    private final class Settings: Sendable {
        let dataDirectory = Mutex(URL(fileURLWithPath: EngineDataDirectory.defaultName))
        let stores = ControlStores()
        /// Each resource's control store as validate last read it from the spec: state keeps
        /// `control.postgres.url` masked (it is sensitive), so refresh and delete find it here.
        let chosen = Mutex<[String: ControlChoice]>([:])
        /// The model sources apply and plan resolve references with, one per registry location.
        let modelSources = Mutex<[RegistryLocation: RegistryModelSource]>([:])
    }
    private let settings = Settings()
    /// The executable started as `EXECUTABLE agent --detach`; nil means this process's own.
    private let agentExecutable: String?
    /// How long apply waits for readiness unless the resource sets `ready_timeout`.
    private let defaultReadyTimeout: Double
    /// Where the spec's `registry` keeps its models, as the registry provider chose it (the CLI
    /// composes the two); nil, or an error, means the data directory's registry.
    private let registryLocation: (@Sendable () throws -> RegistryLocation)?

    /// `registryLocation` tells apply and plan which registry to resolve model references in.
    public init(registryLocation: (@Sendable () throws -> RegistryLocation)? = nil) {
        agentExecutable = nil
        defaultReadyTimeout = 120
        self.registryLocation = registryLocation
    }

    /// For tests and embedders: the mlinfra executable to start the agent with.
    public init(agentExecutable: String, defaultReadyTimeout: Double = 120, registryLocation: (@Sendable () throws -> RegistryLocation)? = nil) {
        self.agentExecutable = agentExecutable
        self.defaultReadyTimeout = defaultReadyTimeout
        self.registryLocation = registryLocation
    }

    var dataDirectory: URL { settings.dataDirectory.withLock { $0 } }
    var servingDirectory: URL { dataDirectory.appendingPathComponent("serving") }

    public func schema() async throws -> ProviderSchema {
        ProviderSchema(
            name: Self.name, version: MLInfraVersion.current,
            config: ["data_dir": AttributeSchema(.string, description: "Where the local engines keep their files (default .mlinfra).")],
            resourceTypes: ["endpoint": Self.endpointSchema, "load_balancer": LoadBalancerResource.schema])
    }

    static let endpointSchema = ResourceSchema(
        version: 1,
        description: "A model served over HTTP: replicas behind a router, autoscaling, canary traffic and data capture.",
        attributes: [
            "name": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "The endpoint's name; defaults to the resource name."),
            "model": AttributeSchema(.string, required: true, description: "What to serve: a model alias (NAME@alias, e.g. ${model_alias.x}) or version (NAME/3, e.g. ${model_version.x}); models:/… and file:PATH work too."),
            "features": AttributeSchema(.string, description: "A feature service or view (STORE/NAME: ${feature_service.x.id} or ${feature_view.x.id}) in the same data_dir; /predict then also takes {\"entities\": {JOIN_KEY: [...]}} and reads the model's features from its online store."),
            "replicas": AttributeSchema(.object([
                "min": AttributeSchema(.int, description: "Fewest replicas (default 1)."),
                "max": AttributeSchema(.int, description: "Most replicas (default: min)."),
            ]), description: "Replica bounds for the autoscaler."),
            "autoscaling": AttributeSchema(.object([
                "metric": AttributeSchema(.string, allowed: ["concurrency", "rps"], description: "concurrency (requests in flight per replica) or rps (requests per second per replica)."),
                "target": AttributeSchema(.number, description: "Per-replica value to aim at (default 8)."),
                "scale_down_window": AttributeSchema(.duration, description: "How long lower load must last before replicas are removed (default 300s)."),
            ]), description: "Kubernetes HPA's rule with a 10% tolerance."),
            "traffic": AttributeSchema(.object([
                "canary": AttributeSchema(.string, description: "A second model version or alias to send a share of requests to."),
                "percent": AttributeSchema(.number, description: "The canary's share of requests, 0–100."),
            ]), description: "Canary traffic split."),
            "capture": AttributeSchema(.object([
                "sample_percent": AttributeSchema(.number, description: "Share of requests whose inputs and outputs go to the capture store, 0–100."),
            ]), description: "Data capture for drift monitoring."),
            "port": AttributeSchema(.int, required: true, description: "The router's port (on each host, plus the host agent's --port-offset)."),
            "control": ControlChoice.schema,
            "hosts": AttributeSchema(.object([
                "count": AttributeSchema(.int, description: "How many of the live hosts run it (default 1); a dead host's share moves to another."),
                "names": AttributeSchema(.list(.string), description: "The hosts that run it, by their agents' --host names."),
            ]), description: "Where it runs, with a PostgreSQL control store: { count: N } or { names: [a, b] }."),
            "host": AttributeSchema(.string, description: "The router's address (default 127.0.0.1)."),
            "ready_timeout": AttributeSchema(.duration, description: "How long apply waits for the endpoint to be ready (default 120s)."),
            "id": .computed(.string, description: "The endpoint's name."),
            "url": .computed(.string, description: "http://HOST:PORT"),
            "served_version": .computed(.string, description: "The model version that gets the main share of traffic."),
            "ready_replicas": .computed(.int, description: "Replicas ready now, on every host (changes with autoscaling; not drift)."),
            "serving_hosts": .computed(.list(.string), description: "The hosts whose routers serve it now (changes when a host dies; not drift)."),
        ])

    public func configure(_ request: ConfigureRequest) async throws -> ConfigureResponse {
        let path = request.config["data_dir"]?.stringValue ?? EngineDataDirectory.defaultName
        settings.dataDirectory.withLock { $0 = resolveDataDirectory(path, base: request.workingDirectory) }
        return ConfigureResponse()
    }

    // MARK: Config

    /// Reads an endpoint config from attribute values; unknown values are skipped, problems collected.
    static func config(address: String, _ attrs: [String: Value]) -> (EndpointConfig?, [AttributeDiagnostic]) {
        var diagnostics: [AttributeDiagnostic] = []
        func fail(_ attribute: String, _ summary: String, _ detail: String) {
            diagnostics.append(AttributeDiagnostic(attribute: attribute, .error(summary, detail: detail, address: address)))
        }
        /// The value at `path` as `convert` reads it; nil when absent, null or unknown, or (with a
        /// problem collected) when it is not `what`.
        func typed<T>(_ path: String, _ what: String, _ convert: (Value) -> T?) -> T? {
            guard let v = Value.map(attrs).value(at: path), !v.isNull, !v.isUnknown else { return nil }
            guard let converted = convert(v) else {
                fail(path, "\(path) must be \(what)", "got \(v.kindName) \(v.rendered)")
                return nil
            }
            return converted
        }
        func number(_ path: String) -> Double? { typed(path, "a number", \.doubleValue) }
        func integer(_ path: String) -> Int? { typed(path, "a whole number", \.intValue) }
        func string(_ path: String) -> String? { typed(path, "a string", \.stringValue) }
        let objectName = ResourceAddress(parsing: address)?.objectName ?? address
        let name = string("name") ?? objectName
        let model = string("model")
        let minReplicas = integer("replicas.min") ?? 1
        let maxReplicas = integer("replicas.max") ?? minReplicas
        var metric = EndpointConfig.Metric.concurrency
        if let m = string("autoscaling.metric") {
            if let parsed = EndpointConfig.Metric(rawValue: m) { metric = parsed } else {
                fail("autoscaling.metric", "unknown autoscaling metric \"\(m)\"", "use concurrency or rps")
            }
        }
        var window = 300.0
        if let text = string("autoscaling.scale_down_window") {
            if let s = DurationText.seconds(text) { window = s } else {
                fail("autoscaling.scale_down_window", "\"\(text)\" is not a duration", "write it like 300s or 5m")
            }
        }
        func unknown(_ path: String) -> Bool { Value.map(attrs).value(at: path)?.isUnknown == true }
        var canary: EndpointConfig.Canary?
        if let c = string("traffic.canary") {
            canary = .init(model: c, percent: number("traffic.percent") ?? 10)
        } else if unknown("traffic.canary") {
            // A version this apply creates (`${model_version.v2}`): known after apply; the share is checked now.
            canary = .init(model: "(known after apply)", percent: number("traffic.percent") ?? 10)
        } else if number("traffic.percent") != nil {
            fail("traffic.percent", "traffic.percent without traffic.canary", "name the canary version in traffic.canary, or remove traffic")
        }
        if let t = string("ready_timeout"), DurationText.seconds(t) == nil {
            fail("ready_timeout", "\"\(t)\" is not a duration", "write it like 120s or 5m")
        }
        let port = integer("port")
        var placement: Placement?
        if let hosts = Value.map(attrs).value(at: "hosts"), !hosts.isNull, !hosts.isUnknown {
            let names = hosts.mapValue?["names"].flatMap { $0.isNull ? nil : $0 }
            if let names, !names.isUnknown, names.listValue?.allSatisfy({ $0.stringValue != nil }) != true {
                fail("hosts.names", "hosts.names must be a list of host names", "e.g. hosts: { names: [serve-1, serve-2] }")
            }
            placement = Placement(count: integer("hosts.count"), names: names?.listValue?.compactMap(\.stringValue))
        }
        // Until references resolve, check the rest with stand-ins for what is not known yet.
        let config = EndpointConfig(
            name: name, model: model ?? "(known after apply)", features: string("features"),
            replicas: .init(min: minReplicas, max: maxReplicas),
            autoscaling: .init(metric: metric, target: number("autoscaling.target") ?? 8, scaleDownWindow: window),
            canary: canary, captureSamplePercent: number("capture.sample_percent") ?? 0,
            host: string("host") ?? "127.0.0.1", port: port ?? 8080, placement: placement)
        for problem in config.problems() where !unknown(problem.field) {
            fail(problem.field, "endpoint \(name): \(problem.field) \(problem.message)", Self.remedy(for: problem.field))
        }
        guard model != nil, port != nil, canary?.model != "(known after apply)" else { return (nil, diagnostics) }
        return (config, diagnostics)
    }

    /// How to fix a field `EndpointConfig.problems()` names.
    static func remedy(for field: String) -> String {
        switch field {
        case "traffic.percent": "Give the canary's share of requests as a number from 0 to 100, e.g. `traffic: { canary: ${model_version.v2}, percent: 10 }`."
        case "capture.sample_percent": "Give the share of requests to capture as a number from 0 to 100, e.g. `capture: { sample_percent: 5 }`."
        case "replicas.min", "replicas.max": "Set `replicas: { min: 1, max: 4 }` with 1 ≤ min ≤ max ≤ 64."
        case "autoscaling.target": "Set `autoscaling: { metric: concurrency, target: 8 }` with a target above 0."
        case "port": "Choose a port from 1 to 65535 that no other program uses."
        case "features": "Write `features: ${feature_service.NAME.id}` or `${feature_view.NAME.id}`."
        case "name": "Use letters, digits, `_` and `-`."
        case "hosts", "hosts.count", "hosts.names": "Write `hosts: { count: 2 }` (any live hosts) or `hosts: { names: [a, b] }` (the agents' --host names)."
        default: "Fix `\(field)` in the spec."
        }
    }

    public func validate(_ request: ValidateRequest) async throws -> ValidateResponse {
        if request.type == "load_balancer" { return LoadBalancerResource(provider: self).validate(request) }
        try checkType(request.type)
        let (config, diagnostics0) = Self.config(address: request.address, request.config)
        let (choice, controlProblems) = ControlChoice.parse(request.config)
        remember(request.config, address: request.address)
        var diagnostics = diagnostics0 + controlProblems
        if config == nil && request.config["model"]?.isUnknown != true && request.config["port"]?.isUnknown != true {
            if request.config["model"] == nil {
                diagnostics.append(.init(attribute: "model", .error("endpoint needs a model", detail: "set model: ${model_alias.NAME} or ${model_version.NAME}", address: request.address)))
            }
            if request.config["port"] == nil {
                diagnostics.append(.init(attribute: "port", .error("endpoint needs a port", detail: "set port: 8080 (any free port)", address: request.address)))
            }
        }
        if !diagnostics.contains(where: { $0.diagnostic.severity == .error }) {
            let name = request.config["name"]?.stringValue ?? ResourceAddress(parsing: request.address)?.objectName ?? request.address
            // Serving hosts resolve models in their own registry; only the local one can be checked here.
            if choice == .sqlite { diagnostics += modelProblems(request.config, endpoint: name, address: request.address) }
        }
        return ValidateResponse(diagnostics: diagnostics)
    }

    public func plan(_ request: PlanRequest) async throws -> PlanResponse {
        if request.type == "load_balancer" { return LoadBalancerResource(provider: self).plan(request) }
        try checkType(request.type)
        let (parsed, configProblems) = Self.config(address: request.address, request.proposed)
        var planned = request.proposed
        let objectName = ResourceAddress(parsing: request.address)?.objectName ?? request.address
        if planned["name"] == nil || planned["name"]?.isNull == true { planned["name"] = .string(objectName) }
        planned["id"] = planned["name"]
        if planned["host"] == nil || planned["host"]?.isNull == true { planned["host"] = "127.0.0.1" }
        if let host = planned["host"]?.stringValue, let port = planned["port"]?.intValue {
            planned["url"] = .string("http://\(host):\(port)")
        } else {
            planned["url"] = .unknown
        }
        // What the agent serves and how many replicas are ready are known only once it has
        // applied a changed config (an alias may have moved; the autoscaler sets the count);
        // an unchanged endpoint keeps what refresh found.
        let unchanged = request.prior.map { prior in request.proposed.allSatisfy { Self.same($0.value, prior.attributes[$0.key] ?? .null) } } ?? false
        planned["served_version"] = unchanged ? (request.prior?.attributes["served_version"] ?? .unknown) : .unknown
        planned["ready_replicas"] = unchanged ? (request.prior?.attributes["ready_replicas"] ?? .unknown) : .unknown
        planned["serving_hosts"] = unchanged ? (request.prior?.attributes["serving_hosts"] ?? .unknown) : .unknown
        // A model alias or version it depends on changes in this plan: what `model` (or the
        // canary) resolves to moves, so apply rolls the endpoint out and waits, and the plan says so.
        var rollsOut = unchanged && Self.followsModelChange(request.changedDependencies)
        var moved: [AttributeDiagnostic] = []
        if unchanged, !rollsOut, let parsed, let served = request.prior?.attributes["served_version"]?.stringValue,
            let now = try? modelSource().resolve(parsed.model), now.version != served
        {
            // The hosts serve what the last apply pinned; the reference names another version now
            // (its alias moved in the registry, outside this spec): apply pins and rolls out that one.
            rollsOut = true
            moved.append(AttributeDiagnostic(attribute: "model", .warning(
                "endpoint \(parsed.name) serves \(served), but \(parsed.model) names \(now.version) now: apply rolls it out",
                detail: "The alias moved in the registry since the last apply. To keep \(served), point the alias back or name the version in `model`.",
                address: request.address)))
        }
        if rollsOut {
            // A rollout may change the replicas and hosts too (a canary that now names the main version shares its replicas).
            for key in ["served_version", "ready_replicas", "serving_hosts"] { planned[key] = .unknown }
        }
        // Refresh found fewer ready replicas than the minimum (a dead agent or router): the plan
        // restores them, as an update whose diff says so, instead of "no changes".
        if let minimum = parsed?.replicas.min, minimum > 0, let ready = request.prior?.attributes["ready_replicas"]?.intValue, ready == 0 {
            planned["ready_replicas"] = .int(minimum)
            planned["serving_hosts"] = .unknown
        }
        let diagnostics = configProblems + moved
        guard let parsed, !diagnostics.contains(where: { $0.diagnostic.severity == .error }) else {
            return PlanResponse(planned: planned, diagnostics: diagnostics)
        }
        let rollout = rollsOut ? ["served_version"] : nil
        // The routers of a shared control store listen on the serving hosts, not here.
        guard ControlChoice.parse(request.proposed).0 == .sqlite else { return PlanResponse(planned: planned, changesInPlace: rollout, diagnostics: diagnostics) }
        return PlanResponse(planned: planned, changesInPlace: rollout,
                            diagnostics: diagnostics + portProblems(parsed, prior: request.prior, address: request.address))
    }

    /// Models named by text in the spec must resolve now: unlike a reference
    /// (`${model_alias.NAME.uri}`), text does not make the endpoint wait for this apply to register
    /// them. Validate sees references as unknown, so what it sees known was written as text.
    func modelProblems(_ config: [String: Value], endpoint: String, address: String) -> [AttributeDiagnostic] {
        var problems: [AttributeDiagnostic] = []
        let source = defaultModelSource(dataDirectory: dataDirectory)
        for attribute in ["model", "traffic.canary"] {
            guard let reference = Value.map(config).value(at: attribute)?.stringValue else { continue }
            do { _ = try source.resolve(reference) } catch {
                let because = Self.firstLine(error)
                problems.append(AttributeDiagnostic(attribute: attribute, .error(
                    "model \(reference) of endpoint \(endpoint) cannot be served: \(because)",
                    detail: "Name a model version or alias that exists (`mlinfra models show NAME`), or refer to one this spec registers "
                        + "(`${model_alias.NAME.uri}`, `${model_version.NAME.uri}`) so the endpoint waits for it.", address: address)))
            }
        }
        return problems
    }

    /// Whether a proposed value is the one state holds. State keeps a secret (`control.postgres.url`)
    /// only as its HMAC, which matches any proposed value here: the core compares those itself.
    static func same(_ proposed: Value, _ prior: Value) -> Bool {
        if Secrets.isRedacted(prior) { return !proposed.isNull }
        if case .map(let new) = proposed, case .map(let old) = prior {
            return new.count == old.count && new.allSatisfy { key, value in old[key].map { same(value, $0) } ?? false }
        }
        return proposed == prior
    }

    /// Why a reference does not resolve, in one line: the registry's message may carry its own
    /// hint on later lines.
    static func firstLine(_ error: any Error) -> String {
        ((error as? ModelResolutionError)?.message ?? ErrorText.describe(error)).split(separator: "\n").first.map(String.init) ?? ""
    }

    /// The model source apply and plan resolve references with: the registry the spec's
    /// `registry` resource chose, else the data directory's.
    func modelSource() -> any ModelSource {
        let location = (try? registryLocation?()) ?? RegistryLocation(directory: dataDirectory.appendingPathComponent("registry"))
        return settings.modelSources.withLock { sources in
            if let source = sources[location] { return ChainedModelSource([source]) }
            let source = RegistryModelSource(location: location, mlmodel: MLmodelYAML.read)
            sources[location] = source
            return ChainedModelSource([source])
        }
    }

    /// The router's port must be free, unless this endpoint already holds it.
    func portProblems(_ config: EndpointConfig, prior: ResourceObject?, address: String) -> [AttributeDiagnostic] {
        var problems: [AttributeDiagnostic] = []
        // The port this endpoint already holds (or another endpoint of this data directory) is no surprise.
        let ours = (try? SQLiteControlStore(directory: servingDirectory).endpoints()) ?? []
        if let holder = ours.first(where: { $0.config.port == config.port && $0.config.host == config.host }) {
            if holder.config.name != config.name && holder.config.name != prior?.id {
                problems.append(AttributeDiagnostic(attribute: "port", .error(
                    "port \(config.port) is already the port of endpoint \(holder.config.name)",
                    detail: "Give each endpoint its own port.", address: address)))
            }
        } else if let reason = PortProbe.inUse(host: config.host, port: config.port) {
            problems.append(AttributeDiagnostic(attribute: "port", .error(
                "port \(config.port) on \(config.host) is not free: \(reason)",
                detail: "Another program listens there (`ss -ltnp 'sport = :\(config.port)'` names it); stop it or choose another port.",
                address: address)))
        }
        return problems
    }

    /// Remembers the control store the spec gives `address` (see `Settings.chosen`).
    func remember(_ attributes: [String: Value], address: String) {
        guard let choice = ControlChoice.parse(attributes).0 else { return }
        settings.chosen.withLock { $0[address] = choice }
    }

    /// The control store a resource's `control` names, with the choice: the spec's as validate
    /// saw it, else (a resource gone from the spec) the one PostgreSQL store the spec names, else
    /// what `attributes` say.
    func control(_ attributes: [String: Value], address: String? = nil) throws -> (store: any ControlStore, choice: ControlChoice) {
        let chosen = settings.chosen.withLock { $0 }
        let shared = Set(chosen.values.filter(\.isShared))
        let (parsed, problems) = ControlChoice.parse(attributes)
        let fallback = attributes["control"].map { !$0.isNull } == true && shared.count == 1 ? shared.first : parsed
        guard let choice = address.flatMap({ chosen[$0] }) ?? fallback else {
            throw ProviderError(provider: Self.name, message: problems.first?.diagnostic.summary ?? "the control store is not known yet",
                                detail: problems.first?.diagnostic.detail ?? "give control.postgres.url a known value")
        }
        return (try settings.stores.store(choice, servingDirectory: servingDirectory), choice)
    }

    /// Whether one of `dependencies` (a plan's changed dependencies) is a model alias or version.
    static func followsModelChange(_ dependencies: [String]?) -> Bool {
        (dependencies ?? []).contains { ["model_alias", "model_version"].contains(ResourceAddress(parsing: $0)?.type ?? "") }
    }

    public func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        if request.type == "load_balancer" { return try await LoadBalancerResource(provider: self).apply(request) }
        try checkType(request.type)
        if request.action == .delete {
            guard let prior = request.prior else { return ApplyResponse(new: nil) }
            let (store, choice) = try control(prior.attributes, address: request.address)
            try store.removeEndpoint(prior.id)
            // Each host's agent stops it and removes its own status; a dead host has nothing to stop.
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let live = Set(try store.liveHosts().map(\.host))
                let running = try store.statuses(prior.id).filter { live.contains($0.host) }
                if running.isEmpty || (choice == .sqlite && AgentProcess(dataDirectory: dataDirectory).runningPID() == nil) { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            try store.removeStatus(prior.id, host: nil)
            return ApplyResponse(new: nil)
        }
        let (parsed, diagnostics) = Self.config(address: request.address, request.config)
        guard var config = parsed, !diagnostics.contains(where: { $0.diagnostic.severity == .error }) else {
            return ApplyResponse(new: nil, diagnostics: diagnostics.map(\.diagnostic))
        }
        // The plan marked what it serves unknown (a model alias it serves moved): ask every host to
        // resolve again, and wait below for the generation that answers it.
        if request.prior != nil, request.planned["served_version"]?.isUnknown == true { config.resolveRequestedAt = Date().timeIntervalSince1970 }
        // What was reviewed is what runs: the hosts serve the versions the references name now. A
        // reference apply cannot resolve goes unpinned: the hosts resolve it in theirs, or say why not.
        let source = modelSource()
        var unpinned: [String] = []
        func pin(_ reference: String) -> ModelPin? {
            do { return ModelPin(try source.resolve(reference)) } catch {
                unpinned.append("\(reference) (\(Self.firstLine(error)))")
                return nil
            }
        }
        config.pinned = pin(config.model)
        if let canary = config.canary { config.canary?.pinned = pin(canary.model) }
        let (store, choice) = try control(request.config)
        if let prior = request.prior, prior.id != config.name { try store.removeEndpoint(prior.id) }
        let generation = try store.putEndpoint(config)
        // One machine: the data directory's agent, started here. Team: the serving hosts' agents; nothing starts here.
        if choice == .sqlite { try ensureAgent() }
        let timeout = request.config["ready_timeout"]?.stringValue.flatMap(DurationText.seconds) ?? defaultReadyTimeout
        let readiness = try await waitReady(store: store, choice: choice, config: config, generation: generation, timeout: timeout)
        let new = ResourceObject(id: config.name, attributes: Self.attributes(request.config, config: config, readiness: readiness))
        guard readiness.problems.isEmpty else {
            let log = choice == .sqlite ? " and \(AgentProcess(dataDirectory: dataDirectory).logFile.path)" : " and the agents' logs (journalctl -u mlinfra-agent)"
            return ApplyResponse(new: new, diagnostics: [.error(
                readiness.settledBlocked
                    ? "endpoint \(config.name) cannot be served as applied"
                    : "endpoint \(config.name) is not ready after \(DurationText.format(seconds: timeout))",
                detail: "\(readiness.problems.joined(separator: "; ")). See `mlinfra endpoints status \(config.name)`\(log).",
                address: request.address)])
        }
        guard unpinned.isEmpty else {
            return ApplyResponse(new: new, diagnostics: [.warning(
                "endpoint \(config.name) serves without a pin: apply could not resolve \(unpinned.joined(separator: ", "))",
                detail: "The serving hosts resolved it in their own registry, and follow it there. Give the spec a `registry` resource "
                    + "that holds the model, so that apply pins the version it reviewed.",
                address: request.address)])
        }
        return ApplyResponse(new: new)
    }

    public func read(_ request: ReadRequest) async throws -> ReadResponse {
        if request.type == "load_balancer" { return try await LoadBalancerResource(provider: self).read(request) }
        try checkType(request.type)
        let (store, choice) = try control(request.prior.attributes, address: request.address)
        guard let desired = try store.endpoint(request.id) else { return ReadResponse(current: nil) }
        let readiness = try await observe(store: store, choice: choice, config: desired.config, generation: desired.generation)
        var attributes = Self.attributes(request.prior.attributes, config: desired.config, readiness: readiness)
        attributes["id"] = .string(request.id)
        var diagnostics: [Diagnostic] = []
        if readiness.serving.isEmpty {
            let why = readiness.problems.joined(separator: "; ")
            let remedy = choice == .sqlite
                ? "the next apply restarts it; or start the agent with `mlinfra agent --detach --data-dir \(dataDirectory.path)`"
                : "start an agent on a serving host: `mlinfra agent --control URL --host NAME` (docs/serving-hosts.md)"
            diagnostics.append(.warning("endpoint \(request.id) is not served: \(why)", detail: remedy, address: request.address))
        }
        return ReadResponse(current: ResourceObject(id: request.id, attributes: attributes), diagnostics: diagnostics)
    }

    public func importResource(_ request: ImportRequest) async throws -> ImportResponse {
        try checkType(request.type)
        let store = try SQLiteControlStore(directory: servingDirectory)
        guard let desired = try store.endpoint(request.id) else { return ImportResponse(imported: nil) }
        let c = desired.config
        var attrs: [String: Value] = [
            "name": .string(c.name), "model": .string(c.model), "port": .int(c.port), "host": .string(c.host),
            "replicas": ["min": .int(c.replicas.min), "max": .int(c.replicas.max)],
            "autoscaling": ["metric": .string(c.autoscaling.metric.rawValue), "target": .number(c.autoscaling.target),
                            "scale_down_window": .string(DurationText.format(seconds: c.autoscaling.scaleDownWindow))],
            "capture": ["sample_percent": .number(c.captureSamplePercent)],
        ]
        if let f = c.features { attrs["features"] = .string(f) }
        if let canary = c.canary { attrs["traffic"] = ["canary": .string(canary.model), "percent": .number(canary.percent)] }
        let readiness = try await observe(store: store, choice: .sqlite, config: c, generation: desired.generation)
        return ImportResponse(imported: ResourceObject(id: c.name, attributes: Self.attributes(attrs, config: c, readiness: readiness)))
    }

    // MARK: Helpers

    static func attributes(_ config: [String: Value], config c: EndpointConfig, readiness: Readiness) -> [String: Value] {
        var attributes = config
        attributes["name"] = .string(c.name)
        attributes["host"] = .string(c.host)
        attributes["id"] = .string(c.name)
        attributes["url"] = .string(c.url)
        attributes["served_version"] = readiness.servedVersion.map(Value.string) ?? .null
        attributes["ready_replicas"] = .int(readiness.readyReplicas)
        attributes["serving_hosts"] = .list(readiness.serving.map { .string($0.host) })
        return attributes
    }

    private func checkType(_ type: String) throws {
        guard type == "endpoint" else {
            throw ProviderError(provider: Self.name, message: "resource type \(type) is not served by the serving provider", detail: "it manages `endpoint` and `load_balancer` only")
        }
    }

    /// Starts `mlinfra agent --detach` for the data directory unless an agent runs.
    private func ensureAgent() throws {
        let files = AgentProcess(dataDirectory: dataDirectory)
        if files.runningPID() != nil { return }
        _ = try files.spawnDetached(executable: agentExecutable ?? currentExecutablePath(), dataDirectory: dataDirectory)
    }

    /// Where an endpoint stands on the hosts it is placed on.
    struct Readiness {
        /// The hosts it is placed on now, by the live leases.
        var placed: [String] = []
        /// The placed hosts' reports that say ready at the generation and are served now.
        var serving: [EndpointStatus] = []
        /// What one line per placed host says.
        var lines: [String: String] = [:]
        /// What keeps it from being ready everywhere; empty when it is.
        var problems: [String] = []
        /// The placed hosts that report this generation cannot become ready as it is (its model does not resolve).
        var blocked: [String] = []
        /// True when every placed host is ready or blocked, and one is blocked: waiting longer changes nothing.
        var settledBlocked: Bool { !blocked.isEmpty && placed.allSatisfy { h in blocked.contains(h) || serving.contains { $0.host == h } } }
        var servedVersion: String? { serving.first?.servedVersion }
        var readyReplicas: Int { serving.reduce(0) { $0 + $1.readyReplicas } }
    }

    /// Reads where `config` runs and whether each host that should run it reports it ready at
    /// `generation` — and, with one machine, whether it really is served (a report outlives a dead agent).
    func observe(store: any ControlStore, choice: ControlChoice, config: EndpointConfig, generation: Int) async throws -> Readiness {
        var out = Readiness()
        let live = try store.liveHosts().map(\.host)
        let placement = config.placement ?? Placement()
        out.placed = placement.hosts(for: config.name, live: live)
        let statuses = try store.statuses(config.name)
        if out.placed.count < placement.wanted {
            if choice == .sqlite && placement.wanted > 1 {
                out.problems.append("it asks for \(placement.wanted) hosts, but the one-machine control store has one; use control: { postgres: … } with agents on the serving hosts")
            } else if choice == .sqlite {
                out.problems.append("no agent runs for \(dataDirectory.path)")
            } else {
                let missing = placement.names.map { names in " (not live: \(names.filter { !live.contains($0) }.joined(separator: ", ")))" } ?? ""
                out.problems.append("it asks for \(placement.wanted) hosts but \(out.placed.count) live hosts can take it\(missing); live hosts: "
                    + (live.isEmpty ? "none" : live.joined(separator: ", ")) + "; start `mlinfra agent --control URL --host NAME` on a serving host")
            }
        }
        for host in out.placed {
            var status = statuses.first { $0.host == host }
            if choice == .sqlite {
                status = ServingLiveness.observed(status, down: await ServingLiveness.downReason(dataDirectory: dataDirectory, status: status))
            }
            let line: String
            if let status, status.ready, status.generation >= generation {
                out.serving.append(status)
                line = "ready at \(status.url), \(status.servedVersion ?? "?"), \(status.readyReplicas) replica\(status.readyReplicas == 1 ? "" : "s")"
            } else if let status, status.blocked == true, status.generation >= generation {
                out.blocked.append(host)
                line = "not ready: " + (status.message ?? "its model does not resolve")
            } else if let status, status.generation < generation {
                line = "not ready: its agent is at generation \(status.generation), applying \(generation)"
            } else {
                line = "not ready: " + (status?.message ?? "its agent has not reported on it yet")
            }
            out.lines[host] = line
            if !line.hasPrefix("ready") { out.problems.append("host \(host): \(line.dropFirst("not ready: ".count))") }
        }
        return out
    }

    /// Waits until every host the endpoint is placed on reports it ready, printing a line per
    /// host when what it reports changes.
    private func waitReady(store: any ControlStore, choice: ControlChoice, config: EndpointConfig, generation: Int, timeout: Double) async throws -> Readiness {
        let deadline = ContinuousClock.now + .seconds(timeout)
        var printed: [String: String] = [:]
        var last = Readiness()
        repeat {
            last = try await observe(store: store, choice: choice, config: config, generation: generation)
            if choice.isShared {
                for host in last.placed where printed[host] != last.lines[host] {
                    printed[host] = last.lines[host]
                    FileHandle.standardError.write(Data("endpoint \(config.name) on host \(host): \(last.lines[host] ?? "")\n".utf8))
                }
            }
            if last.problems.isEmpty || last.settledBlocked { return last }
            try await Task.sleep(nanoseconds: 100_000_000)
        } while ContinuousClock.now < deadline
        return last
    }
}

/// Whether a TCP port can be bound, asked the way the router will bind it.
enum PortProbe {
    /// Why `host:port` cannot be bound now, or nil when it can.
    static func inUse(host: String, port: Int) -> String? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }  // a name or IPv6: the agent reports
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound != 0 else { return nil }
        return errno == EADDRINUSE ? "it is in use" : String(cString: strerror(errno))
    }
}

/// The model source the agent uses: `file:` paths, and the data directory's model registry
/// (MLflow model directories included).
public func defaultModelSource(dataDirectory: URL) -> any ModelSource {
    ChainedModelSource([RegistryModelSource(directory: dataDirectory.appendingPathComponent("registry"), mlmodel: MLmodelYAML.read)])
}
