import EnginePostgres
import Foundation
import MLInfraTesting
import Testing

@testable import ModelServing

/// The rules `ControlStore` writes down, run against both implementations: SQLite in a
/// temporary directory, and PostgreSQL in a schema of its own on the shared test server.
enum ControlStoreKind: String, CaseIterable, CustomTestStringConvertible {
    case sqlite, postgres
    var testDescription: String { rawValue }

    /// A fresh, empty store of this kind.
    func make() async throws -> any ControlStore {
        switch self {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("control-\(UUID().uuidString)")
            return try SQLiteControlStore(directory: dir)
        case .postgres:
            let server = try await PostgresTestServer.shared()
            let schema = "control_" + UUID().uuidString.prefix(8).lowercased().replacingOccurrences(of: "-", with: "")
            return try PostgresControlStore(url: try PostgresURL(parsing: server.url()), schema: schema)
        }
    }
}

@Suite struct ControlStoreTests {
    static func config(_ name: String = "fraud", port: Int = 9000, count: Int? = nil) -> EndpointConfig {
        EndpointConfig(name: name, model: "fraud@production", port: port, placement: count.map { Placement(count: $0) })
    }

    @Test(arguments: ControlStoreKind.allCases)
    func generationMovesOnlyWhenTheDocumentChanges(_ kind: ControlStoreKind) async throws {
        let store = try await kind.make()
        #expect(try store.putEndpoint(Self.config()) == 1)
        #expect(try store.putEndpoint(Self.config()) == 1)
        #expect(try store.putEndpoint(Self.config(port: 9001)) == 2)
        #expect(try store.putEndpoint(Self.config("other")) == 1)
        #expect(try store.endpoints().map(\.config.name) == ["fraud", "other"])
        #expect(try store.endpoint("fraud")?.config.port == 9001)
        #expect(try store.endpoint("fraud")?.config.placement == nil)
        try store.putEndpoint(Self.config(count: 2))
        #expect(try store.endpoint("fraud")?.config.placement?.count == 2)
        try store.removeEndpoint("fraud")
        #expect(try store.endpoints().map(\.config.name) == ["other"])
    }

    @Test(arguments: ControlStoreKind.allCases)
    func statusesAreKeptPerHost(_ kind: ControlStoreKind) async throws {
        let store = try await kind.make()
        for host in ["b", "a"] {
            try store.setStatus(EndpointStatus(name: "fraud", host: host, url: "http://\(host):9000", generation: 1, ready: host == "a",
                                               message: nil, versions: [], updatedAt: 1))
        }
        try store.setStatus(EndpointStatus(name: "fraud", host: "a", url: "http://a:9000", generation: 2, ready: true, message: nil, versions: [], updatedAt: 2))
        #expect(try store.statuses("fraud").map(\.host) == ["a", "b"])
        #expect(try store.status("fraud", host: "a")?.generation == 2)
        try store.removeStatus("fraud", host: "a")
        #expect(try store.statuses("fraud").map(\.host) == ["b"])
        try store.removeStatus("fraud", host: nil)
        #expect(try store.statuses().isEmpty)
    }

    @Test(arguments: ControlStoreKind.allCases)
    func leasesExpireAndBelongToTheirHolder(_ kind: ControlStoreKind) async throws {
        let store = try await kind.make()
        try store.renewLease(HostIdentity(name: "a", advertise: "10.0.0.1", portOffset: 5), holder: "agent-1", seconds: 0.5)
        try store.renewLease(HostIdentity(name: "b"), holder: "agent-2", seconds: 30)
        #expect(try store.liveHosts().map(\.host) == ["a", "b"])
        #expect(try store.liveHosts().first?.advertise == "10.0.0.1")
        #expect(try store.liveHosts().first?.portOffset == 5)
        #expect(try store.liveHosts().last?.advertise == nil)
        #expect(throws: HostLeaseTaken.self) { try store.renewLease(HostIdentity(name: "a"), holder: "agent-3", seconds: 30) }
        try await Task.sleep(nanoseconds: 700_000_000)
        #expect(try store.liveHosts().map(\.host) == ["b"])
        // Expired: another holder may take the name.
        try store.renewLease(HostIdentity(name: "a"), holder: "agent-3", seconds: 30)
        try store.releaseLease(host: "b", holder: "someone-else")
        #expect(try store.liveHosts().map(\.host) == ["a", "b"])
        try store.releaseLease(host: "b", holder: "agent-2")
        #expect(try store.liveHosts().map(\.host) == ["a"])
    }

    @Test(arguments: ControlStoreKind.allCases)
    func aChangeWakesAWaiterAtOnce(_ kind: ControlStoreKind) async throws {
        let store = try await kind.make()
        // The first wait starts listening (PostgreSQL); a change made before it is not what is measured.
        await store.waitForChange(timeout: 0.3)
        let started = Date()
        async let woke: Double = {
            await store.waitForChange(timeout: 10)
            return Date().timeIntervalSince(started)
        }()
        try await Task.sleep(nanoseconds: 200_000_000)
        try store.putEndpoint(Self.config())
        let after = await woke
        #expect(after >= 0.2)
        #expect(after < 2, "waited \(after)s for a change made at 0.2s")
    }

    @Test(arguments: ControlStoreKind.allCases)
    func decisionsAreNewestFirst(_ kind: ControlStoreKind) async throws {
        let store = try await kind.make()
        for i in 1...3 {
            try store.record(ScalingDecision(endpoint: "fraud", time: Double(i), current: 1, desired: i, metric: "concurrency", value: 1, target: 8,
                                             recommended: i, reason: "r\(i)"))
        }
        #expect(try store.decisions(endpoint: "fraud", limit: 2).map(\.desired) == [3, 2])
        #expect(try store.decisions(endpoint: "other").isEmpty)
    }

    @Test func aPostgresFailureNeverShowsThePassword() async throws {
        let url = try PostgresURL(parsing: "postgres://mlinfra:s3cret-pw@127.0.0.1:1/nowhere")
        let error = #expect(throws: ControlStoreError.self) { _ = try PostgresControlStore(url: url) }
        #expect(error.map { "\($0)".contains("s3cret-pw") } == false)
        #expect(error.map { "\($0)".contains("127.0.0.1:1") } == true)
    }

    @Test func placementRanksHostsPerEndpointAndMovesOnlyTheDeadHostsShare() {
        let live = ["a", "b", "c", "d"]
        let two = Placement(count: 2)
        let before = Dictionary(uniqueKeysWithValues: (1...40).map { ("e\($0)", two.hosts(for: "e\($0)", live: live)) })
        #expect(Set(before.values.flatMap { $0 }) == Set(live), "every host gets some of 40 endpoints")
        let after = Dictionary(uniqueKeysWithValues: (1...40).map { ("e\($0)", two.hosts(for: "e\($0)", live: ["a", "b", "d"])) })
        for (name, hosts) in before {
            #expect(after[name]!.count == 2)
            // An endpoint that did not run on c keeps its hosts; one that did keeps its other host.
            #expect(Set(hosts).subtracting(["c"]).isSubset(of: Set(after[name]!)))
        }
        #expect(Placement(names: ["b", "x"]).hosts(for: "e", live: live) == ["b"])
        #expect(Placement().hosts(for: "e", live: []) == [])
        #expect(Placement(count: 0).problems().map(\.field) == ["hosts.count"])
        #expect(Placement(count: 1, names: ["a"]).problems().map(\.field) == ["hosts"])
    }
}
