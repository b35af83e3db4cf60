import Crypto
import Foundation
import Logging
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Sends drift alerts: a line to the log sink, and a signed webhook POST.
///
/// The webhook body is JSON (`WebhookPayload`); the header
/// `X-MLInfra-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed by the token>`
/// lets the receiver check it came from us. Network errors, 429 and 5xx answers are retried
/// with exponential backoff (`initialBackoff`, doubled each time); other 4xx are not.
/// Neither the token nor the webhook's user info or query appear in logs or statuses.
public struct AlertDispatcher: Sendable {
    public var attempts: Int
    public var initialBackoff: TimeInterval
    public var timeout: TimeInterval

    public init(attempts: Int = 4, initialBackoff: TimeInterval = 0.5, timeout: TimeInterval = 10) {
        self.attempts = max(1, attempts)
        self.initialBackoff = initialBackoff
        self.timeout = timeout
    }

    public static let signatureHeader = "X-MLInfra-Signature"

    /// `sha256=<hex>` for a body and token.
    public static func signature(body: Data, token: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(token.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    /// The JSON body of a webhook alert.
    public struct WebhookPayload: Codable, Sendable {
        public var event: String
        public var monitor: String
        public var time: String
        public var datasetDrift: Bool
        public var driftedCount: Int
        public var featureCount: Int
        public var current: String
        public var features: [Feature]
        public struct Feature: Codable, Sendable {
            public var feature: String
            public var method: String
            /// Null when the statistic is undefined (e.g. chi-squared on a single category).
            public var value: Double?
            public var threshold: Double
            public var drifted: Bool
            /// Share of current rows without a value, and whether that share drifted.
            public var missingShare: Double?
            public var missingDrifted: Bool?
            enum CodingKeys: String, CodingKey {
                case feature, method, value, threshold, drifted
                case missingShare = "missing_share", missingDrifted = "missing_drifted"
            }
        }
        /// Per model version, for performance monitors.
        public var performance: [Performance]?
        /// The model output's own drift check, for performance monitors.
        public var predictionDrift: Feature?
        public struct Performance: Codable, Sendable {
            public var version: String
            public var metric: String
            public var value: Double?
            public var reference: Double?
            public var drop: Double?
            public var maxDrop: Double
            public var degraded: Bool
            public var labelled: Int
            public var predictions: Int
            enum CodingKeys: String, CodingKey {
                case version, metric, value, reference, drop, degraded, labelled, predictions, maxDrop = "max_drop"
            }
        }
        enum CodingKeys: String, CodingKey {
            case event, monitor, time, current, features, performance, predictionDrift = "prediction_drift"
            case datasetDrift = "dataset_drift", driftedCount = "drifted_count", featureCount = "feature_count"
        }
    }

    public static func payload(for report: DriftReport) -> WebhookPayload {
        WebhookPayload(
            event: report.datasetDrift || report.missingDrift || report.performance?.degraded != true ? "drift_detected" : "performance_degraded",
            monitor: report.monitor, time: ISO8601DateFormatter().string(from: report.time),
            datasetDrift: report.datasetDrift, driftedCount: report.driftedCount, featureCount: report.features.count,
            current: report.current,
            features: report.features.map {
                .init(feature: $0.feature, method: $0.method.rawValue, value: $0.value.isFinite ? $0.value : nil, threshold: $0.threshold,
                      drifted: $0.drifted, missingShare: $0.missing?.currentShare, missingDrifted: $0.missing?.drifted)
            },
            performance: report.performance.map { p in
                p.versions.map {
                    .init(version: $0.version, metric: p.metric.rawValue, value: $0.value, reference: p.referenceValue, drop: $0.drop,
                          maxDrop: p.maxDrop, degraded: $0.degraded, labelled: $0.labelled, predictions: $0.predictions)
                }
            },
            predictionDrift: report.predictionDrift.map {
                .init(feature: $0.feature, method: $0.method.rawValue, value: $0.value.isFinite ? $0.value : nil, threshold: $0.threshold,
                      drifted: $0.drifted, missingShare: $0.missing?.currentShare, missingDrifted: $0.missing?.drifted)
            })
    }

    /// The JSON body of the alert a failed run sends: without it a monitor that cannot run is silently dead.
    public struct FailurePayload: Codable, Sendable {
        public var event = "monitor_failed"
        public var monitor: String
        public var time: String
        public var error: String
    }

    /// Sends the alert to every sink of the target; returns a status for the run record.
    public func send(report: DriftReport, target: AlertTarget?, logger: Logger) async -> String {
        let drifted = report.features.filter(\.drifted).map { "\($0.feature) (\($0.method.rawValue) \(Self.format($0.value)) vs \(Self.format($0.threshold)))" }
        let missing = report.features.compactMap { f in
            f.missing.flatMap { $0.drifted ? "\(f.feature) (\(Self.percent($0.referenceShare)) → \(Self.percent($0.currentShare)))" : nil }
        }
        var line = "drift alert: monitor \(report.monitor): \(report.driftedCount)/\(report.features.count) features drifted"
        if !drifted.isEmpty { line += ": \(drifted.joined(separator: ", "))" }
        if !missing.isEmpty { line += "; missing values drifted: \(missing.joined(separator: ", "))" }
        if let d = report.predictionDrift, d.drifted {
            line += "; prediction \(d.feature) drifted (\(d.method.rawValue) \(Self.format(d.value)) vs \(Self.format(d.threshold)))"
        }
        if let p = report.performance, p.degraded {
            let worse = p.versions.filter(\.degraded).map { "\($0.version) \(p.metric.rawValue) \(Self.format($0.value ?? .nan)) (drop \(Self.format($0.drop ?? .nan)) > \(Self.format(p.maxDrop)))" }
            line += "; performance dropped: \(worse.joined(separator: ", "))"
        }
        logger.warning("\(line)")
        return await deliver(Self.payload(for: report), monitor: report.monitor, target: target, logger: logger)
    }

    /// Sends the alert of a run that failed; returns a status for the run record.
    public func send(failure message: String, monitor: String, time: Date, target: AlertTarget?, logger: Logger) async -> String {
        logger.error("monitor alert: monitor \(monitor): run failed: \(message)")
        let payload = FailurePayload(monitor: monitor, time: ISO8601DateFormatter().string(from: time), error: message)
        return await deliver(payload, monitor: monitor, target: target, logger: logger)
    }

    /// The JSON body of the notification that problems alerted on earlier are over.
    public struct ResolvedPayload: Codable, Sendable {
        public var event = "resolved"
        public var monitor: String
        public var time: String
        /// The problems that resolved: `drift:<feature>`, `missing:<feature>`, `prediction:<output>`, `performance:<version>`, `run failed`.
        public var resolved: [String]
    }

    /// Sends the notification that `keys` resolved; returns its status.
    public func send(resolved keys: [String], monitor: String, time: Date, target: AlertTarget?, logger: Logger) async -> String {
        logger.info("monitor alert: monitor \(monitor): resolved: \(keys.joined(separator: ", "))")
        let payload = ResolvedPayload(monitor: monitor, time: ISO8601DateFormatter().string(from: time), resolved: keys)
        return await deliver(payload, monitor: monitor, target: target, logger: logger)
    }

    /// Posts a payload to the target's webhook, if it has one ("logged" otherwise).
    func deliver(_ payload: some Encodable, monitor: String, target: AlertTarget?, logger: Logger) async -> String {
        guard let hook = target?.webhook else { return "logged" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let body = try? encoder.encode(payload) else { return "failed: could not encode the alert" }
        let status = await post(body: body, to: hook, token: target?.token)
        if status.hasPrefix("failed") {
            logger.error("monitor \(monitor): webhook \(AlertTarget.redact(hook)) \(status)")
        }
        return status
    }

    /// POSTs a body with retries; returns "sent" or "failed: …" (never containing the token).
    public func post(body: Data, to hook: String, token: String?) async -> String {
        guard let url = URL(string: hook) else { return "failed: webhook URL is not valid" }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("mlinfra-drift-monitor", forHTTPHeaderField: "User-Agent")
        if let token { request.setValue(Self.signature(body: body, token: token), forHTTPHeaderField: Self.signatureHeader) }
        var last = ""
        var delay = initialBackoff
        for attempt in 1...attempts {
            do {
                let (_, response) = try await URLSession.shared.data(for: request)
                let code = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(code) { return attempt == 1 ? "sent" : "sent (attempt \(attempt))" }
                last = "HTTP \(code)"
                if code != 429 && code < 500 { return "failed: \(AlertTarget.redact(hook)) answered \(last) (not retried)" }
            } catch {
                last = (error as NSError).localizedDescription.replacingOccurrences(of: hook, with: AlertTarget.redact(hook))
                if let token, !token.isEmpty { last = last.replacingOccurrences(of: token, with: "(sensitive)") }
            }
            if attempt < attempts {
                try? await Task.sleep(nanoseconds: UInt64(delay * 1e9))
                delay *= 2
            }
        }
        return "failed after \(attempts) attempts: \(last)"
    }

    static func percent(_ share: Double) -> String { String(format: "%.1f%%", share * 100) }

    static func format(_ x: Double) -> String {
        if x == 0 || (abs(x) >= 1e-4 && abs(x) < 1e6) { return String(format: "%.4g", x) }
        return String(format: "%.3e", x)
    }
}
