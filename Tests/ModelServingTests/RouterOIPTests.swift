import Foundation
import HTTPTesting
import NIOCore
import Testing

@testable import ModelServing

/// The endpoint router answers the Open Inference Protocol's discovery routes itself (`GET /v2`)
/// or through a replica (`GET /v2/models/{m}/ready`, with the replica's text errors); a path with
/// `/versions/{v}` goes to that version's replicas, whatever its traffic weight.
@Suite struct RouterOIPTests {
    @Test func serverMetadataAndModelReadinessThroughTheRouter() async throws {
        let replica = try await LocalReplica.start(linearHandler(version: "lin/1"))
        let table = RoutingTable()
        table.add(version: "lin/1", port: replica.port)
        table.setWeights(["lin/1": 100])
        let router = EndpointRouter(endpoint: "ep", table: table, client: makeClient(), capture: nil, capturePercent: 0, logger: quietLogger)
        let served = try await LocalRouter.start(router)
        defer { served.task.cancel() }
        let port = served.port

        let server = try rawRequest(port: port, "GET", "/v2")
        #expect(server.status == 200 && server.text.contains(#""name":"mlinfra-router""#), "\(server.text)")
        let ready = try rawRequest(port: port, "GET", "/v2/models/lin/ready")
        #expect(ready.status == 200 && ready.text.contains(#""ready":true"#), "\(ready.text)")
        let missing = try rawRequest(port: port, "GET", "/v2/models/nope/ready")
        #expect(missing.status == 404 && missing.text.contains(#""error":"model_name: no model"#), "\(missing.text)")
        await replica.stop()
    }

    @Test func versionedRoutesReachThatVersionsReplicas() async throws {
        let one = try await LocalReplica.start(linearHandler(version: "lin/1"))
        let two = try await LocalReplica.start(linearHandler(version: "lin/2", intercept: 10))
        let table = RoutingTable()
        table.add(version: "lin/1", port: one.port)
        table.add(version: "lin/2", port: two.port)
        table.setWeights(["lin/1": 100, "lin/2": 0])
        let router = EndpointRouter(endpoint: "ep", table: table, client: makeClient(), capture: nil, capturePercent: 0, logger: quietLogger)
        let served = try await LocalRouter.start(router)
        defer { served.task.cancel() }
        let port = served.port

        let body = #"{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]}]}"#
        for _ in 0..<4 {
            let pinned = try rawRequest(port: port, "POST", "/v2/models/lin/versions/2/infer", json: body)
            #expect(pinned.status == 200 && pinned.text.contains(#""model_version":"lin/2""#) && pinned.text.contains("[13.0]"), "\(pinned.text)")
        }
        let weighted = try rawRequest(port: port, "POST", "/v2/models/lin/infer", json: body)
        #expect(weighted.text.contains(#""model_version":"lin/1""#), "\(weighted.text)")
        let config = try rawRequest(port: port, "GET", "/v2/models/lin/versions/2/config")
        #expect(config.status == 200 && config.text.contains(#""dims":[-1,2]"#), "\(config.text)")
        // Binary tensors pass through the router both ways.
        let header = #"{"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}], "parameters": {"binary_data_output": true}}"#
        let tensor = [Float(1), 2].flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
        let binary = try rawRequest(port: port, "POST", "/v2/models/lin/infer", contentType: "application/octet-stream",
                                    headers: ["Inference-Header-Content-Length": String(header.utf8.count)], body: Data(header.utf8) + Data(tensor))
        let answerLength = try #require(binary.headers["inference-header-content-length"].flatMap { Int($0) }, "\(binary.headers) \(binary.text)")
        #expect(binary.status == 200 && binary.body.count == answerLength + 4, "\(binary.text)")
        #expect(Array(binary.body.suffix(4)) == withUnsafeBytes(of: Float(3).bitPattern.littleEndian) { Array($0) })
        let missing = try rawRequest(port: port, "GET", "/v2/models/lin/versions/7/ready")
        #expect(missing.status == 404 && missing.text.contains(#""error":"model_version: endpoint ep has no ready replica of version \"7\""#), "\(missing.text)")
        await one.stop()
        await two.stop()
    }
}
