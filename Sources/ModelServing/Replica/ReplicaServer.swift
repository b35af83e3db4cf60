import Foundation
import Hummingbird
import MLInfraHTTP
import Logging
import NIOCore
import NIOPosix

/// The replica worker's HTTP server: one model version on a loopback port.
///
/// Routes: `POST /predict`, `GET /v2`, `POST /v2/models/{name}[/versions/{v}]/infer` (JSON, or
/// binary tensors after a JSON header of `Inference-Header-Content-Length` bytes),
/// `GET /v2/models/{name}[/versions/{v}][/ready|/config]`, `GET /v2/health/live`,
/// `GET /v2/health/ready`, `GET /metrics`.
public enum ReplicaServer {
    /// The largest request body accepted.
    public static let maxBody = 16 << 20

    /// Inference is a read; its body is JSON, binary tensors, or unnamed (clients of the
    /// inference protocol that send no Content-Type); probes are open.
    public static let rules = RouteRules { method, path in
        if RouteRules.isProbe(path) { return (.open, .none) }
        if method == .get || method == .head { return (.read, .none) }
        return (.read, BodyTypes(["application/json", "application/octet-stream"], allowsUnnamed: true))
    }

    /// Builds the application; `onListening` gets the bound port (useful with port 0).
    public static func application(
        handler: ReplicaHandler, host: String = "127.0.0.1", port: Int = 0, eventLoopThreads: Int? = nil, logger: Logger,
        policy: ServerPolicy = ServerPolicy(server: "serving", maxBodyBytes: maxBody),
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = policy.router(rules: rules)
        router.post("predict") { request, _ -> Response in
            let body = try await collect(request)
            return respond(handler.predict(body))
        }
        // The Open Inference Protocol's REST surface: server and model metadata and readiness,
        // with or without `/versions/{v}`; its errors are `{"error": "message"}`.
        @Sendable func model(_ context: some RequestContext) -> ReplicaHandler.Answer? {
            let name = context.parameters.get("name") ?? ""
            guard name == handler.modelName || name == handler.endpointName else {
                return oip(.init(status: 404, body: RequestError(status: 404, field: "model_name", message: "no model \"\(name)\" here").json))
            }
            if let version = context.parameters.get("version"), version != handler.version,
                version != handler.version.split(separator: "/").last.map(String.init)
            {
                return oip(.init(status: 404, body: RequestError(
                    status: 404, field: "model_version", message: "no version \"\(version)\" of \"\(name)\" here; this replica serves \(handler.version)").json))
            }
            return nil
        }
        for prefix in ["v2/models/:name", "v2/models/:name/versions/:version"] {
            router.post("\(prefix)/infer") { request, context -> Response in
                if let refused = model(context) { return respond(refused) }
                let body = try await collect(request)
                return respond(oip(handler.infer(model: context.parameters.get("name") ?? "", body,
                                                 inferenceHeader: request.headers[inferenceHeader])))
            }
            router.get(RouterPath(prefix)) { _, context -> Response in
                respond(model(context) ?? handler.metadata())
            }
            router.get("\(prefix)/ready") { _, context -> Response in
                respond(model(context) ?? .init(status: 200, body: #"{"ready":true}"#))
            }
            router.get("\(prefix)/config") { _, context -> Response in
                respond(model(context) ?? handler.config())
            }
        }
        // Server metadata; `version` is the protocol's (the engine does not know the build's).
        router.get("v2") { _, _ in respond(.init(status: 200, body: #"{"name":"mlinfra-replica","version":"2","extensions":[]}"#)) }
        router.get("v2/health/live") { _, _ in respond(.init(status: 200, body: #"{"live":true}"#)) }
        // The process listens only once the model is loaded and checked, so listening means ready.
        router.get("v2/health/ready") { _, _ in respond(.init(status: 200, body: #"{"ready":true}"#)) }
        return servingApplication(
            router: router, policy: policy, host: host, port: port, prometheus: { handler.prometheus() },
            eventLoopGroupProvider: eventLoopThreads.map { .shared(MultiThreadedEventLoopGroup(numberOfThreads: $0)) } ?? .singleton,
            logger: logger, onListening: onListening)
    }

    /// A serving HTTP server (a replica's, a router's): `router`'s routes and `GET /metrics`
    /// (Prometheus text from `prometheus`), listening on `host:port` as both listen.
    static func servingApplication(
        router: Router<BasicRequestContext>, policy: ServerPolicy, host: String, port: Int,
        prometheus: @escaping @Sendable () -> String, eventLoopGroupProvider: EventLoopGroupProvider = .singleton,
        logger: Logger, onListening: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: prometheus())))
        }
        return Application(
            router: router,
            server: policy.http1Server(),
            configuration: .init(address: .hostname(host, port: port), serverName: nil, backlog: 1024),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            eventLoopGroupProvider: eventLoopGroupProvider,
            logger: logger
        )
    }

    /// `Inference-Header-Content-Length`, the binary tensor extension's header.
    static let inferenceHeader = HTTPFields.Element.Name(InferenceBinary.headerName)!

    static func collect(_ request: Request) async throws -> Data {
        do {
            let buffer = try await request.body.collect(upTo: maxBody)
            return Data(buffer.readableBytesView)
        } catch {
            throw HTTPError(.contentTooLarge, message: "request body over \(maxBody) bytes")
        }
    }

    /// An OIP error body is `{"error": "message"}` (tritonclient and kserve print it as text).
    static func oip(_ answer: ReplicaHandler.Answer) -> ReplicaHandler.Answer {
        guard answer.status >= 400, let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any],
            let error = object["error"] as? [String: Any]
        else { return answer }
        let text = [error["field"] as? String, error["message"] as? String].compactMap { $0 }.joined(separator: ": ")
        let data = (try? JSONSerialization.data(withJSONObject: ["error": text])) ?? Data()
        return .init(status: answer.status, body: String(decoding: data, as: UTF8.self))
    }

    static func respond(_ answer: ReplicaHandler.Answer) -> Response {
        guard let binary = answer.binary else {
            return Response(status: HTTPResponse.Status(code: answer.status), headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: answer.body)))
        }
        var buffer = ByteBuffer(string: answer.body)
        buffer.writeBytes(binary)
        return Response(status: HTTPResponse.Status(code: answer.status),
                        headers: [.contentType: "application/octet-stream", inferenceHeader: String(answer.body.utf8.count)],
                        body: .init(byteBuffer: buffer))
    }
}
