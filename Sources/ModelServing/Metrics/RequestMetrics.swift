import Prometheus
import Synchronization

/// Request counters, a latency histogram per version and the requests in flight of one router or
/// replica, kept in a swift-prometheus registry of its own and exposed in the Prometheus text format.
///
/// Each router and replica has its own registry rather than swift-metrics' process-wide factory, which
/// can be bootstrapped once per process: tests run several routers in one process, and each must
/// count only its own requests (docs/decisions/prometheus-metrics.md).
public final class RequestMetrics: Sendable {
    public static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    /// The metric objects of one version, made once: recording a request is a dictionary lookup
    /// and two or three atomic adds, as before the registry.
    struct Series: Sendable {
        let requests: Counter
        let errors: Counter
        let latency: ValueHistogram
    }

    /// Prefix of every metric name, e.g. `mlinfra_replica`.
    public let prefix: String
    /// Labels every series carries ahead of `version` (the router's `endpoint`).
    private let labels: [(String, String)]
    private let registry = PrometheusCollectorRegistry()
    private let series = Mutex<[String: Series]>([:])
    private let inFlight: Gauge

    public init(prefix: String, labels: [(String, String)] = []) {
        self.prefix = prefix
        self.labels = labels
        inFlight = registry.makeGauge(descriptor: .init("\(prefix)_requests_in_flight", help: "Requests being answered now."))
    }

    /// Records one finished request of `version`.
    public func observe(version: String, seconds: Double, failed: Bool) {
        let s = series.withLock { all in
            if let known = all[version] { return known }
            let made = make(version: version)
            all[version] = made
            return made
        }
        s.requests.increment()
        if failed { s.errors.increment() }
        s.latency.record(seconds)
    }

    private func make(version: String) -> Series {
        let labels = labels + [("version", version)]
        return Series(
            requests: registry.makeCounter(descriptor: .init("\(prefix)_requests_total", help: "Requests answered."), labels: labels),
            errors: registry.makeCounter(descriptor: .init("\(prefix)_request_errors_total", help: "Requests answered with a 5xx status or not at all."),
                                         labels: labels),
            latency: registry.makeValueHistogram(descriptor: .init("\(prefix)_request_duration_seconds", help: "Request latency."),
                                                 labels: labels, buckets: Self.buckets))
    }

    public func enter() { inFlight.increment() }
    public func leave() { inFlight.decrement() }

    /// The Prometheus text exposition (version 0.0.4): this registry's series, then those `snapshot`
    /// sets on a registry made for this scrape — values read from state at scrape time (weights,
    /// healthy replicas, stored rows), so a version that is gone leaves no stale series behind.
    public func exposition(snapshot: (PrometheusCollectorRegistry) -> Void = { _ in }) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        registry.emit(into: &buffer)
        let now = PrometheusCollectorRegistry()
        snapshot(now)
        now.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

extension MetricNameDescriptor {
    /// A metric by its whole name (unit and `_total` included) and its `# HELP` text.
    init(_ name: String, help: String) { self.init(metricName: name, unitName: "", helpText: help) }
}
