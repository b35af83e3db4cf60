import EnginePostgres
import Foundation
import MLInfraCore
import PostgresNIO

/// The state backend's `postgres://user:password@host:port/database?sslmode=…` URL, read once and
/// never shown with its password: an `EnginePostgres.PostgresURL` whose problems are told as
/// `StateError`s about `backend.postgres.url`.
///
/// `description` is the URL without the password (`postgres://mlinfra@db.internal:5432/infra`);
/// every error that names the server uses it, and `scrub` removes the password from any text
/// that came back from the driver, so neither the URL nor its password reaches output or logs.
public struct PostgresBackendURL: Sendable, CustomStringConvertible {
    let url: PostgresURL

    public var host: String { url.host }
    public var port: Int { url.port }
    public var username: String { url.username }
    public var database: String { url.database }
    /// libpq's sslmode: disable, prefer (the default), require, verify-ca or verify-full.
    public var sslMode: String { url.sslMode }
    /// libpq's sslrootcert: a PEM file of the CA certificates that verify-ca and verify-full trust
    /// (the system's trust store when nil).
    public var sslRootCert: String? { url.sslRootCert }

    /// Reads `text`; a failure never quotes it, since it may hold a password.
    ///
    /// `field` is where the URL was written (the state backend's `backend.postgres.url`, or a
    /// pgvector `vector_store`'s `url`); errors name it.
    public init(parsing text: String, field: String = "backend.postgres.url") throws {
        let what = field == "backend.postgres.url" ? "backend URL" : "URL in \(field)"
        do {
            url = try PostgresURL(parsing: text)
        } catch {
            throw StateError(
                .backend, "the PostgreSQL \(what) \(error.what) (the URL itself is not shown, as it may hold a password)",
                path: field,
                remedy: "give a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE, for example through a "
                    + "sensitive variable (`url: ${var.pg_url}`)" + (field == "backend.postgres.url" ? " or MLINFRA_PG_URL" : ""))
        }
    }

    public var description: String { url.description }

    /// `text` with the password (and its percent-encoded form) replaced by `(sensitive)`.
    public func scrub(_ text: String) -> String { url.scrub(text) }

    /// Connection settings for PostgresNIO, TLS as `sslmode` asks.
    public func configuration() throws -> PostgresConnection.Configuration {
        do {
            return try url.configuration()
        } catch {
            throw StateError(.backend, error.message, path: description, remedy: error.remedy)
        }
    }
}
