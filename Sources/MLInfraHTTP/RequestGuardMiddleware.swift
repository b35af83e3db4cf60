import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOCore
import NIOHTTPTypes

/// Which access a route needs and which bodies it takes, by method and path.
public struct RouteRules: Sendable {
    public var classify: @Sendable (HTTPRequest.Method, String) -> (ServerPolicy.Access, BodyTypes)

    public init(_ classify: @escaping @Sendable (HTTPRequest.Method, String) -> (ServerPolicy.Access, BodyTypes)) {
        self.classify = classify
    }

    /// GET and HEAD read and take no body; other methods write and take JSON; health probes are open.
    public static let jsonAPI = RouteRules { method, path in
        if Self.isProbe(path) { return (.open, .none) }
        return method == .get || method == .head ? (.read, .none) : (.write, .json)
    }

    /// `/health`, `/healthz`, `/v2/health/live`, `/v2/health/ready`.
    public static func isProbe(_ path: String) -> Bool {
        path == "/health" || path == "/healthz" || path.hasPrefix("/v2/health/")
    }
}

/// The first middleware of every Hummingbird server: `ServerPolicy.check` on each request,
/// refusals answered `{"error": message, "field": header}` with their status; a body found
/// over the limit while a route reads it answers 413 instead of 500.
public struct RequestGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    public let policy: ServerPolicy
    public let rules: RouteRules

    public init(policy: ServerPolicy, rules: RouteRules = .jsonAPI) {
        self.policy = policy
        self.rules = rules
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let (access, types) = rules.classify(request.method, request.uri.path)
        let length = request.headers[.contentLength].flatMap { Int($0) }
        let hasBody = (length ?? 0) > 0 || request.headers[.transferEncoding] != nil
        if let refusal = policy.check(
            method: request.method.rawValue, host: request.head.authority, contentType: request.headers[.contentType],
            contentLength: length, hasBody: hasBody, authorization: request.headers[.authorization], access: access,
            bodyTypes: types)
        {
            return Self.refusal(refusal)
        }
        do {
            return try await next(request, context)
        } catch is NIOTooManyBytesError {
            return Self.refusal(.init(status: 413, field: "body", message: "request body is over the limit of \(policy.maxBodyBytes) bytes"))
        }
    }

    static func refusal(_ refusal: ServerPolicy.Refusal) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        if refusal.status == 401 { headers[.wwwAuthenticate] = "Bearer" }
        let body = "{\"error\":\(jsonString(refusal.message)),\"field\":\(jsonString(refusal.field))}"
        return Response(status: .init(code: refusal.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    static func jsonString(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

extension ServerPolicy {
    /// The HTTP/1 server of a Hummingbird application with this policy's connection guard, over
    /// TLS when the policy has a certificate.
    public func http1Server() -> HTTPServerBuilder {
        OpenFileLimit.raise()
        let counter = ConnectionCounter()
        let policy = self
        let plain = HTTPServerBuilder.http1(
            configuration: .init(additionalChannelHandlers: [
                ConnectionGuard<HTTPRequestPart, HTTPResponsePart>(policy: policy, counter: counter)
            ]))
        guard let tls else { return plain }
        do {
            return try HTTPServerBuilder.tls(plain, tlsConfiguration: tls.configuration)
        } catch {
            // Fail closed: a server that cannot set up TLS does not start, never plain instead.
            return HTTPServerBuilder { _ in throw error }
        }
    }

    /// An application serving `router` on `host:port` with this policy's server (port 0 picks a
    /// free one; `onRunning` gets the port bound).
    public func application(
        router: Router<BasicRequestContext>, host: String, port: Int, serverName: String,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) -> some ApplicationProtocol {
        Application(
            router: router,
            server: http1Server(),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: serverName),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) })
    }

    /// A router whose first middleware is this policy's guard.
    public func router(rules: RouteRules = .jsonAPI) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: RequestGuardMiddleware(policy: self, rules: rules))
        return router
    }
}
