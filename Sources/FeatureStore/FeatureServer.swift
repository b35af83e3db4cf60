import Foundation
import Hummingbird
import NIOCore

/// The HTTP feature server: Feast's `POST /get-online-features`, plus `GET /health`.
///
/// Binds 127.0.0.1 unless told otherwise. Lookups run on the request's event loop: a read
/// is a few SQLite point queries (microseconds), cheaper than hopping to another thread.
public struct FeatureServer: Sendable {
    public let store: LocalFeatureStore
    /// Largest accepted request body.
    public var maxBodyBytes: Int = 4 << 20

    public init(store: LocalFeatureStore) {
        self.store = store
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let store = self.store
        let limit = maxBodyBytes
        router.post("/get-online-features") { request, _ -> Response in
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: limit)
            } catch {
                return Self.json(413, OnlineJSON.error(field: "body", message: "larger than \(limit) bytes"))
            }
            let (status, json) = body.withUnsafeReadableBytes { OnlineJSON.handle(bytes: $0, store: store) }
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            return Response(
                status: HTTPResponse.Status(code: status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
        }
        router.get("/health") { _, _ -> Response in
            Self.json(200, "{\"status\":\"ok\"}")
        }
        return router
    }

    static func json(_ status: Int, _ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(
            status: HTTPResponse.Status(code: status), headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// An application serving the router on `host:port` (port 0 picks a free one; `onRunning` gets it).
    public func application(
        host: String = "127.0.0.1", port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "mlinfra-feature-server"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }
        )
    }

    /// Serves until the task is cancelled or the process gets SIGINT/SIGTERM.
    public func run(host: String = "127.0.0.1", port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try await application(host: host, port: port, onRunning: onRunning).runService()
    }
}
