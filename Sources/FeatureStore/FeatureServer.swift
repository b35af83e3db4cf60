import Foundation
import Hummingbird
import MLInfraHTTP
import NIOCore
import NIOHTTP1

/// The HTTP feature server: Feast's `POST /get-online-features`, plus `GET /health`.
///
/// Binds 127.0.0.1 unless told otherwise. `run` serves on a plain SwiftNIO listener that answers
/// each request on its event loop (see `OnlineHTTPHandler`); `application()` is the same API as a
/// Hummingbird application, for embedding and for tests.
public struct FeatureServer: Sendable {
    public let store: LocalFeatureStore
    /// Largest accepted request body.
    public var maxBodyBytes: Int = 4 << 20
    /// Event loops of the NIO listener (`run`); nil: one per core (NIO's shared group).
    public var eventLoops: Int?
    /// Host names, body types, tokens, timeouts (`ServerPolicy`); lookups are reads.
    public var policy: ServerPolicy

    public init(store: LocalFeatureStore, policy: ServerPolicy = ServerPolicy(server: "features")) {
        self.store = store
        self.policy = policy
    }

    /// A lookup reads (`POST` with a JSON body); `/health` is open.
    static let rules = RouteRules { method, path in
        if RouteRules.isProbe(path) { return (.open, .none) }
        return method == .post ? (.read, .json) : (.read, .none)
    }

    /// The policy's checks on a request head of the NIO listener.
    static func check(_ head: HTTPRequestHead, path: String, policy: ServerPolicy) -> ServerPolicy.Refusal? {
        let method = head.method.rawValue
        let (access, types) = rules.classify(HTTPRequest.Method(method) ?? .get, path)
        let length = head.headers.first(name: "content-length").flatMap { Int($0) }
        let chunked = head.headers.contains(name: "transfer-encoding")
        return policy.check(
            method: method, host: head.headers.first(name: "host"), contentType: head.headers.first(name: "content-type"),
            contentLength: length, hasBody: (length ?? 0) > 0 || chunked, authorization: head.headers.first(name: "authorization"),
            access: access, bodyTypes: types)
    }

    public func router() -> Router<BasicRequestContext> {
        let router = policy.router(rules: Self.rules)
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
        policy.application(router: router(), host: host, port: port, serverName: "mlinfra-feature-server", onRunning: onRunning)
    }

    /// Serves until the task is cancelled or the process gets SIGINT/SIGTERM, on the NIO listener
    /// (`OnlineHTTPHandler`: answered on the event loop, no hop to the task pool; same routes and
    /// JSON as `router()`). Port 0 picks a free port; `onRunning` gets the bound one. SIGINT and
    /// SIGTERM stop it (it returns normally); they stay ignored afterwards, as the process is ending.
    public func run(host: String = "127.0.0.1", port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try policy.check(bindHost: host)
        let channel = try await bindListener(host: host, port: port)
        let signals = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { channel.close(promise: nil) }
            source.resume()
            return source
        }
        defer { for source in signals { source.cancel() } }
        // Announced only once the signals are handled, so a supervisor may stop it right away.
        await onRunning(channel.localAddress?.port ?? port)
        try await withTaskCancellationHandler {
            try await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}
