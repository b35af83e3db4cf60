import CaptureStorage
import Foundation
import Logging
import MLInfraHTTP
import NIOCore
import Testing

@testable import ModelServing

/// Replica servers started in this process on port 0, for router tests.
struct LocalReplica {
    let port: Int
    let task: Task<Void, any Error>

    static func start(_ handler: ReplicaHandler) async throws -> LocalReplica {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test-replica")
        logger.logLevel = .critical  // cancelling the server at the end of a test logs an error
        let app = ReplicaServer.application(handler: handler, logger: logger) { continuation.yield($0) }
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return LocalReplica(port: port, task: task)
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }
}

/// An endpoint router's HTTP server on a free loopback port, for as long as the test runs.
struct LocalRouter {
    let port: Int
    let task: Task<Void, any Error>

    static func start(_ router: EndpointRouter,
                      policy: ServerPolicy = ServerPolicy(server: "serving", maxBodyBytes: ReplicaServer.maxBody)) async throws -> LocalRouter {
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = router.application(host: "127.0.0.1", port: 0, policy: policy) { continuation.yield($0) }
        let task = Task { try await app.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw CancellationError() }
        return LocalRouter(port: port, task: task)
    }
}

func linearHandler(version: String, intercept: Double = 0) -> ReplicaHandler {
    ReplicaHandler(runtime: LinearModel(weights: [1, 1], intercept: intercept, link: .identity, featureNames: ["x", "y"]),
                   modelName: "lin", endpointName: "ep", version: version)
}

func makeClient() -> HTTPClientPool { HTTPClientPool() }

let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .critical
    return logger
}()

func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-serving-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite(.serialized) struct RouterTests {
    let body = ByteBuffer(string: #"{"instances": [[1, 2], [3, null]]}"#)

    @Test func canaryGetsItsShareOfRequests() async throws {
        let a = try await LocalReplica.start(linearHandler(version: "m/1"))
        let b = try await LocalReplica.start(linearHandler(version: "m/2", intercept: 100))
        let client = makeClient()
        let table = RoutingTable()
        table.add(version: "m/1", port: a.port)
        table.add(version: "m/2", port: b.port)
        table.setWeights(["m/1": 80, "m/2": 20])
        let router = EndpointRouter(endpoint: "ep", table: table, client: client, capture: nil, capturePercent: 0, logger: quietLogger)
        var counts: [String: Int] = [:]
        let n = 600
        for _ in 0..<n {
            let reply = await router.forward(path: "/predict", body: body, kind: .predict)
            #expect(reply.status == 200)
            counts[reply.version ?? "none", default: 0] += 1
        }
        let share = Double(counts["m/2"] ?? 0) / Double(n)
        // 20 % ± 5 points: a binomial(600, 0.2) lands there with probability > 0.99.
        #expect(share > 0.15 && share < 0.25, "canary share \(share)")
        #expect(router.prometheus().contains(#"mlinfra_router_requests_total{endpoint="ep",version="m/2"}"#))
        table.setWeights(["m/1": 100])
        for _ in 0..<50 { #expect(await router.forward(path: "/predict", body: body, kind: .predict).version == "m/1") }
        client.closeIdle()
        await a.stop()
        await b.stop()
    }

    @Test func connectionFailureIsRetriedOnceOnAnotherReplica() async throws {
        let live = try await LocalReplica.start(linearHandler(version: "m/1"))
        let dead = try await LocalReplica.start(linearHandler(version: "m/1"))
        await dead.stop()
        let client = makeClient()
        let table = RoutingTable()
        let deadID = table.add(version: "m/1", port: dead.port)
        table.add(version: "m/1", port: live.port)
        table.setWeights(["m/1": 100])
        let router = EndpointRouter(endpoint: "ep", table: table, client: client, capture: nil, capturePercent: 0, logger: quietLogger)
        for _ in 0..<20 {
            let reply = await router.forward(path: "/predict", body: body, kind: .predict)
            #expect(reply.status == 200)
        }
        #expect(router.retried >= 1)
        #expect(table.backends.first { $0.id == deadID }?.healthy == false)
        #expect(table.load()["m/1"]?.inFlight == 0)
        client.closeIdle()
        await live.stop()
    }

    @Test func noRetryTargetMeans502AndNoReplicaMeans503() async throws {
        let dead = try await LocalReplica.start(linearHandler(version: "m/1"))
        await dead.stop()
        let client = makeClient()
        let table = RoutingTable()
        table.setWeights(["m/1": 100])
        let router = EndpointRouter(endpoint: "ep", table: table, client: client, capture: nil, capturePercent: 0, logger: quietLogger)
        let none = await router.forward(path: "/predict", body: body, kind: .predict)
        #expect(none.status == 503)
        #expect(String(buffer: none.body).contains(#""field":"endpoint""#))
        table.add(version: "m/1", port: dead.port)
        let failed = await router.forward(path: "/predict", body: body, kind: .predict)
        #expect(failed.status == 502)
        client.closeIdle()
    }

    @Test func replicaErrorsPassThroughUnchanged() async throws {
        let live = try await LocalReplica.start(linearHandler(version: "m/1"))
        let client = makeClient()
        let table = RoutingTable()
        table.add(version: "m/1", port: live.port)
        table.setWeights(["m/1": 100])
        let router = EndpointRouter(endpoint: "ep", table: table, client: client, capture: nil, capturePercent: 0, logger: quietLogger)
        let reply = await router.forward(path: "/predict", body: ByteBuffer(string: #"{"instances": [[1]]}"#), kind: .predict)
        #expect(reply.status == 400)
        #expect(String(buffer: reply.body).contains(#""field":"instances[0]""#))
        #expect(router.retried == 0)
        client.closeIdle()
        await live.stop()
    }

    @Test func sampledExchangesAreCapturedOffThePath() async throws {
        let live = try await LocalReplica.start(linearHandler(version: "m/1"))
        let client = makeClient()
        let dir = temporaryDirectory()
        let store = try SQLiteCaptureStore(directory: dir.path)
        let writer = CaptureWriter(store: store, logger: quietLogger)
        let table = RoutingTable()
        table.add(version: "m/1", port: live.port)
        table.setWeights(["m/1": 100])
        table.setVersionInfo(.init(version: "m/1", featureNames: ["x", "y"], outputNames: ["prediction"]))
        let router = EndpointRouter(endpoint: "ep", table: table, client: client, capture: writer, capturePercent: 10, logger: quietLogger)
        // The first request is captured, so a few requests and a monitor run show rows.
        _ = await router.forward(path: "/predict", body: body, kind: .predict)
        #expect(writer.flush() == 2)
        for _ in 1..<100 { _ = await router.forward(path: "/predict", body: body, kind: .predict) }
        #expect(try store.count(endpoint: "ep") == 2)  // nothing more written on the request path
        writer.flush()
        let rows = try store.records(endpoint: "ep", limit: 100)
        #expect(rows.count == 20)  // requests 1, 11, …, 91 of 100, 2 instances each
        let first = try #require(rows.first)
        #expect(first.version == "m/1")
        #expect(first.inputs == #"{"x":1,"y":2}"#)
        #expect(first.outputs == #"{"prediction":3}"#)
        #expect(rows.contains { $0.inputs == #"{"x":3,"y":null}"# })
        #expect(first.latencyMs > 0)
        client.closeIdle()
        await live.stop()
        try? FileManager.default.removeItem(at: dir)
    }
}

@Suite struct RoutingTableTests {
    @Test func leastOutstandingRequestsAndDrain() {
        let table = RoutingTable()
        let a = table.add(version: "v", port: 1)
        let b = table.add(version: "v", port: 2)
        table.setWeights(["v": 100])
        let x = table.acquire()!
        let y = table.acquire()!
        #expect(Set([x.id, y.id]) == [a, b])  // the idle replica is chosen while the other is busy
        table.release(x)
        let z = table.acquire()!
        #expect(z.id == x.id)  // 0 in flight beats 1
        table.release(z)
        // Removing a replica stops new picks but keeps counting its requests until they end.
        #expect(table.remove(y.id) == 1)
        #expect(table.drainingInFlight(y.id) == 1)
        for _ in 0..<10 {
            let w = table.acquire()!
            #expect(w.id == x.id)
            table.release(w)
        }
        table.release(y)
        #expect(table.drainingInFlight(y.id) == 0)
        #expect(table.load()["v"]?.inFlight == 0)
    }

    @Test func versionsWithoutWeightOrHealthyReplicasGetNothing() {
        let table = RoutingTable()
        let a = table.add(version: "old", port: 1)
        table.add(version: "new", port: 2)
        table.setWeights(["old": 100])
        for _ in 0..<20 { let x = table.acquire()!; #expect(x.version == "old"); table.release(x) }
        table.setHealthy(a, false)
        #expect(table.acquire() == nil)
        #expect(!table.isServing)
    }
}
