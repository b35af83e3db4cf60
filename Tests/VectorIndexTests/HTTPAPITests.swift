import Foundation
import Hummingbird
import HummingbirdTesting
import MLInfraJSON
import MLInfraTesting
import Testing
@testable import VectorIndex

@Suite struct HTTPAPITests {
    /// The API on a local store, or (`pgvector: true`) on a pgvector store of the shared test server.
    func withAPI(pgvector: Bool = false, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let store: any CollectionStore
        if pgvector {
            let server = try await PostgresTestServer.sharedPgvector()
            let database = try await server.createFreshDatabase("http")
            store = try PgVectorStore(configuration: server.configuration(database: database), schema: "main", location: "test database")
        } else {
            store = try VectorStore(directory: temporaryDirectory(), buildThreads: 1)
        }
        try await store.ensureCollection("docs", config: CollectionConfig(dimension: 3, metric: .l2, hnsw: HNSWParameters(m: 4, efConstruction: 20)))
        let app = Application(router: VectorHTTPAPI(store: store).router())
        try await app.test(.router, body)
    }

    func json(_ buffer: ByteBuffer) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(buffer.readableBytesView))
    }

    @Test(arguments: [false, true])
    func upsertQueryGetDeleteRoundTrip(onPgvector: Bool) async throws {
        try await withAPI(pgvector: onPgvector) { client in
            let records = #"{"records": [{"id": "a", "vector": [0, 0, 1], "metadata": {"lang": "en", "n": 1}, "document": "alpha"}, {"id": "b", "vector": [0, 1, 0], "metadata": {"lang": "de"}}]}"#
            try await client.execute(uri: "/collections/docs/upsert", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: records)) { response in
                #expect(response.status == .ok)
                let answer = try json(response.body)
                #expect(answer == .object(["upserted": .int(2), "count": .int(2)]))
            }
            try await client.execute(uri: "/collections/docs/query", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"vector": [0, 0.1, 0.9], "k": 1}"#)) { response in
                #expect(response.status == .ok)
                guard case .object(let body) = try json(response.body), case .array(let matches)? = body["matches"],
                    case .object(let first)? = matches.first
                else { Issue.record("unexpected body"); return }
                #expect(first["id"] == .string("a"))
                #expect(first["document"] == .string("alpha"))
                #expect(first["metadata"] == .object(["lang": .string("en"), "n": .int(1)]))
                #expect(body["strategy"] == .string("hnsw"))
            }
            try await client.execute(uri: "/collections/docs/query", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"vector": [0, 0.1, 0.9], "where": {"lang": "de"}}"#)) { response in
                guard case .object(let body) = try json(response.body), case .array(let matches)? = body["matches"] else { return }
                #expect(matches.count == 1)
                #expect(body["strategy"] == .string("filtered_exact"))
            }
            try await client.execute(uri: "/collections/docs/get", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"ids": ["b"]}"#)) { response in
                guard case .object(let body) = try json(response.body), case .array(let got)? = body["records"] else { return }
                #expect(got == [.object(["id": .string("b"), "vector": .array([.int(0), .int(1), .int(0)]), "metadata": .object(["lang": .string("de")])])])
            }
            try await client.execute(uri: "/collections/docs/delete", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"ids": ["a", "zzz"]}"#)) { response in
                let answer = try json(response.body)
                #expect(answer == .object(["deleted": .int(1), "count": .int(1)]))
            }
            try await client.execute(uri: "/collections", method: .get) { response in
                guard case .object(let body) = try json(response.body), case .array(let list)? = body["collections"],
                    case .object(let info)? = list.first
                else { Issue.record("unexpected body"); return }
                #expect(info["name"] == .string("docs"))
                #expect(info["count"] == .int(1))
            }
            try await client.execute(uri: "/collections/docs", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test(arguments: [
        ("/collections/docs/query", #"{"vector": [1, 2]}"#, "vector"),
        ("/collections/docs/query", #"{"vector": [1, "x", 2]}"#, "vector[1]"),
        ("/collections/docs/query", #"{"vector": [1, 2, 3], "k": "ten"}"#, "k"),
        ("/collections/docs/query", #"{"vector": [1, 2, 3], "where": {"n": {"$gt": "x"}}}"#, "where.n.$gt"),
        ("/collections/docs/query", #"{"k": 3}"#, "vector"),
        ("/collections/docs/upsert", #"{"records": [{"id": "a", "vector": [1, 2, 3]}, {"id": "b", "vector": [1, 2, 3], "metadata": {"x": {"y": 1}}}]}"#, "records[1].metadata.x"),
        ("/collections/docs/upsert", #"{"records": [{"vector": [1, 2, 3]}]}"#, "records[0].id"),
        ("/collections/docs/upsert", #"{"rows": []}"#, "records"),
        ("/collections/docs/delete", #"{"ids": [1]}"#, "ids[0]"),
        ("/collections/docs/get", "not json", "body"),
    ])
    func badInputIs400NamingTheField(uri: String, body: String, field: String) async throws {
        try await withAPI { client in
            try await client.execute(uri: uri, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == .badRequest)
                guard case .object(let top) = try json(response.body), case .object(let error)? = top["error"] else {
                    Issue.record("no error object")
                    return
                }
                #expect(error["field"] == .string(field))
                #expect(error["code"] == .string("invalid_input"))
            }
        }
    }

    @Test func unknownCollectionIs404() async throws {
        try await withAPI { client in
            try await client.execute(uri: "/collections/nope/query", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: #"{"vector": [1, 2, 3]}"#)) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("known collections: docs"))
            }
        }
    }
}
