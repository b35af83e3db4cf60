import Foundation
import Synchronization

/// Request counters and a latency histogram per label set, rendered as Prometheus text.
public final class RequestMetrics: Sendable {
    public static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

    struct Series: Sendable {
        var counts = [UInt64](repeating: 0, count: RequestMetrics.buckets.count)
        var total: UInt64 = 0
        var sum: Double = 0
        var errors: UInt64 = 0
    }

    /// Prefix of every metric name, e.g. `mlinfra_replica`.
    public let prefix: String
    private let series: Mutex<[String: Series]>
    private let inFlightCount = Atomic<Int>(0)

    public init(prefix: String) {
        self.prefix = prefix
        series = Mutex([:])
    }

    /// Records one finished request. `labels` is a Prometheus label body such as `version="fraud/3"`.
    public func observe(labels: String, seconds: Double, failed: Bool) {
        series.withLock { all in
            var s = all[labels] ?? Series()
            s.total += 1
            s.sum += seconds
            if failed { s.errors += 1 }
            if let i = RequestMetrics.buckets.firstIndex(where: { seconds <= $0 }) { s.counts[i] += 1 }
            all[labels] = s
        }
    }

    public func enter() { inFlightCount.add(1, ordering: .relaxed) }
    public func leave() { inFlightCount.subtract(1, ordering: .relaxed) }
    public var inFlight: Int { inFlightCount.load(ordering: .relaxed) }

    /// Total requests and errors per label set.
    public func totals() -> [String: (requests: UInt64, errors: UInt64)] {
        series.withLock { $0.mapValues { ($0.total, $0.errors) } }
    }

    /// The latency below which `quantile` of requests for `labels` finished (bucket upper bound).
    public func quantile(_ quantile: Double, labels: String) -> Double? {
        series.withLock { all in
            guard let s = all[labels], s.total > 0 else { return nil }
            let rank = UInt64((Double(s.total) * quantile).rounded(.up))
            var seen: UInt64 = 0
            for (i, c) in s.counts.enumerated() {
                seen += c
                if seen >= rank { return RequestMetrics.buckets[i] }
            }
            return .infinity
        }
    }

    /// Prometheus text exposition (version 0.0.4).
    public func render(extra: [(name: String, help: String, type: String, lines: [String])] = []) -> String {
        let snapshot = series.withLock { $0 }
        var out = ""
        out += "# HELP \(prefix)_requests_total Requests answered.\n# TYPE \(prefix)_requests_total counter\n"
        for key in snapshot.keys.sorted() { out += "\(prefix)_requests_total{\(key)} \(snapshot[key]!.total)\n" }
        out += "# HELP \(prefix)_request_errors_total Requests answered with a 5xx status or not at all.\n# TYPE \(prefix)_request_errors_total counter\n"
        for key in snapshot.keys.sorted() { out += "\(prefix)_request_errors_total{\(key)} \(snapshot[key]!.errors)\n" }
        out += "# HELP \(prefix)_request_duration_seconds Request latency.\n# TYPE \(prefix)_request_duration_seconds histogram\n"
        for key in snapshot.keys.sorted() {
            let s = snapshot[key]!
            var cumulative: UInt64 = 0
            let sep = key.isEmpty ? "" : ","
            for (i, bound) in RequestMetrics.buckets.enumerated() {
                cumulative += s.counts[i]
                out += "\(prefix)_request_duration_seconds_bucket{\(key)\(sep)le=\"\(bound)\"} \(cumulative)\n"
            }
            out += "\(prefix)_request_duration_seconds_bucket{\(key)\(sep)le=\"+Inf\"} \(s.total)\n"
            out += "\(prefix)_request_duration_seconds_sum{\(key)} \(s.sum)\n"
            out += "\(prefix)_request_duration_seconds_count{\(key)} \(s.total)\n"
        }
        out += "# HELP \(prefix)_requests_in_flight Requests being answered now.\n# TYPE \(prefix)_requests_in_flight gauge\n"
        out += "\(prefix)_requests_in_flight \(inFlight)\n"
        for metric in extra {
            out += "# HELP \(prefix)_\(metric.name) \(metric.help)\n# TYPE \(prefix)_\(metric.name) \(metric.type)\n"
            for line in metric.lines { out += "\(prefix)_\(metric.name)\(line)\n" }
        }
        return out
    }

    /// Escapes a Prometheus label value.
    public static func label(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
