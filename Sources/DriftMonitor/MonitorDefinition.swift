import Foundation

/// Where a monitor's current data comes from.
public enum CurrentSource: Sendable, Hashable, Codable {
    /// An endpoint's data capture (`<data_dir>/serving/capture.sqlite`), over the monitor's window.
    case endpoint(String)
    /// A CSV file, read whole at each run.
    case dataset(String)

    public var description: String {
        switch self {
        case .endpoint(let e): "endpoint \(e)"
        case .dataset(let p): p
        }
    }
}

/// Where alerts go. The token signs webhook bodies; it is never encoded, logged or printed.
public struct AlertTarget: Sendable, Hashable, Codable, CustomStringConvertible {
    public var webhook: String?
    public var token: String?
    /// Whether the log sink also gets the alert (always on; kept for clarity in JSON).
    public var log: Bool
    /// After an alert, new problems wait this long (seconds) before the next one is sent; 0 sends at once.
    public var cooldown: TimeInterval

    public init(webhook: String? = nil, token: String? = nil, log: Bool = true, cooldown: TimeInterval = 0) {
        self.webhook = webhook
        self.token = token
        self.log = log
        self.cooldown = cooldown
    }

    enum CodingKeys: String, CodingKey { case webhook, log, cooldown, hasToken = "has_token" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        webhook = try c.decodeIfPresent(String.self, forKey: .webhook)
        log = try c.decodeIfPresent(Bool.self, forKey: .log) ?? true
        cooldown = try c.decodeIfPresent(TimeInterval.self, forKey: .cooldown) ?? 0
        token = nil
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(webhook, forKey: .webhook)
        try c.encode(log, forKey: .log)
        try c.encode(cooldown, forKey: .cooldown)
        try c.encode(token != nil, forKey: .hasToken)
    }

    public var description: String {
        "AlertTarget(webhook: \(webhook.map(AlertTarget.redact) ?? "none"), token: \(token == nil ? "none" : "(sensitive)"))"
    }

    /// A URL without user info or query, for messages.
    public static func redact(_ url: String) -> String {
        guard var c = URLComponents(string: url) else { return "(webhook URL)" }
        c.user = nil
        c.password = nil
        c.query = nil
        return c.string ?? "(webhook URL)"
    }
}

/// A monitor as the engine stores it.
public struct MonitorDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var source: CurrentSource
    /// Absolute path of the reference CSV.
    public var reference: String
    /// A five-field cron expression (UTC), or nil for manual runs only.
    public var schedule: String?
    /// For endpoint sources: how far back the capture is read, in seconds.
    public var window: TimeInterval
    public var checks: [DriftCheck]
    public var alert: AlertTarget?
    public var driftShare: Double
    /// Performance monitoring with delayed labels (endpoint sources only).
    public var performance: PerformanceSpec?
    /// A correction of the p-value checks for testing many columns at once.
    public var correction: MultipleTesting?

    public init(name: String, source: CurrentSource, reference: String, schedule: String? = nil, window: TimeInterval = 3600,
                checks: [DriftCheck] = [], alert: AlertTarget? = nil, driftShare: Double = 0.5, performance: PerformanceSpec? = nil,
                correction: MultipleTesting? = nil) {
        self.name = name
        self.source = source
        self.reference = reference
        self.schedule = schedule
        self.window = window
        self.checks = checks
        self.alert = alert
        self.driftShare = driftShare
        self.performance = performance
        self.correction = correction
    }
}
