import Foundation
import MLInfraCore
import NIOSSL
import PostgresNIO

/// A `postgres://user:password@host:port/database?sslmode=…` URL, read once and never shown with its password.
///
/// `description` is the URL without the password (`postgres://mlinfra@db.internal:5432/infra`);
/// every error that names the server uses it, and `scrub` removes the password from any text
/// that came back from the driver, so neither the URL nor its password reaches output or logs.
public struct PostgresBackendURL: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var username: String
    var password: String?
    public var database: String
    /// libpq's sslmode: disable, prefer (the default), require, verify-ca or verify-full.
    public var sslMode: String
    /// libpq's sslrootcert: a PEM file of the CA certificates that verify-ca and verify-full trust
    /// (the system's trust store when nil).
    public var sslRootCert: String?

    /// Reads `text`; a failure never quotes it, since it may hold a password.
    ///
    /// `field` is where the URL was written (the state backend's `backend.postgres.url`, or a
    /// pgvector `vector_store`'s `url`); errors name it.
    public init(parsing text: String, field: String = "backend.postgres.url") throws {
        let what = field == "backend.postgres.url" ? "backend URL" : "URL in \(field)"
        let problem = { (problem: String) in
            StateError(
                .backend, "the PostgreSQL \(what) \(problem) (the URL itself is not shown, as it may hold a password)",
                path: field,
                remedy: "give a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE, for example through a "
                    + "sensitive variable (`url: ${var.pg_url}`) or MLINFRA_PG_URL")
        }
        guard let c = URLComponents(string: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw problem("cannot be read as a URL")
        }
        guard c.scheme == "postgres" || c.scheme == "postgresql" else { throw problem("does not start with postgres://") }
        guard let host = c.host, !host.isEmpty else { throw problem("names no host") }
        guard let user = c.user, !user.isEmpty else { throw problem("names no user") }
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
                    throw problem("has an sslmode that is not one of disable, prefer, require, verify-ca, verify-full")
                }
                mode = value
            case "sslrootcert":
                guard let value = item.value, !value.isEmpty else { throw problem("has an empty sslrootcert") }
                sslRootCert = value
            case "application_name", "connect_timeout": continue
            default: throw problem("has the parameter `\(item.name)`, which mlinfra does not know (it knows sslmode and sslrootcert)")
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

    /// Connection settings for PostgresNIO, TLS as `sslmode` asks.
    public func configuration() throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch sslMode {
        case "disable": tls = .disable
        default:
            var config = TLSConfiguration.makeClientConfiguration()
            if sslMode != "verify-full" && sslMode != "verify-ca" { config.certificateVerification = .none }
            if sslMode == "verify-ca" { config.certificateVerification = .noHostnameVerification }
            if let sslRootCert {
                guard FileManager.default.isReadableFile(atPath: sslRootCert) else {
                    throw StateError(
                        .backend, "the backend URL's sslrootcert \(sslRootCert) cannot be read", path: description,
                        remedy: "give the path of a readable PEM file holding the CA certificate that signed the server's certificate")
                }
                config.trustRoots = .file(sslRootCert)
            }
            let context: NIOSSLContext
            do { context = try NIOSSLContext(configuration: config) } catch {
                throw StateError(
                    .backend, "could not set up TLS for \(description): \(error)", path: description,
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
