import Crypto
import Foundation

/// Which hosts run an endpoint: `count` of the live ones, or the ones `names` lists.
///
/// Every agent computes the same placement from the same live leases, so no one assigns
/// endpoints: an agent runs what lands on it and stops what leaves it. Hosts are ranked per
/// endpoint by rendezvous hashing (the highest `sha256(endpoint, host)` first), so a host that
/// dies moves only its own endpoints, each to the next host in its ranking.
public struct Placement: Sendable, Codable, Hashable {
    public var count: Int?
    public var names: [String]?

    public init(count: Int? = nil, names: [String]? = nil) {
        self.count = count
        self.names = names
    }

    /// How many hosts it asks for.
    public var wanted: Int { names?.count ?? count ?? 1 }

    /// The hosts of `live` that run `endpoint`, best-ranked first.
    public func hosts(for endpoint: String, live: [String]) -> [String] {
        if let names { return names.filter(live.contains) }
        return live.sorted { Self.rank(endpoint, $0, before: $1) }.prefix(wanted).map { $0 }
    }

    static func rank(_ endpoint: String, _ a: String, before b: String) -> Bool {
        let (x, y) = (score(endpoint, a), score(endpoint, b))
        return x != y ? x > y : a < b
    }

    static func score(_ endpoint: String, _ host: String) -> UInt64 {
        let digest = SHA256.hash(data: Data("\(endpoint)\u{0}\(host)".utf8))
        return digest.prefix(8).reduce(UInt64(0)) { ($0 << 8) | UInt64($1) }
    }

    func problems() -> [ConfigProblem] {
        var out: [ConfigProblem] = []
        if count != nil && names != nil {
            out.append(ConfigProblem(field: "hosts", message: "give either count or names, not both"))
        }
        if let count, !(1...64).contains(count) { out.append(ConfigProblem(field: "hosts.count", message: "must be between 1 and 64, got \(count)")) }
        if let names {
            if names.isEmpty { out.append(ConfigProblem(field: "hosts.names", message: "must name at least one host")) }
            for name in names { if let problem = HostIdentity.nameProblem(name) { out.append(ConfigProblem(field: "hosts.names", message: problem)) } }
            if Set(names).count != names.count { out.append(ConfigProblem(field: "hosts.names", message: "names a host twice")) }
        }
        return out
    }
}
