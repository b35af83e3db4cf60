import Foundation
import HTTPTesting
import MLInfraHTTP
import MLInfraJSON
import MLInfraTesting
import Testing

@testable import VectorIndex

/// Chroma's own client (`chromadb.HttpClient`, unmodified, from the CI venv) against the vector
/// API on a real socket, over mlinfra's files and over pgvector: the getting-started flow with
/// explicit embeddings (create, add with ids, metadatas and documents, query with `n_results`
/// and `where`) returns the ids brute force gives, and get / update / upsert / delete / count,
/// `where_document`, errors and a token behave as the client expects.
@Suite struct ChromaClientTests {
    static func python() throws -> String { try PeerPython.require(["chromadb", "numpy"]) }

    static let script = #"""
        import json, sys
        import numpy as np
        import chromadb
        from chromadb.config import Settings

        port, token = int(sys.argv[1]), sys.argv[2]
        settings = Settings(chroma_client_auth_provider="chromadb.auth.token_authn.TokenAuthClientProvider",
                            chroma_client_auth_credentials=token, anonymized_telemetry=False)
        client = chromadb.HttpClient(host="127.0.0.1", port=port, settings=settings)
        out = {"heartbeat": client.heartbeat() > 0}

        rng = np.random.default_rng(7)
        n, dim = 300, 16
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
        ids = [f"doc{i}" for i in range(n)]
        colors = ["red", "green", "blue"]
        metadatas = [{"color": colors[i % 3], "rank": i} for i in range(n)]
        documents = [f"document {i} about {colors[i % 3]} things" + (" with a lemon" if i % 10 == 0 else "") for i in range(n)]

        collection = client.create_collection(name="getting-started", embedding_function=None)
        for start in range(0, n, 100):
            collection.add(ids=ids[start:start + 100], embeddings=vectors[start:start + 100],
                           metadatas=metadatas[start:start + 100], documents=documents[start:start + 100])
        out["count"] = collection.count()

        queries = rng.standard_normal((4, dim)).astype(np.float32)
        def brute(q, allowed):
            d = ((vectors - q) ** 2).sum(axis=1)
            order = [i for i in np.argsort(d, kind="stable") if allowed(i)]
            return [ids[i] for i in order[:5]]
        result = collection.query(query_embeddings=queries, n_results=5)
        out["plain_equal"] = all(result["ids"][k] == brute(queries[k], lambda i: True) for k in range(4))
        out["distance_ok"] = abs(result["distances"][0][0] - float(((vectors[ids.index(result["ids"][0][0])] - queries[0]) ** 2).sum())) < 1e-3
        result = collection.query(query_embeddings=queries, n_results=5, where={"color": "blue"})
        out["where_equal"] = all(result["ids"][k] == brute(queries[k], lambda i: i % 3 == 2) for k in range(4))
        result = collection.query(query_embeddings=queries[:1], n_results=5,
                                  where={"$and": [{"color": "red"}, {"rank": {"$gte": 100}}]}, where_document={"$contains": "lemon"})
        out["where_document_equal"] = result["ids"][0] == brute(queries[0], lambda i: i % 3 == 0 and i >= 100 and i % 10 == 0)
        out["documents"] = result["documents"][0][:1]

        got = collection.get(ids=["doc1", "doc2"], include=["embeddings", "metadatas", "documents"])
        out["get_ids"] = got["ids"]
        out["get_embedding_equal"] = bool(np.allclose(np.array(got["embeddings"][0]), vectors[1]))
        out["get_metadata"] = got["metadatas"][0]
        out["get_where"] = len(collection.get(where={"color": "green"})["ids"])
        out["get_page"] = collection.get(where={"color": "green"}, limit=3, offset=2)["ids"]

        collection.update(ids=["doc1"], metadatas=[{"color": "violet"}])
        out["updated"] = collection.get(ids=["doc1"])["metadatas"][0]
        collection.upsert(ids=["doc1", "new1"], embeddings=[vectors[1], vectors[2]], documents=["replaced", "added"])
        out["upserted"] = collection.get(ids=["doc1", "new1"])["documents"]
        collection.add(ids=["doc2"], embeddings=[vectors[3]], documents=["must not replace"])
        out["add_keeps"] = collection.get(ids=["doc2"])["documents"][0]
        collection.delete(ids=["new1"])
        collection.delete(where={"color": "red"})
        out["after_delete"] = collection.count()

        try:
            client.get_collection("missing")
        except Exception as e:
            out["missing"] = type(e).__name__
        try:
            collection.add(ids=["bad"], embeddings=[[1.0, 2.0]])
        except Exception as e:
            out["bad_dimension"] = type(e).__name__ + ": " + str(e)
        try:
            client.create_collection(name="getting-started", embedding_function=None)
        except Exception as e:
            out["duplicate"] = type(e).__name__

        again = chromadb.HttpClient(host="127.0.0.1", port=port, settings=settings)
        out["listed"] = sorted(c.name for c in again.list_collections())
        out["empty_count"] = again.create_collection(name="still-empty", embedding_function=None).count()
        client.delete_collection("still-empty")
        out["listed_after"] = sorted(c.name for c in again.list_collections())
        print(json.dumps(out))
        """#

    @Test(arguments: ["files", "pgvector"])
    func chromasOwnClientAddsQueriesAndFiltersAsBruteForceDoes(home: String) async throws {
        let directory = temporaryDirectory()
        let store: any CollectionStore
        if home == "pgvector" {
            let server = try await PostgresTestServer.sharedPgvector()
            let database = try await server.createFreshDatabase("chroma")
            store = try PgVectorStore(configuration: server.configuration(database: database), schema: "main", location: "test database")
        } else {
            store = try VectorStore(directory: directory, buildThreads: 1)
        }
        let tokens = AccessTokens(file: URL(fileURLWithPath: directory).appendingPathComponent("tokens.json"))
        let (_, token) = try tokens.create(name: "app", scopes: ["vectors:read", "vectors:write"])
        var api = VectorHTTPAPI(store: store, policy: ServerPolicy(server: "vectors", tokens: tokens))
        try api.serveChroma(catalogPath: directory + "/chroma.json")
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let serving = Task { try await api.application(port: 0) { continuation.yield($0) }.runService() }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        let scriptFile = directory + "/chroma_client.py"
        try Self.script.write(toFile: scriptFile, atomically: true, encoding: .utf8)
        let r = try run(try Self.python(), [scriptFile, String(port), token])
        #expect(r.status == 0, "\(r.output)")
        let last = r.output.split(separator: "\n").last.map(String.init) ?? ""
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(r.output)")
        #expect(answer["heartbeat"] as? Bool == true)
        #expect(answer["count"] as? Int == 300)
        #expect(answer["plain_equal"] as? Bool == true, "\(answer)")
        #expect(answer["distance_ok"] as? Bool == true, "\(answer)")
        #expect(answer["where_equal"] as? Bool == true, "\(answer)")
        #expect(answer["where_document_equal"] as? Bool == true, "\(answer)")
        #expect((answer["documents"] as? [String])?.first?.contains("lemon") == true, "\(answer)")
        #expect(answer["get_ids"] as? [String] == ["doc1", "doc2"])
        #expect(answer["get_embedding_equal"] as? Bool == true)
        #expect((answer["get_metadata"] as? [String: Any])?["color"] as? String == "green")
        #expect(answer["get_where"] as? Int == 100)
        #expect((answer["get_page"] as? [String])?.count == 3)
        #expect((answer["updated"] as? [String: Any])?["color"] as? String == "violet")
        #expect((answer["updated"] as? [String: Any])?["rank"] as? Int == 1, "update merges metadata, as Chroma's does")
        #expect(answer["upserted"] as? [String] == ["replaced", "added"])
        #expect(answer["add_keeps"] as? String == "document 2 about blue things")
        #expect(answer["after_delete"] as? Int == 200, "300 + 1 new − 1 new − 100 red")
        #expect(answer["missing"] as? String == "NotFoundError")
        #expect((answer["bad_dimension"] as? String)?.contains("dimension") == true, "\(answer)")
        #expect(answer["duplicate"] as? String != nil, "\(answer)")
        #expect(answer["listed"] as? [String] == ["getting-started"])
        #expect(answer["empty_count"] as? Int == 0)
        #expect(answer["listed_after"] as? [String] == ["getting-started"])

        // Without the token the client gets nothing; a query with no embeddings says why it is refused.
        let anonymous = try rawRequest(port: port, "GET", "/api/v2/tenants/default_tenant/databases/default_database/collections")
        #expect(anonymous.status == 401)
        let id = try #require(try await ChromaAPI(store: store, catalog: ChromaCatalog(path: nil)).collections().first?.id)
        let textOnly = try rawRequest(
            port: port, "POST", "/api/v2/tenants/default_tenant/databases/default_database/collections/\(id)/query",
            headers: ["Authorization": "Bearer \(token)"], json: #"{"query_texts": ["lemons"], "n_results": 3}"#)
        #expect(textOnly.status == 400)
        #expect(textOnly.text.contains("InvalidArgumentError") && textOnly.text.contains("no embedding model"), "\(textOnly.text)")
    }
}
