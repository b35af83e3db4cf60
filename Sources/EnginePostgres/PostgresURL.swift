import Foundation
import NIOSSL
import PostgresNIO

/// An engine's `postgres://user:password@host:port/database?sslmode=…` URL, read once and
/// never shown with its password.
///
/// `description` is the URL without the password (`postgres://mlinfra@db.internal:5432/ml`);
/// every error that names the server uses it, and `scrub` removes the password from any text
/// that came back from the driver, so neither reaches output, errors or logs.
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    var password: String?
    public var database: String
    /// libpq's sslmode: disable, prefer (the default), require, verify-ca or verify-full.
    public var sslMode: String
    /// libpq's sslrootcert: the CA certificates verify-ca and verify-full trust (the system's when nil).
    public var sslRootCert: String?

    /// Why a URL was refused, in words that never quote it (it may hold a password).
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var what: String
        public var description: String { what }
    }

    /// Reads `text`; a failure never quotes it.
    public init(parsing text: String) throws(Problem) {
        guard let c = URLComponents(string: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Problem(what: "cannot be read as a URL")
        }
        guard c.scheme == "postgres" || c.scheme == "postgresql" else { throw Problem(what: "does not start with postgres://") }
        guard let host = c.host, !host.isEmpty else { throw Problem(what: "names no host") }
        guard let user = c.user, !user.isEmpty else { throw Problem(what: "names no user") }
        let database = String(c.path.drop(while: { $0 == "/" }))
        self.host = host
        self.port = c.port ?? 5432
        self.username = user
        self.password = c.password
        self.database = database.isEmpty ? user : database
        var mode = "prefer"
        var sslRootCert: String?
        for item in c.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let value = item.value, ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"].contains(value) else {
                    throw Problem(what: "has an sslmode that is not one of disable, prefer, require, verify-ca, verify-full")
                }
                mode = value
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else { throw Problem(what: "has an empty sslrootcert") }
                sslRootCert = value
            case "application_name", "connect_timeout": continue
            default: throw Problem(what: "has the parameter `\(item.name)`, which mlinfra does not know (it knows sslmode and sslrootcert)")
            }
        }
        self.sslMode = mode
        self.sslRootCert = sslRootCert
    }

    public var description: String {
        "postgres://\(username)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }

    /// `text` with the password (and its percent-encoded form) replaced by `(sensitive)`.
    public func scrub(_ text: String) -> String {
        guard let password, !password.isEmpty else { return text }
        var out = text.replacingOccurrences(of: password, with: "(sensitive)")
        if let encoded = password.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed), encoded != password {
            out = out.replacingOccurrences(of: encoded, with: "(sensitive)")
        }
        return out
    }

    /// Why TLS could not be set up, told as a problem and a remedy.
    public struct TLSProblem: Error, Sendable {
        public var message: String
        public var remedy: String
    }

    /// Connection settings for PostgresNIO, TLS as `sslmode` asks.
    public func configuration() throws(TLSProblem) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        default:
            var config = TLSConfiguration.makeClientConfiguration()
            if sslMode != "verify-full" && sslMode != "verify-ca" { config.certificateVerification = .none }
            if sslMode == "verify-ca" { config.certificateVerification = .noHostnameVerification }
            if let sslRootCert {
                guard FileManager.default.isReadableFile(atPath: sslRootCert) else {
                    throw TLSProblem(
                        message: "the URL's sslrootcert \(sslRootCert) cannot be read",
                        remedy: "give the path of a readable PEM file holding the CA certificate that signed the server's certificate")
                }
                config.trustRoots = .file(sslRootCert)
            }
            let context: NIOSSLContext
            do { context = try NIOSSLContext(configuration: config) } catch {
                throw TLSProblem(
                    message: "could not set up TLS for \(description): \(error)",
                    remedy: "check the system's CA certificates, or use ?sslmode=disable on a trusted network")
            }
            tls = sslMode == "allow" || sslMode == "prefer" ? .prefer(context) : .require(context)
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = .seconds(15)
        return configuration
    }
}
