import Foundation

/// The desired state of one endpoint, as `apply` writes it into the control store.
public struct EndpointConfig: Sendable, Codable, Hashable {
    public struct Replicas: Sendable, Codable, Hashable {
        public var min: Int
        public var max: Int
        public init(min: Int, max: Int) {
            self.min = min
            self.max = max
        }
    }

    public enum Metric: String, Sendable, Codable, Hashable, CaseIterable {
        /// Requests in flight per replica.
        case concurrency
        /// Requests per second per replica.
        case rps
    }

    public struct Autoscaling: Sendable, Codable, Hashable {
        public var metric: Metric
        /// The per-replica value of the metric the autoscaler aims at.
        public var target: Double
        /// Seconds a lower recommendation must hold before replicas are removed.
        public var scaleDownWindow: Double
        public init(metric: Metric = .concurrency, target: Double = 8, scaleDownWindow: Double = 300) {
            self.metric = metric
            self.target = target
            self.scaleDownWindow = scaleDownWindow
        }
    }

    public struct Canary: Sendable, Codable, Hashable {
        /// A model reference, like `model`.
        public var model: String
        /// The share of requests the canary gets, 0–100.
        public var percent: Double
        /// What `model` resolved to when apply wrote the document, like `EndpointConfig.pinned`.
        public var pinned: ModelPin?
        public init(model: String, percent: Double, pinned: ModelPin? = nil) {
            self.model = model
            self.percent = percent
            self.pinned = pinned
        }
    }

    public var name: String
    /// What to serve: `NAME@alias`, `NAME/VERSION`, `models:/NAME@alias`, or `file:PATH`.
    public var model: String
    /// The version and artifact `model` resolved to when apply wrote the document: the hosts
    /// serve that version and refuse an artifact with another sha256. Nil in a document written
    /// without one (an embedder's, or an older mlinfra's): the hosts then resolve `model` themselves.
    public var pinned: ModelPin?
    /// A feature view or service (`STORE/NAME`) whose online values `/predict` with `entities` reads.
    public var features: String?
    public var replicas: Replicas
    public var autoscaling: Autoscaling
    public var canary: Canary?
    /// The share of requests whose inputs and outputs are captured, 0–100.
    public var captureSamplePercent: Double
    public var host: String
    public var port: Int
    /// Which hosts run it; nil means one host.
    public var placement: Placement?
    /// When an apply asked every host to resolve the model references again (a model alias it
    /// serves moved in that apply): a new document, so the hosts report back at a new generation
    /// and apply waits for the rollout. Nil when the inputs alone changed.
    public var resolveRequestedAt: Double?

    public init(
        name: String, model: String, features: String? = nil, replicas: Replicas = Replicas(min: 1, max: 1),
        autoscaling: Autoscaling = Autoscaling(), canary: Canary? = nil, captureSamplePercent: Double = 0,
        host: String = "127.0.0.1", port: Int, placement: Placement? = nil
    ) {
        self.name = name
        self.model = model
        self.features = features
        self.replicas = replicas
        self.autoscaling = autoscaling
        self.canary = canary
        self.captureSamplePercent = captureSamplePercent
        self.host = host
        self.port = port
        self.placement = placement
    }

    public var url: String { "http://\(host):\(port)" }

    /// Every problem with the config, each naming its field.
    public func problems() -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        if name.isEmpty || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) {
            out.append(ConfigProblem(field: "name", message: "\"\(name)\" is not a valid endpoint name; use letters, digits, _ and -"))
        }
        if let features, FeatureBinding.split(features) == nil {
            out.append(ConfigProblem(field: "features", message: "\"\(features)\" is not STORE/NAME; use ${feature_service.NAME.id} or ${feature_view.NAME.id}"))
        }
        if model.isEmpty { out.append(ConfigProblem(field: "model", message: "no model given; name a model alias (NAME@alias) or version (NAME/3)")) }
        if replicas.min < 1 { out.append(ConfigProblem(field: "replicas.min", message: "must be at least 1, got \(replicas.min)")) }
        if replicas.max < replicas.min {
            out.append(ConfigProblem(field: "replicas.max", message: "must be at least replicas.min (\(replicas.min)), got \(replicas.max)"))
        }
        if replicas.max > 64 { out.append(ConfigProblem(field: "replicas.max", message: "at most 64 replicas per endpoint, got \(replicas.max)")) }
        if !(autoscaling.target > 0) { out.append(ConfigProblem(field: "autoscaling.target", message: "must be greater than 0, got \(autoscaling.target)")) }
        if autoscaling.scaleDownWindow < 0 {
            out.append(ConfigProblem(field: "autoscaling.scale_down_window", message: "must not be negative"))
        }
        if let canary {
            if !(0...100).contains(canary.percent) {
                out.append(ConfigProblem(field: "traffic.percent", message: "must be between 0 and 100, got \(canary.percent)"))
            }
            if canary.model.isEmpty { out.append(ConfigProblem(field: "traffic.canary", message: "no canary model given")) }
        }
        if !(0...100).contains(captureSamplePercent) {
            out.append(ConfigProblem(field: "capture.sample_percent", message: "must be between 0 and 100, got \(captureSamplePercent)"))
        }
        if !(1...65535).contains(port) { out.append(ConfigProblem(field: "port", message: "must be between 1 and 65535, got \(port)")) }
        if host.isEmpty { out.append(ConfigProblem(field: "host", message: "must not be empty")) }
        if let placement { out += placement.problems() }
        return out
    }
}

/// A model reference resolved: the version it named at the time and its artifact's sha256.
public struct ModelPin: Sendable, Codable, Hashable {
    /// The version as the registry names it (`fraud/3`), or `file:<sha256 prefix>` for a plain file.
    public var version: String
    /// The artifact's sha256 (hex).
    public var sha256: String
    public init(version: String, sha256: String) {
        self.version = version
        self.sha256 = sha256
    }
    public init(_ model: ResolvedModel) { self.init(version: model.version, sha256: model.sha256) }
}

/// One problem with an endpoint config, naming the field.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
    public var description: String { "\(field): \(message)" }
}
