import Foundation
import Synchronization

/// The replicas a router may send requests to, with their in-flight counts and version weights.
///
/// One lock guards the whole table: picking a replica and counting the request in flight
/// happen together, so a replica taken out of the table gets no request after that, and
/// a drain can wait for its in-flight count to reach zero.
public final class RoutingTable: Sendable {
    public struct Backend: Sendable, Hashable {
        public var id: Int
        public var version: String
        public var host: String
        public var port: Int
        /// False while a connection to it has just failed, until a health check passes.
        public var healthy: Bool
        public var inFlight: Int
    }

    /// What the router needs to know of a version to capture its traffic.
    public struct VersionInfo: Sendable, Hashable {
        public var version: String
        public var featureNames: [String]
        public var outputNames: [String]
        public init(version: String, featureNames: [String], outputNames: [String]) {
            self.version = version
            self.featureNames = featureNames
            self.outputNames = outputNames
        }
    }

    struct State {
        var backends: [Int: Backend] = [:]
        /// Version → share of traffic (any non-negative scale).
        var weights: [String: Double] = [:]
        var versions: [String: VersionInfo] = [:]
        /// Requests started per version since the table was made.
        var started: [String: UInt64] = [:]
        var rng = SplitMix64(seed: UInt64(UInt32.random(in: 1...UInt32.max)))
        var nextID = 1
        /// In flight per version, kept in step with the backends' counts.
        var versionInFlight: [String: Int] = [:]
        /// Removed replicas → their requests still in flight.
        var draining: [Int: Int] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Adds a replica; returns its id.
    @discardableResult
    public func add(version: String, host: String = "127.0.0.1", port: Int) -> Int {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.backends[id] = Backend(id: id, version: version, host: host, port: port, healthy: true, inFlight: 0)
            return id
        }
    }

    /// Takes a replica out: it gets no new request. Returns its requests still in flight.
    @discardableResult
    public func remove(_ id: Int) -> Int {
        state.withLock { s in
            guard let b = s.backends.removeValue(forKey: id) else { return 0 }
            // Its in-flight requests are still counted for the version until they finish.
            if b.inFlight > 0 { s.draining[id] = b.inFlight }
            return b.inFlight
        }
    }

    /// Requests still in flight on a removed replica (0 once it is drained).
    public func drainingInFlight(_ id: Int) -> Int {
        state.withLock { s in s.backends[id]?.inFlight ?? s.draining[id] ?? 0 }
    }

    public func setHealthy(_ id: Int, _ healthy: Bool) {
        state.withLock { s in s.backends[id]?.healthy = healthy }
    }

    public func setWeights(_ weights: [String: Double]) {
        state.withLock { $0.weights = weights }
    }

    public func setVersionInfo(_ info: VersionInfo) {
        state.withLock { $0.versions[info.version] = info }
    }

    public func versionInfo(_ version: String) -> VersionInfo? {
        state.withLock { $0.versions[version] }
    }

    public var weights: [String: Double] { state.withLock { $0.weights } }
    public var backends: [Backend] { state.withLock { Array($0.backends.values).sorted { $0.id < $1.id } } }

    /// Whether some version with weight has a healthy replica.
    public var isServing: Bool {
        state.withLock { s in s.backends.values.contains { $0.healthy && (s.weights[$0.version] ?? 0) > 0 } }
    }

    /// Picks a replica for a request and counts it in flight: a version by weight among the
    /// versions with a healthy replica, then that version's replica with the fewest requests
    /// in flight. `excluding` skips a replica that just failed. `version` (`fraud/3`, or `3`) asks
    /// for that version's replicas whatever its weight, as `/v2/models/{m}/versions/{v}` does.
    public func acquire(excluding: Int? = nil, version asked: String? = nil) -> Backend? {
        state.withLock { s in
            var candidates: [String: Double] = [:]
            for b in s.backends.values where b.healthy && b.id != excluding {
                if let asked {
                    if b.version == asked || b.version.split(separator: "/").last.map(String.init) == asked { candidates[b.version] = 1 }
                    continue
                }
                let w = s.weights[b.version] ?? 0
                if w > 0 { candidates[b.version] = w }
            }
            guard !candidates.isEmpty else { return nil }
            let version: String
            if candidates.count == 1 {
                version = candidates.keys.first!
            } else {
                let total = candidates.values.reduce(0, +)
                var x = Double(s.rng.next() >> 11) / Double(1 << 53) * total
                let ordered = candidates.keys.sorted()
                var chosen = ordered.last!
                for v in ordered {
                    x -= candidates[v]!
                    if x < 0 {
                        chosen = v
                        break
                    }
                }
                version = chosen
            }
            var best: Backend?
            var ties = 0
            for b in s.backends.values where b.version == version && b.healthy && b.id != excluding {
                if best == nil || b.inFlight < best!.inFlight {
                    best = b
                    ties = 1
                } else if b.inFlight == best!.inFlight {
                    // Reservoir choice among equally loaded replicas spreads idle load evenly.
                    ties += 1
                    if s.rng.next() % UInt64(ties) == 0 { best = b }
                }
            }
            guard var chosen = best else { return nil }
            chosen.inFlight += 1
            s.backends[chosen.id] = chosen
            s.started[version, default: 0] += 1
            s.versionInFlight[version, default: 0] += 1
            return chosen
        }
    }

    /// Ends a request that `acquire` counted.
    public func release(_ backend: Backend) {
        state.withLock { s in
            if s.backends[backend.id] != nil {
                s.backends[backend.id]!.inFlight -= 1
            } else if let left = s.draining[backend.id] {
                if left <= 1 { s.draining.removeValue(forKey: backend.id) } else { s.draining[backend.id] = left - 1 }
            }
            s.versionInFlight[backend.version, default: 1] -= 1
        }
    }

    /// Requests in flight and requests started so far, per version.
    public func load() -> [String: (inFlight: Int, started: UInt64)] {
        state.withLock { s in
            var out: [String: (Int, UInt64)] = [:]
            for (v, n) in s.started { out[v] = (s.versionInFlight[v] ?? 0, n) }
            return out
        }
    }
}

/// A small, fast random generator for traffic splitting (not for secrets).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
