import Foundation

/// Kubernetes HPA's scaling rule for one endpoint.
///
/// `recommended = ceil(current × value / target)`, no change while `value / target` is within
/// the tolerance (10 %) of 1, clamped to `min…max`. More replicas are applied at once; fewer
/// only when every recommendation of the last `scaleDownWindow` seconds agrees (the desired
/// count is the highest recommendation in the window), so a short dip in load removes nothing.
public struct Autoscaler: Sendable {
    public var min: Int
    public var max: Int
    public var metric: EndpointConfig.Metric
    public var target: Double
    public var scaleDownWindow: Double
    public var tolerance: Double

    /// Recommendations with their times, newest last, kept for the stabilization window.
    private var history: [(time: Double, replicas: Int)] = []

    public init(policy: EndpointConfig, tolerance: Double = 0.1, startedAt: Double, current: Int) {
        self.init(min: policy.replicas.min, max: policy.replicas.max, metric: policy.autoscaling.metric,
                  target: policy.autoscaling.target, scaleDownWindow: policy.autoscaling.scaleDownWindow,
                  tolerance: tolerance, startedAt: startedAt, current: current)
    }

    public init(min: Int, max: Int, metric: EndpointConfig.Metric, target: Double, scaleDownWindow: Double,
                tolerance: Double = 0.1, startedAt: Double, current: Int) {
        self.min = min
        self.max = max
        self.metric = metric
        self.target = target
        self.scaleDownWindow = scaleDownWindow
        self.tolerance = tolerance
        // Starting counts as a recommendation to keep what runs, so a fresh agent does not
        // scale down before it has watched the load for a whole window.
        history = [(startedAt, current)]
    }

    /// Changes the policy (a new config) without forgetting the recommendations seen so far.
    public mutating func update(min: Int, max: Int, metric: EndpointConfig.Metric, target: Double, scaleDownWindow: Double) {
        self.min = min
        self.max = max
        self.metric = metric
        self.target = target
        self.scaleDownWindow = scaleDownWindow
    }

    /// Decides the replica count from `value`, the metric's current per-replica value.
    public mutating func decide(endpoint: String, current: Int, value: Double, now: Double) -> ScalingDecision {
        let ratio = value / target
        var recommended: Int
        var reason: String
        if current == 0 {
            recommended = min
            reason = "no replicas run; start the minimum"
        } else if abs(ratio - 1) <= tolerance {
            recommended = current
            reason = String(format: "%@ %.3g per replica is within %.0f%% of the target %.3g", metric.rawValue, value, tolerance * 100, target)
        } else {
            recommended = Int((Double(current) * ratio).rounded(.up))
            reason = String(format: "ceil(%d × %.3g / %.3g) = %d", current, value, target, recommended)
        }
        let clamped = Swift.min(Swift.max(recommended, min), max)
        if clamped != recommended { reason += " clamped to \(clamped) (replicas \(min)…\(max))" }
        recommended = clamped

        history.append((now, recommended))
        history.removeAll { $0.time < now - scaleDownWindow }
        var desired = recommended
        if recommended < current {
            let highest = history.map(\.replicas).max() ?? recommended
            desired = Swift.min(current, highest)
            if desired > recommended {
                reason += String(format: "; scale-down held at %d: highest recommendation in the last %.0fs", desired, scaleDownWindow)
            }
        }
        // A policy change can leave more replicas than the new max: that applies at once.
        desired = Swift.min(Swift.max(desired, min), max)
        if desired > current {
            reason = "scale up: " + reason
        } else if desired < current {
            reason = "scale down: " + reason
        } else {
            reason = "keep: " + reason
        }
        return ScalingDecision(endpoint: endpoint, time: now, current: current, desired: desired, metric: metric.rawValue,
                               value: value, target: target, recommended: recommended, reason: reason)
    }
}
