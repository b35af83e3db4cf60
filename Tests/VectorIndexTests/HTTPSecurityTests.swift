import Foundation
import HTTPTesting
import Hummingbird
import MLInfraHTTP
import Testing
import MLInfraJSON
@testable import VectorIndex

/// The vector API behind `ServerPolicy`, over a real socket: what a browser page or a
/// reader's token must not be able to do to a collection.
@Suite struct VectorHTTPSecurityTests {
    @Test func crossSiteAndReadOnlyRequestsCannotChangeACollection() async throws {
        let store = try VectorStore(directory: temporaryDirectory(), buildThreads: 1)
        try store.createCollection("docs", config: CollectionConfig(dimension: 3, metric: .l2, hnsw: HNSWParameters(m: 4, efConstruction: 20)))
        let tokens = AccessTokens(file: URL(fileURLWithPath: temporaryDirectory()).appendingPathComponent("tokens.json"))
        let (_, reader) = try tokens.create(name: "app", scopes: ["vectors:read"])
        let (_, writer) = try tokens.create(name: "loader", scopes: ["vectors:write"])
        let api = VectorHTTPAPI(store: store, policy: ServerPolicy(server: "vectors", tokens: tokens))
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let serving = Task { try await api.application(port: 0) { continuation.yield($0) }.runService() }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        let upsert = #"{"records": [{"id": "a", "vector": [0, 0, 1]}]}"#
        func status(_ path: String, token: String?, type: String = "application/json", host: String? = nil, _ body: String) throws -> Int {
            let headers = token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
            return try rawRequest(port: port, "POST", path, host: host, contentType: type, headers: headers, json: body).status
        }
        let plain = try status("/collections/docs/upsert", token: writer, type: "text/plain", upsert)
        let rebound = try status("/collections/docs/upsert", token: writer, host: "evil.example", upsert)
        let anonymous = try status("/collections/docs/upsert", token: nil, upsert)
        let readOnly = try status("/collections/docs/upsert", token: reader, upsert)
        #expect(plain == 415)
        #expect(rebound == 421)
        #expect(anonymous == 401)
        #expect(readOnly == 403)
        #expect(try store.collection("docs").count == 0)

        let written = try status("/collections/docs/upsert", token: writer, upsert)
        let queried = try status("/collections/docs/query", token: reader, #"{"vector": [0, 0, 1], "k": 1}"#)
        #expect(written == 200)
        #expect(queried == 200)
        #expect(try store.collection("docs").count == 1)
    }
}
