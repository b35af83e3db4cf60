import Foundation
import MLInfraJSON
import Hummingbird
import MLInfraHTTP

/// The HTTP API of a vector store, local or pgvector (JSON in and out; loopback by default).
///
///     GET  /healthz
///     GET  /collections                      → {"collections": [info…]}
///     GET  /collections/{name}               → info
///     POST /collections/{name}/upsert  {"records": [{"id","vector","metadata","document"}…]}
///     POST /collections/{name}/delete  {"ids": […]}
///     POST /collections/{name}/get     {"ids": […]} or {"where": {…}, "limit": n, "offset": n}
///     POST /collections/{name}/query   {"vector": […], "k": 10, "ef": 64, "where": {…}}
///     /api/v2/…                        Chroma's HTTP API v2 (`serveChroma`, see `ChromaAPI`)
///
/// Bad input gets 400 and `{"error": {"code", "field", "message"}}` naming the
/// field; an unknown collection 404; a storage failure 500.
public struct VectorHTTPAPI: Sendable {
    public let store: any CollectionStore
    /// Largest request body accepted.
    public var maxBodyBytes = 256 << 20
    /// Host names, body types, tokens, timeouts (`ServerPolicy`); `get` and `query` are reads.
    public var policy: ServerPolicy

    /// Chroma's HTTP API v2 under `/api/v2`, when `serveChroma` turned it on.
    var chroma: ChromaAPI?

    public init(store: any CollectionStore, policy: ServerPolicy = ServerPolicy(server: "vectors")) {
        self.store = store
        self.policy = policy
    }

    /// Serves Chroma's HTTP API v2 as well (`chromadb.HttpClient(host, port)`), keeping the
    /// Chroma-only collection metadata in `catalogPath` (nil: in memory).
    public mutating func serveChroma(catalogPath: String?) throws {
        chroma = ChromaAPI(store: store, catalog: try ChromaCatalog(path: catalogPath))
    }

    static let rules = RouteRules { method, path in
        if RouteRules.isProbe(path) { return (.open, .none) }
        if method == .get || method == .head { return (.read, .none) }
        return path.hasSuffix("/get") || path.hasSuffix("/query") ? (.read, .json) : (.write, .json)
    }

    public func router() -> Router<BasicRequestContext> {
        var policy = self.policy
        policy.maxBodyBytes = maxBodyBytes
        let router = policy.router(rules: Self.rules)
        router.get("healthz") { _, _ in Self.json(["status": "ok"]) }
        chroma?.add(to: router)
        router.get("collections") { _, _ in
            try await handle { Self.json(["collections": try await store.listCollections()]) }
        }
        router.get("collections/:name") { _, context in
            try await handle { Self.json(try await store.info(try context.parameters.require("name"))) }
        }
        router.post("collections/:name/upsert") { request, context in
            try await handle {
                let body = try await decodeBody(request)
                guard case .array(let items)? = body["records"] else {
                    throw VectorError.invalidField("records", "is required: a list of record objects")
                }
                let records = try items.enumerated().map { try RequestDecoding.record($0.element, field: "records[\($0.offset)]") }
                let name = try context.parameters.require("name")
                try await store.upsert(name, records)
                return Self.json(["upserted": records.count, "count": try await store.count(name, where: nil)])
            }
        }
        router.post("collections/:name/delete") { request, context in
            try await handle {
                let body = try await decodeBody(request)
                let ids = try RequestDecoding.strings(body["ids"], field: "ids")
                let name = try context.parameters.require("name")
                let deleted = try await store.delete(name, ids: ids)
                return Self.json(["deleted": deleted, "count": try await store.count(name, where: nil)])
            }
        }
        router.post("collections/:name/get") { request, context in
            try await handle {
                let body = try await decodeBody(request)
                let name = try context.parameters.require("name")
                if body["ids"] != nil {
                    return Self.json(["records": try await store.get(name, ids: try RequestDecoding.strings(body["ids"], field: "ids"))])
                }
                let filter = try body["where"].map { try WhereFilter.parse($0, path: "where") }
                let limit = try RequestDecoding.int(body["limit"], field: "limit", default: nil)
                let offset = try RequestDecoding.int(body["offset"], field: "offset", default: 0) ?? 0
                if let limit, limit < 0 { throw VectorError.invalidField("limit", "must not be negative") }
                return Self.json(["records": try await store.get(name, where: filter, limit: limit, offset: max(offset, 0))])
            }
        }
        router.post("collections/:name/query") { request, context in
            try await handle {
                let body = try await decodeBody(request)
                let vector = try RequestDecoding.vector(body["vector"], field: "vector")
                let k = try RequestDecoding.int(body["k"], field: "k", default: 10) ?? 10
                let ef = try RequestDecoding.int(body["ef"], field: "ef", default: nil)
                let filter = try body["where"].flatMap { $0 == .null ? nil : try WhereFilter.parse($0, path: "where") }
                return Self.json(try await store.query(try context.parameters.require("name"), vector, k: k, ef: ef, where: filter))
            }
        }
        return router
    }

    private func decodeBody(_ request: Request) async throws -> [String: JSONValue] {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        let data = Data(buffer.readableBytesView)
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw VectorError.invalidField("body", "is not valid JSON")
        }
        guard case .object(let object) = value else { throw VectorError.invalidField("body", "must be a JSON object") }
        return object
    }

    private func handle(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch let error as VectorError {
            let status: HTTPResponse.Status =
                switch error.code {
                case .invalidInput: .badRequest
                case .notFound: .notFound
                case .conflict: .conflict
                case .storage: .internalServerError
                }
            return Self.json(ErrorBody(error: .init(code: error.code.rawValue, field: error.field, message: error.message)), status: status)
        } catch let error as HTTPError {
            return Self.json(ErrorBody(error: .init(code: "invalid_input", field: "body", message: error.body ?? "\(error.status)")), status: error.status)
        }
    }

    struct ErrorBody: Encodable {
        struct Detail: Encodable {
            var code: String
            var field: String?
            var message: String
        }
        var error: Detail
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// An application bound to `host:port` (port 0 picks a free one; `onRunning` gets the real port).
    public func application(
        host: String = "127.0.0.1", port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        var policy = self.policy
        policy.maxBodyBytes = maxBodyBytes
        return policy.application(router: router(), host: host, port: port, serverName: "mlinfra-vectors", onRunning: onRunning)
    }
}
