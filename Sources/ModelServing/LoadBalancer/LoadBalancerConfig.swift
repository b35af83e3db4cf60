import Foundation

/// The desired state of one load balancer, as `apply` writes it into the control store: nginx
/// listening on `host:port`, passing requests to the routers of the hosts that serve `endpoint`.
public struct LoadBalancerConfig: Sendable, Codable, Hashable {
    public var name: String
    /// The endpoint it fronts (its name).
    public var endpoint: String
    public var host: String
    public var port: Int
    /// Seconds nginx waits for a router's connection before it tries the next host.
    public var connectTimeout: Double

    public init(name: String, endpoint: String, host: String = "127.0.0.1", port: Int, connectTimeout: Double = 1) {
        self.name = name
        self.endpoint = endpoint
        self.host = host
        self.port = port
        self.connectTimeout = connectTimeout
    }

    public var url: String { "http://\(host):\(port)" }

    /// Every problem with the config, each naming its field.
    public func problems() -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        let plain: (String) -> Bool = { !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") } }
        if !plain(name) { out.append(ConfigProblem(field: "name", message: "\"\(name)\" is not a valid load balancer name; use letters, digits, _ and -")) }
        if !plain(endpoint) { out.append(ConfigProblem(field: "endpoint", message: "\"\(endpoint)\" is not an endpoint name; write ${endpoint.NAME.id}")) }
        if !(1...65535).contains(port) { out.append(ConfigProblem(field: "port", message: "must be between 1 and 65535, got \(port)")) }
        if host.isEmpty || host.contains(where: { $0.isWhitespace || $0 == ";" || $0 == "{" || $0 == "}" }) {
            out.append(ConfigProblem(field: "host", message: "\"\(host)\" is not an address nginx can listen on"))
        }
        if !(connectTimeout > 0 && connectTimeout <= 60) {
            out.append(ConfigProblem(field: "connect_timeout", message: "must be more than 0 and at most 60 seconds, got \(connectTimeout)"))
        }
        return out
    }
}

/// What a load-balancer writer (an agent given `--nginx-config`) reports about one load balancer.
public struct LoadBalancerStatus: Sendable, Codable, Hashable {
    public var name: String
    /// The writer's name.
    public var host: String
    /// The config generation its nginx file reflects.
    public var generation: Int
    /// The routers nginx passes requests to (`ADDRESS:PORT`), from the live hosts that serve the endpoint.
    public var upstreams: [String]
    /// Why it passes requests nowhere (or the last reload failed), if so.
    public var message: String?
    public var updatedAt: Double

    public init(name: String, host: String, generation: Int, upstreams: [String], message: String?, updatedAt: Double) {
        self.name = name
        self.host = host
        self.generation = generation
        self.upstreams = upstreams
        self.message = message
        self.updatedAt = updatedAt
    }
}

extension ControlStore {
    @discardableResult
    public func putLoadBalancer(_ config: LoadBalancerConfig) throws -> Int {
        try put(.loadBalancer, name: config.name, text: try ControlJSON.text(config))
    }

    public func removeLoadBalancer(_ name: String) throws { try remove(.loadBalancer, name: name) }

    public func loadBalancers() throws -> [(config: LoadBalancerConfig, generation: Int)] {
        try documents(.loadBalancer).map { (try ControlJSON.decode(LoadBalancerConfig.self, $0.text), $0.generation) }
    }

    public func setLoadBalancerStatus(_ status: LoadBalancerStatus) throws {
        try setReport(.loadBalancer, name: status.name, host: status.host, text: try ControlJSON.text(status), updatedAt: status.updatedAt)
    }

    public func loadBalancerStatuses() throws -> [LoadBalancerStatus] {
        try reports(.loadBalancer).map { try ControlJSON.decode(LoadBalancerStatus.self, $0) }
    }

    /// The routers that serve `endpoint` now: each live host's whose report says it serves, as `ADDRESS:PORT`.
    public func servingRouters(of endpoint: String) throws -> [String] {
        let live = Set(try liveHosts().map(\.host))
        return try statuses(endpoint).filter { $0.serving && live.contains($0.host) }.compactMap { status in
            URLComponents(string: status.url).flatMap { c in c.host.flatMap { host in c.port.map { "\(host):\($0)" } } }
        }
    }
}
