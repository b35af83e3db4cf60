import Foundation
import MLInfraCore
import ModelServing

/// The `load_balancer` resource: nginx in front of the routers of every host that serves an endpoint.
///
/// `apply` writes the desired `LoadBalancerConfig` into the PostgreSQL control store and waits
/// until an nginx writer (`mlinfra agent --control URL --nginx-config FILE`, on the nginx
/// machine) reports the generation written with at least one router behind it. The writer keeps
/// the upstreams in step with the live hosts from then on; `read` shows the routers it passes
/// requests to now (`upstreams`, computed: it changes when a host dies, and is not drift).
struct LoadBalancerResource {
    let provider: ServingProvider

    static let schema = ResourceSchema(
        version: 1,
        description: "nginx in front of the routers of every host that serves an endpoint; failover by nginx's own retries.",
        attributes: [
            "name": AttributeSchema(.string, computed: true, optional: true, forceNew: true, description: "Defaults to the resource name."),
            "endpoint": AttributeSchema(.string, required: true, description: "The endpoint it fronts: ${endpoint.NAME.id}."),
            "port": AttributeSchema(.int, required: true, description: "The port nginx listens on."),
            "host": AttributeSchema(.string, description: "The address nginx listens on (default 127.0.0.1)."),
            "connect_timeout": AttributeSchema(.duration, description: "How long nginx waits for a router's connection before trying the next host (default 1s)."),
            "control": ControlChoice.schema,
            "ready_timeout": AttributeSchema(.duration, description: "How long apply waits for an nginx writer to take it (default 60s)."),
            "id": .computed(.string, description: "The load balancer's name."),
            "url": .computed(.string, description: "http://HOST:PORT"),
            "upstreams": .computed(.list(.string), description: "The routers nginx passes requests to now (ADDRESS:PORT; changes when a host dies; not drift)."),
        ])

    /// Reads a config from attribute values; nil (with diagnostics when wrong) when not complete yet.
    static func config(address: String, _ attrs: [String: Value]) -> (LoadBalancerConfig?, [AttributeDiagnostic]) {
        var diagnostics: [AttributeDiagnostic] = []
        func fail(_ attribute: String, _ summary: String, _ detail: String) {
            diagnostics.append(AttributeDiagnostic(attribute: attribute, .error(summary, detail: detail, address: address)))
        }
        func known(_ key: String) -> Value? { attrs[key].flatMap { $0.isNull || $0.isUnknown ? nil : $0 } }
        let name = known("name")?.stringValue ?? ResourceAddress(parsing: address)?.objectName ?? address
        var timeout = 1.0
        if let text = known("connect_timeout")?.stringValue {
            if let seconds = DurationText.seconds(text) { timeout = seconds } else { fail("connect_timeout", "\"\(text)\" is not a duration", "write it like 1s or 500ms") }
        }
        if let text = known("ready_timeout")?.stringValue, DurationText.seconds(text) == nil {
            fail("ready_timeout", "\"\(text)\" is not a duration", "write it like 60s or 2m")
        }
        let (choice, controlProblems) = ControlChoice.parse(attrs)
        diagnostics += controlProblems
        if choice == .sqlite {
            fail("control", "load_balancer \(name) needs a PostgreSQL control store",
                 "A load balancer fronts the serving hosts' agents: give it the endpoint's `control: { postgres: { url: … } }`.")
        }
        let endpoint = known("endpoint")?.stringValue
        let port = known("port")?.intValue
        let config = LoadBalancerConfig(name: name, endpoint: endpoint ?? "pending", host: known("host")?.stringValue ?? "127.0.0.1",
                                        port: port ?? 80, connectTimeout: timeout)
        for problem in config.problems() where attrs[problem.field]?.isUnknown != true {
            fail(problem.field, "load_balancer \(name): \(problem.field) \(problem.message)", "Fix `\(problem.field)`.")
        }
        if attrs["endpoint"] == nil { fail("endpoint", "load_balancer needs an endpoint", "set endpoint: ${endpoint.NAME.id}") }
        if attrs["port"] == nil { fail("port", "load_balancer needs a port", "set port: 8080 (the port nginx listens on)") }
        guard endpoint != nil, port != nil, choice != nil else { return (nil, diagnostics) }
        return (config, diagnostics)
    }

    func validate(_ request: ValidateRequest) -> ValidateResponse {
        provider.remember(request.config, address: request.address)
        return ValidateResponse(diagnostics: Self.config(address: request.address, request.config).1)
    }

    func plan(_ request: PlanRequest) -> PlanResponse {
        let (config, diagnostics) = Self.config(address: request.address, request.proposed)
        var planned = request.proposed
        let name = config?.name ?? ResourceAddress(parsing: request.address)?.objectName ?? request.address
        planned["name"] = .string(name)
        planned["id"] = .string(name)
        planned["url"] = config.map { .string($0.url) } ?? .unknown
        let unchanged = request.prior.map { prior in request.proposed.allSatisfy { prior.attributes[$0.key] ?? .null == $0.value } } ?? false
        planned["upstreams"] = unchanged ? (request.prior?.attributes["upstreams"] ?? .unknown) : .unknown
        return PlanResponse(planned: planned, diagnostics: diagnostics)
    }

    func apply(_ request: ApplyRequest) async throws -> ApplyResponse {
        if request.action == .delete {
            guard let prior = request.prior else { return ApplyResponse(new: nil) }
            let (store, _) = try provider.control(prior.attributes, address: request.address)
            try store.removeLoadBalancer(prior.id)
            // The writers take it out of nginx and remove their reports.
            let deadline = ContinuousClock.now + .seconds(30)
            while try store.loadBalancerStatuses().contains(where: { $0.name == prior.id }), ContinuousClock.now < deadline {
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            try store.removeReport(.loadBalancer, name: prior.id, host: nil)
            return ApplyResponse(new: nil)
        }
        let (parsed, diagnostics) = Self.config(address: request.address, request.config)
        guard let config = parsed, !diagnostics.contains(where: { $0.diagnostic.severity == .error }) else {
            return ApplyResponse(new: nil, diagnostics: diagnostics.map(\.diagnostic))
        }
        let (store, _) = try provider.control(request.config)
        if let prior = request.prior, prior.id != config.name { try store.removeLoadBalancer(prior.id) }
        let generation = try store.putLoadBalancer(config)
        let timeout = request.config["ready_timeout"]?.stringValue.flatMap(DurationText.seconds) ?? 60
        let deadline = ContinuousClock.now + .seconds(timeout)
        var taken: LoadBalancerStatus?
        var reports: [LoadBalancerStatus] = []
        while ContinuousClock.now < deadline {
            reports = try store.loadBalancerStatuses().filter { $0.name == config.name }
            taken = reports.first { $0.generation >= generation && $0.message == nil && !$0.upstreams.isEmpty }
            if taken != nil { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let new = ResourceObject(id: config.name, attributes: Self.attributes(request.config, config: config, upstreams: taken?.upstreams ?? []))
        guard taken != nil else {
            let why = reports.isEmpty
                ? "no nginx writer has reported on it; run `mlinfra agent --control URL --nginx-config /etc/nginx/conf.d/mlinfra.conf` on the nginx machine"
                : reports.map { "\($0.host): \($0.message ?? "at generation \($0.generation), applying \(generation)")" }.joined(separator: "; ")
            return ApplyResponse(new: new, diagnostics: [.error(
                "load_balancer \(config.name) is not serving after \(DurationText.format(seconds: timeout))", detail: why, address: request.address)])
        }
        return ApplyResponse(new: new)
    }

    func read(_ request: ReadRequest) async throws -> ReadResponse {
        let (store, _) = try provider.control(request.prior.attributes, address: request.address)
        guard let desired = try store.loadBalancers().first(where: { $0.config.name == request.id }) else { return ReadResponse(current: nil) }
        let reports = try store.loadBalancerStatuses().filter { $0.name == request.id }.sorted { $0.updatedAt > $1.updatedAt }
        let upstreams = reports.first?.upstreams ?? []
        var diagnostics: [Diagnostic] = []
        if upstreams.isEmpty {
            diagnostics.append(.warning("load_balancer \(request.id) passes requests nowhere: " + (reports.first?.message ?? "no nginx writer reports on it"),
                                        detail: "start the endpoint's serving hosts' agents, and `mlinfra agent --control URL --nginx-config FILE` beside nginx",
                                        address: request.address))
        }
        return ReadResponse(current: ResourceObject(id: request.id, attributes: Self.attributes(request.prior.attributes, config: desired.config, upstreams: upstreams)),
                            diagnostics: diagnostics)
    }

    static func attributes(_ config: [String: Value], config c: LoadBalancerConfig, upstreams: [String]) -> [String: Value] {
        var attributes = config
        attributes["name"] = .string(c.name)
        attributes["id"] = .string(c.name)
        attributes["url"] = .string(c.url)
        attributes["upstreams"] = .list(upstreams.map(Value.string))
        return attributes
    }
}
