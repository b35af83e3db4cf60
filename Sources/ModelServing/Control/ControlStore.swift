import Foundation

/// What the agent of one host reports about one endpoint placed on it.
public struct EndpointStatus: Sendable, Codable, Hashable {
    public struct Replica: Sendable, Codable, Hashable {
        public enum State: String, Sendable, Codable, Hashable {
            case starting, ready, draining, restarting
        }
        public var pid: Int32
        public var port: Int
        public var state: State
        public var restarts: Int
        public init(pid: Int32, port: Int, state: State, restarts: Int) {
            self.pid = pid
            self.port = port
            self.state = state
            self.restarts = restarts
        }
    }

    public struct Version: Sendable, Codable, Hashable {
        /// The model version id, e.g. `fraud/3`.
        public var version: String
        /// `primary` or `canary`.
        public var role: String
        /// The share of traffic it gets, 0–100.
        public var percent: Double
        public var desiredReplicas: Int
        public var replicas: [Replica]
        public init(version: String, role: String, percent: Double, desiredReplicas: Int, replicas: [Replica]) {
            self.version = version
            self.role = role
            self.percent = percent
            self.desiredReplicas = desiredReplicas
            self.replicas = replicas
        }
        public var readyReplicas: Int { replicas.filter { $0.state == .ready }.count }
    }

    public var name: String
    /// The host whose agent reports it (`local` for the one-machine agent).
    public var host: String
    /// Where that host's router for the endpoint answers.
    public var url: String
    /// The config generation this status reflects.
    public var generation: Int
    /// True when every version of the generation has its replicas ready and the router listens.
    public var ready: Bool
    /// True when the router listens and sends traffic to ready replicas — during a rollout too,
    /// when `ready` is false: a load balancer may send it requests.
    public var serving: Bool
    /// What is not ready, or the error that keeps the endpoint from serving.
    public var message: String?
    /// True when this generation cannot become ready without a new config or a registry change
    /// (a model, alias, flavor or feature binding that does not resolve): apply stops waiting.
    public var blocked: Bool?
    public var versions: [Version]
    public var updatedAt: Double

    public init(name: String, host: String = HostIdentity.localName, url: String, generation: Int, ready: Bool, serving: Bool? = nil,
                message: String?, blocked: Bool? = nil, versions: [Version], updatedAt: Double) {
        self.name = name
        self.blocked = blocked
        self.host = host
        self.serving = serving ?? ready
        self.url = url
        self.generation = generation
        self.ready = ready
        self.message = message
        self.versions = versions
        self.updatedAt = updatedAt
    }

    public var readyReplicas: Int { versions.reduce(0) { $0 + $1.readyReplicas } }
    /// The version that gets the main share of traffic.
    public var servedVersion: String? { versions.first { $0.role == "primary" }?.version }
}

/// One autoscaler decision with its inputs.
public struct ScalingDecision: Sendable, Codable, Hashable {
    public var endpoint: String
    public var time: Double
    public var current: Int
    public var desired: Int
    public var metric: String
    /// The measured per-replica value of the metric.
    public var value: Double
    public var target: Double
    /// The recommendation before stabilization and clamping.
    public var recommended: Int
    public var reason: String

    public init(endpoint: String, time: Double, current: Int, desired: Int, metric: String, value: Double, target: Double, recommended: Int, reason: String) {
        self.endpoint = endpoint
        self.time = time
        self.current = current
        self.desired = desired
        self.metric = metric
        self.value = value
        self.target = target
        self.recommended = recommended
        self.reason = reason
    }
}


/// An agent's hold on a host name: live while `expiresAt` is ahead of the store's clock.
public struct HostLease: Sendable, Codable, Hashable {
    public var host: String
    /// The address its routers are reached at (a name or IP, no port); nil: the spec's `host`.
    public var advertise: String?
    /// Added to each endpoint's port for this host's router (several agents on one machine).
    public var portOffset: Int
    /// Seconds since 1970, by the store's clock.
    public var expiresAt: Double
    public init(host: String, advertise: String?, portOffset: Int, expiresAt: Double) {
        self.host = host
        self.advertise = advertise
        self.portOffset = portOffset
        self.expiresAt = expiresAt
    }
}

/// Who an agent is: the host name it holds a lease on, and how its routers are reached.
public struct HostIdentity: Sendable, Hashable {
    /// The one agent of a data directory (SQLite control store).
    public static let localName = "local"
    public var name: String
    /// The address its routers are reached at; nil: the address they listen on (the spec's `host`).
    public var advertise: String?
    public var portOffset: Int
    public init(name: String = HostIdentity.localName, advertise: String? = nil, portOffset: Int = 0) {
        self.name = name
        self.advertise = advertise
        self.portOffset = portOffset
    }

    /// This machine's name (`gethostname`; no DNS lookup): the default `--host`.
    public static var machineName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Problems with a host name, naming the option.
    public static func nameProblem(_ name: String) -> String? {
        guard !name.isEmpty, name.count <= 63, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }) else {
            return "\"\(name)\" is not a valid host name; use letters, digits, `-`, `_` and `.` (at most 63)"
        }
        return nil
    }
}

/// A lease another live agent holds on the host name this agent asked for.
public struct HostLeaseTaken: Error, Sendable, CustomStringConvertible {
    public var host: String
    public var description: String {
        "another agent holds host \(host); give this agent its own --host name, or stop the other one (its lease then expires)"
    }
}

/// What the control store keeps desired documents of: each kind has its table of documents
/// (written by `apply`) and its table of reports, one per document and host (written by agents).
public enum ControlKind: String, Sendable, CaseIterable {
    case endpoint
    case loadBalancer = "load_balancer"

    /// The table of desired documents; the reports' is `<table>_status`.
    public var table: String { rawValue }
    public var statusTable: String { rawValue + "_status" }
}

/// A desired document as stored: its name, its JSON text and its generation.
public struct ControlDocument: Sendable, Hashable {
    public var name: String
    public var text: String
    public var generation: Int
    public init(name: String, text: String, generation: Int) {
        self.name = name
        self.text = text
        self.generation = generation
    }
}

/// Where `apply` records the desired endpoints and load balancers and agents report on them:
/// a SQLite file beside the one agent of a data directory, or a PostgreSQL database shared by
/// the agents of every serving host. The documents are plain JSON (`EndpointConfig`,
/// `LoadBalancerConfig`), the same an operator could render as manifests.
///
/// Rules every implementation keeps (checked by `ControlStoreTests` against both):
/// - `put` bumps the generation only when the document's text changed, and wakes the agents
///   (`waitForChange` returns); so does `remove`.
/// - Reports are kept per document and host; removing a document keeps them until each host's
///   agent has acted and removed its own.
/// - A lease is live until its expiry, by the store's own clock; `renewLease` refuses a name
///   whose live lease another holder has.
/// - Nothing an implementation throws or logs shows a password.
public protocol ControlStore: Sendable {
    /// Where it is, for messages (never with a password).
    var location: String { get }

    /// Stores a desired document; returns its generation (bumped only when the text changed).
    func put(_ kind: ControlKind, name: String, text: String) throws -> Int
    func remove(_ kind: ControlKind, name: String) throws
    /// The desired documents of a kind, by name.
    func documents(_ kind: ControlKind) throws -> [ControlDocument]

    /// Stores one host's report on a document.
    func setReport(_ kind: ControlKind, name: String, host: String, text: String, updatedAt: Double) throws
    /// Removes one host's report on a document, or every host's when `host` is nil.
    func removeReport(_ kind: ControlKind, name: String, host: String?) throws
    /// Every report of a kind, by document then host.
    func reports(_ kind: ControlKind) throws -> [String]

    func record(_ decision: ScalingDecision) throws
    /// The most recent decisions for an endpoint, newest first.
    func decisions(endpoint: String, limit: Int) throws -> [ScalingDecision]

    /// Takes or renews `identity`'s lease for `seconds` on behalf of `holder` (one per agent installation).
    func renewLease(_ identity: HostIdentity, holder: String, seconds: Double) throws
    /// Gives the lease up at once (graceful shutdown), if `holder` has it.
    func releaseLease(host: String, holder: String) throws
    /// The live leases, by host name.
    func liveHosts() throws -> [HostLease]

    /// Returns when a desired document or the set of hosts may have changed, or after `timeout` seconds.
    func waitForChange(timeout: Double) async
}

/// The JSON text of the documents and reports: keys sorted, so an unchanged document is the same text.
enum ControlJSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func text(_ value: some Encodable) throws -> String { String(decoding: try encoder.encode(value), as: UTF8.self) }
    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T { try JSONDecoder().decode(type, from: Data(text.utf8)) }
}

extension ControlStore {
    /// Stores the desired config; returns its generation (bumped only when the config changed).
    @discardableResult
    public func putEndpoint(_ config: EndpointConfig) throws -> Int {
        try put(.endpoint, name: config.name, text: try ControlJSON.text(config))
    }

    public func removeEndpoint(_ name: String) throws { try remove(.endpoint, name: name) }

    /// The desired configs with their generations, by name.
    public func endpoints() throws -> [(config: EndpointConfig, generation: Int)] {
        try documents(.endpoint).map { (try ControlJSON.decode(EndpointConfig.self, $0.text), $0.generation) }
    }

    public func endpoint(_ name: String) throws -> (config: EndpointConfig, generation: Int)? {
        try endpoints().first { $0.config.name == name }
    }

    public func setStatus(_ status: EndpointStatus) throws {
        try setReport(.endpoint, name: status.name, host: status.host, text: try ControlJSON.text(status), updatedAt: status.updatedAt)
    }

    public func removeStatus(_ name: String, host: String?) throws { try removeReport(.endpoint, name: name, host: host) }

    /// Every host's status of every endpoint, by endpoint then host.
    public func statuses() throws -> [EndpointStatus] { try reports(.endpoint).map { try ControlJSON.decode(EndpointStatus.self, $0) } }

    /// Every host's status of one endpoint.
    public func statuses(_ name: String) throws -> [EndpointStatus] { try statuses().filter { $0.name == name } }

    /// One host's status of an endpoint (the local agent's by default).
    public func status(_ name: String, host: String = HostIdentity.localName) throws -> EndpointStatus? {
        try statuses(name).first { $0.host == host }
    }

    public func decisions(endpoint: String) throws -> [ScalingDecision] { try decisions(endpoint: endpoint, limit: 20) }
}
