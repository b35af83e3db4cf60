import Foundation
import HTTPTesting
import NIOCore
import Testing

@testable import ModelServing

/// The endpoint router answers the Open Inference Protocol's discovery routes itself (`GET /v2`)
/// or through a replica (`GET /v2/models/{m}/ready`, with the replica's text errors).
@Suite struct RouterOIPTests {
    @Test func serverMetadataAndModelReadinessThroughTheRouter() async throws {
        let replica = try await LocalReplica.start(linearHandler(version: "lin/1"))
        let table = RoutingTable()
        table.add(version: "lin/1", port: replica.port)
        table.setWeights(["lin/1": 100])
        let router = EndpointRouter(endpoint: "ep", table: table, client: makeClient(), capture: nil, capturePercent: 0, logger: quietLogger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = router.application(host: "127.0.0.1", port: 0) { continuation.yield($0) }
        let task = Task { try await app.run() }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        let server = try rawRequest(port: port, "GET", "/v2")
        #expect(server.status == 200 && server.text.contains(#""name":"mlinfra-router""#), "\(server.text)")
        let ready = try rawRequest(port: port, "GET", "/v2/models/lin/ready")
        #expect(ready.status == 200 && ready.text.contains(#""ready":true"#), "\(ready.text)")
        let missing = try rawRequest(port: port, "GET", "/v2/models/nope/ready")
        #expect(missing.status == 404 && missing.text.contains(#""error":"model_name: no model"#), "\(missing.text)")
        await replica.stop()
    }
}
