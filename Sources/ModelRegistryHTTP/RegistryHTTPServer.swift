import Foundation
import Hummingbird
import MLInfraHTTP
import MLInfraJSON
import ModelRegistry

/// The registry's HTTP API: a native JSON API under `/api/v1`, and under `/api/2.0/mlflow` the
/// model-registry and tracking subsets of the MLflow REST API with its artifact proxy
/// (`/api/2.0/mlflow-artifacts`), so an MLflow training script can track and register against it.
///
/// It binds 127.0.0.1 by default. Changes made through it are audited with origin `api`; the
/// actor comes from the `X-MLinfra-Actor` header (default `http`), a reason from `X-MLinfra-Reason`.
///
/// A client never makes it read a file of its host: artifacts arrive as uploaded bytes, and an
/// MLflow `source` path is accepted only under the `sourceRoots` its operator named.
public struct RegistryHTTPServer: Sendable {
    public let registry: ModelRegistry
    /// The largest artifact upload accepted, in bytes.
    public var maxUploadBytes: Int
    /// Directories of this host whose files MLflow's `model-versions/create` may name as `source`;
    /// none by default, so a request can register only bytes it uploads.
    public var sourceRoots: [URL]
    /// Host names, body types and sizes, tokens, timeouts (`ServerPolicy`).
    public var policy: ServerPolicy

    public init(registry: ModelRegistry, maxUploadBytes: Int = 1 << 30, sourceRoots: [URL] = [], policy: ServerPolicy? = nil) {
        self.registry = registry
        self.maxUploadBytes = maxUploadBytes
        self.sourceRoots = sourceRoots
        var policy = policy ?? ServerPolicy(server: "registry")
        policy.maxBodyBytes = max(policy.maxBodyBytes, maxUploadBytes)
        self.policy = policy
    }

    /// The router with every route, for embedding or testing.
    public func router() -> Router<BasicRequestContext> {
        let router = policy.router(rules: Self.rules)
        NativeRoutes(registry: registry, maxUploadBytes: maxUploadBytes).add(to: router)
        MLflowRoutes(registry: registry, sources: SourcePaths(roots: sourceRoots)).add(to: router)
        TrackingRoutes(registry: registry).add(to: router)
        ArtifactRoutes(registry: registry, maxUploadBytes: maxUploadBytes).add(to: router)
        return router
    }

    /// Uploads take the artifact's bytes; every other write takes JSON.
    static let rules = RouteRules { method, path in
        if RouteRules.isProbe(path) { return (.open, .none) }
        if method == .get || method == .head { return (.read, .none) }
        if method == .post, path.hasPrefix("/api/v1/models/"), path.hasSuffix("/versions") {
            return (.write, BodyTypes(["application/octet-stream"]))
        }
        // MLflow's artifact proxy: files arrive with the media type of their name.
        if method == .put, path.hasPrefix(ArtifactRoutes.base + "/") { return (.write, .any) }
        return (.write, .json)
    }

    /// An application serving the API on `host:port` (port 0 picks a free one, reported to `onRunning`).
    public func application(
        host: String = "127.0.0.1", port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        policy.application(router: router(), host: host, port: port, serverName: "mlinfra-registry", onRunning: onRunning)
    }

    /// Serves until the task is cancelled or the process gets SIGINT/SIGTERM; refuses a
    /// non-loopback address without TLS and tokens.
    public func run(host: String = "127.0.0.1", port: Int, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        try policy.check(bindHost: host)
        try await application(host: host, port: port, onRunning: onRunning).runService()
    }
}

/// A header name (`HTTPField.Name`, reached through Hummingbird's exported `HTTPFields`).
public typealias HTTPHeaderName = HTTPFields.Element.Name

extension HTTPHeaderName {
    /// Who makes a change through the API, for the audit log.
    public static let mlinfraActor = HTTPHeaderName("X-MLinfra-Actor")!
    /// Why, for the audit log.
    public static let mlinfraReason = HTTPHeaderName("X-MLinfra-Reason")!
    /// The sha256 of a downloaded artifact.
    public static let modelSha256 = HTTPHeaderName("X-Model-Sha256")!
}

/// Request plumbing shared by the native and MLflow routes.
enum HTTPSupport {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: value.text)))
    }

    static func context(_ request: Request) -> ChangeContext {
        ChangeContext(actor: request.headers[.mlinfraActor] ?? "http", origin: .api, reason: request.headers[.mlinfraReason])
    }

    /// Writes a request body to `file` as it arrives (bounded memory); returns its size.
    /// Over `limit` bytes it stops with a 413.
    static func saveBody(_ request: Request, to file: URL, limit: Int) async throws -> Int {
        guard FileManager.default.createFile(atPath: file.path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = try? FileHandle(forWritingTo: file)
        else {
            throw RegistryError.invalid("body", "cannot store the upload in \(file.deletingLastPathComponent().path)")
        }
        defer { try? handle.close() }
        var size = 0
        for try await buffer in request.body {
            size += buffer.readableBytes
            guard size <= limit else { throw HTTPError(.contentTooLarge, message: "the artifact is over the limit of \(limit) bytes") }
            try handle.write(contentsOf: buffer.readableBytesView)
        }
        return size
    }

    /// A response body that streams a file in 1 MiB chunks.
    static func fileBody(_ file: URL) throws -> ResponseBody {
        let handle = try FileHandle(forReadingFrom: file)
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: 0)
        return ResponseBody(contentLength: Int(size)) { writer in
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                try await writer.write(ByteBuffer(bytes: chunk))
            }
            try await writer.finish(nil)
        }
    }

    static func body(_ request: Request, limit: Int = 1 << 20) async throws -> Data {
        let buffer = try await request.body.collect(upTo: limit)
        return Data(buffer.readableBytesView)
    }
}

/// A request's parameters, from its query string (GET) or its JSON body (other methods).
struct Parameters {
    var values: [String: JSONValue]

    static func from(_ request: Request) async throws -> Parameters {
        var values = query(request).values
        if request.method != .get {
            let data = try await HTTPSupport.body(request)
            if !data.isEmpty {
                guard case .object(let object)? = JSONValue.parse(data) else {
                    throw RegistryError.invalid("body", "the request body must be a JSON object")
                }
                values.merge(object) { _, body in body }
            }
        }
        return Parameters(values: values)
    }

    /// The query string's parameters only; a repeated key gives a list.
    static func query(_ request: Request) -> Parameters {
        var values: [String: JSONValue] = [:]
        for (k, value) in Parameters.formDecoded(request.uri.query ?? "") {
            let v = JSONValue.string(value)
            if case .array(let existing)? = values[k] {
                values[k] = .array(existing + [v])
            } else if let existing = values[k] {
                values[k] = .array([existing, v])
            } else {
                values[k] = v
            }
        }
        return Parameters(values: values)
    }

    /// `a=1&b=x+y` → [(a, 1), (b, "x y")]: form decoding, where `+` is a space (as Python's requests sends it).
    static func formDecoded(_ query: String) -> [(String, String)] {
        query.split(separator: "&").compactMap { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            guard let key = parts.first, !key.isEmpty else { return nil }
            return (decode(key), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    func string(_ key: String) -> String? { values[key]?.stringValue }

    func requireString(_ key: String) throws -> String {
        guard let value = string(key), !value.isEmpty else {
            throw RegistryError.invalid(key, "missing value for required parameter '\(key)'")
        }
        return value
    }

    func requireVersion(_ key: String = "version") throws -> Int {
        let text = try requireString(key)
        guard let n = Int(text), n > 0 else {
            throw RegistryError.invalid(key, "parameter '\(key)' must be a version number, got '\(text)'")
        }
        return n
    }

    func bool(_ key: String) throws -> Bool {
        switch values[key] {
        case nil, .null?: return false
        case .bool(let b)?: return b
        case .string(let s)? where s.lowercased() == "true": return true
        case .string(let s)? where s.lowercased() == "false": return false
        default: throw RegistryError.invalid(key, "parameter '\(key)' must be true or false")
        }
    }

    func int(_ key: String) throws -> Int? {
        guard let value = values[key], value != .null else { return nil }
        guard let text = value.stringValue, let n = Int(text) else {
            throw RegistryError.invalid(key, "parameter '\(key)' must be an integer")
        }
        return n
    }

    func strings(_ key: String) -> [String] {
        switch values[key] {
        case .array(let items)?: items.compactMap(\.stringValue)
        case let value?: value.stringValue.map { [$0] } ?? []
        case nil: []
        }
    }

    /// MLflow's `tags: [{key, value}]`.
    func tags(_ key: String = "tags") throws -> [String: String] {
        guard let value = values[key], value != .null else { return [:] }
        guard case .array(let items) = value else { throw RegistryError.invalid(key, "'\(key)' must be a list of {key, value}") }
        var tags: [String: String] = [:]
        for item in items {
            guard let k = item["key"]?.stringValue else { throw RegistryError.invalid(key, "every tag needs a 'key'") }
            tags[k] = item["value"]?.stringValue ?? ""
        }
        return tags
    }
}
