import Foundation
import NIOSSL

/// What every mlinfra server enforces before a request reaches a route: the names it answers
/// for (`Host`, the DNS-rebinding defence), the media types a body may have (cross-site
/// requests from a browser cannot send JSON without a preflight the servers never answer),
/// bearer tokens, a body-size limit, and the timeouts and connection limit of `ConnectionGuard`.
///
/// The defaults are safe on loopback; `check(bindHost:)` refuses a non-loopback bind without
/// TLS files and tokens.
public struct ServerPolicy: Sendable {
    /// The server's name in tokens' scopes (`registry`, `features`, `vectors`, `serving`, `agent`).
    public var server: String
    /// Extra host names the server answers for, besides IP literals and `localhost`.
    public var allowedHosts: Set<String>
    /// The largest request body, in bytes; larger ones get 413.
    public var maxBodyBytes: Int
    /// Time to receive a whole request head, counted from the connection's start or the end of
    /// the previous response (so it also closes idle keep-alive connections).
    public var headerTimeout: Duration
    /// The longest pause between two reads of a request body.
    public var bodyTimeout: Duration
    /// Connections open at once; more are closed as soon as they are accepted.
    public var maxConnections: Int
    /// Bearer tokens; nil serves without authentication (loopback only).
    public var tokens: AccessTokens?
    /// The certificate and key to serve TLS with; nil serves plain HTTP (loopback only).
    public var tls: ServerTLS?

    public init(
        server: String, allowedHosts: Set<String> = [], maxBodyBytes: Int = 16 << 20, headerTimeout: Duration = .seconds(15),
        bodyTimeout: Duration = .seconds(30), maxConnections: Int = 4096, tokens: AccessTokens? = nil, tls: ServerTLS? = nil
    ) {
        self.server = server
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
        self.maxBodyBytes = maxBodyBytes
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.maxConnections = maxConnections
        self.tokens = tokens
        self.tls = tls
    }

    /// Refuses to serve on an address other machines can reach without TLS and tokens.
    public func check(bindHost: String) throws {
        guard !Self.isLoopback(bindHost) else { return }
        if tls == nil || tokens == nil {
            throw ServerPolicyError(
                message: "refusing to serve on \(bindHost) without TLS and access tokens",
                remedy: "Pass --tls-cert and --tls-key, create a token with `mlinfra tokens create --server \(server)`, "
                    + "or bind 127.0.0.1.")
        }
    }

    /// Whether `host` (a bind address) is on the loopback interface.
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        return h == "localhost" || h == "::1" || h == "[::1]" || h.hasPrefix("127.")
    }

    // MARK: - Request checks

    /// What a route needs of a token.
    public enum Access: Sendable, Equatable {
        /// No token needed (health and readiness probes).
        case open
        case read
        case write
    }

    /// A refusal: the status and a message naming the header or field at fault.
    public struct Refusal: Error, Sendable, Equatable {
        public var status: Int
        public var field: String
        public var message: String
    }

    /// Checks a request's head; `bodyTypes` are the media types its route accepts for a body
    /// (empty: the route takes no body). A request is refused when its `Host` is a name the
    /// server does not answer for, when it has a body of another media type (or none named
    /// where a name is required), when it announces a body over the limit, or when its
    /// token is missing, unknown, revoked or lacks the access the route needs.
    public func check(
        method: String, host: String?, contentType: String?, contentLength: Int?, hasBody: Bool, authorization: String?,
        access: Access, bodyTypes: BodyTypes
    ) -> Refusal? {
        if let host, !hostAllowed(host) {
            return Refusal(
                status: 421, field: "Host",
                message: "this server does not answer for host '\(host)'; add it with --allowed-host if it is yours")
        }
        if let contentLength, contentLength > maxBodyBytes {
            return Refusal(status: 413, field: "body", message: "request body of \(contentLength) bytes is over the limit of \(maxBodyBytes)")
        }
        if hasBody, let refusal = bodyTypes.refusal(contentType) { return refusal }
        if access != .open, let tokens {
            switch tokens.verify(authorization: authorization, server: server, write: access == .write) {
            case .allowed: break
            case .missing:
                return Refusal(status: 401, field: "Authorization", message: "this server needs a bearer token (Authorization: Bearer …)")
            case .unknown:
                return Refusal(status: 401, field: "Authorization", message: "the bearer token is not known here or was revoked")
            case .forbidden:
                return Refusal(status: 403, field: "Authorization", message: "the token may not \(access == .write ? "write" : "read") on \(server)")
            }
        }
        return nil
    }

    /// IP literals and `localhost` always; other names only when configured.
    public func hostAllowed(_ header: String) -> Bool {
        let name = Self.hostName(header).lowercased()
        if name.isEmpty { return false }
        if name == "localhost" || allowedHosts.contains(name) { return true }
        return Self.isIPLiteral(name)
    }

    /// The name of a `Host` header value, without port or IPv6 brackets.
    static func hostName(_ header: String) -> String {
        let value = trimmingSpace(header)
        if value.hasPrefix("[") {
            guard let close = value.firstIndex(of: "]") else { return "" }
            return String(value[value.index(after: value.startIndex)..<close])
        }
        if let colon = value.lastIndex(of: ":"), value.firstIndex(of: ":") == colon {
            return String(value[..<colon])
        }
        return String(value)
    }

    /// `text` without the spaces and tabs around it (HTTP's optional whitespace), read as bytes:
    /// it runs on every request, where Foundation's `trimmingCharacters` was a measured cost.
    static func trimmingSpace(_ text: some StringProtocol) -> Substring {
        let utf8 = Substring(text).utf8
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 }
        guard let first = utf8.firstIndex(where: { !isSpace($0) }), let last = utf8.lastIndex(where: { !isSpace($0) }) else { return "" }
        return Substring(utf8[first...last])
    }

    static func isIPLiteral(_ name: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, name, &v4) == 1 || inet_pton(AF_INET6, name, &v6) == 1
    }
}

/// The media types a route accepts for a request body.
public struct BodyTypes: Sendable, Equatable {
    /// Accepted media types, lower case, without parameters.
    public var accepted: Set<String>
    /// Whether a body without `Content-Type` is accepted (clients of inference protocols
    /// that never name one; such a body cannot change anything but a prediction).
    public var allowsUnnamed: Bool

    public init(_ accepted: Set<String>, allowsUnnamed: Bool = false) {
        self.accepted = accepted
        self.allowsUnnamed = allowsUnnamed
    }

    /// Whether every media type is accepted (file uploads whose type is the file's own).
    public var acceptsAny = false

    public static let json = BodyTypes(["application/json"])
    public static let none = BodyTypes([])
    /// Any body, named or not: an upload stored as the bytes it is.
    public static let any: BodyTypes = {
        var types = BodyTypes([], allowsUnnamed: true)
        types.acceptsAny = true
        return types
    }()

    func refusal(_ contentType: String?) -> ServerPolicy.Refusal? {
        if acceptsAny { return nil }
        guard let contentType, !contentType.isEmpty else {
            if allowsUnnamed || accepted.isEmpty { return nil }
            return .init(status: 415, field: "Content-Type", message: "the request body needs a Content-Type: \(names)")
        }
        let media = contentType.split(separator: ";", maxSplits: 1).first.map { ServerPolicy.trimmingSpace($0).lowercased() } ?? ""
        if accepted.contains(media) { return nil }
        return .init(status: 415, field: "Content-Type", message: "Content-Type '\(media)' is not accepted here; send \(names)")
    }

    private var names: String { accepted.isEmpty ? "no body" : accepted.sorted().joined(separator: " or ") }
}

/// A certificate chain and its private key, read from PEM files when the server is configured
/// (so a bad file stops the server before it listens, naming the file).
public struct ServerTLS: Sendable {
    public let configuration: TLSConfiguration

    public init(certificate: String, key: String) throws {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificate)
        } catch {
            throw ServerPolicyError(message: "cannot read the TLS certificate \(certificate)", remedy: "Pass a PEM certificate chain.")
        }
        guard !chain.isEmpty else {
            throw ServerPolicyError(message: "the TLS certificate file \(certificate) holds no certificate", remedy: "Pass a PEM certificate chain.")
        }
        let privateKey: NIOSSLPrivateKey
        do {
            privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        } catch {
            throw ServerPolicyError(message: "cannot read the TLS private key \(key)", remedy: "Pass the PEM private key of the certificate.")
        }
        configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
    }

    /// A context for servers that build their own NIO pipeline.
    public func makeContext() throws -> NIOSSLContext { try NIOSSLContext(configuration: configuration) }
}

/// A server that cannot start as configured: what and how to fix it.
public struct ServerPolicyError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var remedy: String
    public var description: String { "\(message). \(remedy)" }
}
