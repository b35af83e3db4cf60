import ArgumentParser
import Foundation
import MLInfraCore
import MLInfraHTTP

/// The flags every `… serve` command shares: which host names it answers for, its timeouts and
/// connection limit, and where its bearer tokens are kept.
public struct ServerOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("allowed-host"), help: "A host name the server answers for, besides IP addresses and localhost (repeatable).")
    var allowedHosts: [String] = []

    @Option(help: "Time allowed to send a whole request head, and to keep an idle connection open (e.g. 15s).")
    var headerTimeout: String = "15s"

    @Option(help: "The longest pause allowed between two reads of a request body (e.g. 30s).")
    var bodyTimeout: String = "30s"

    @Option(help: "Connections open at once; more are closed on arrival.")
    var maxConnections: Int = 4096

    @Option(help: "The token file (default: tokens.json in the data directory). When it exists, every request but health probes needs a token.")
    var tokens: String?

    @Option(help: "A PEM certificate chain to serve HTTPS with (with --tls-key).")
    var tlsCert: String?

    @Option(help: "The PEM private key of --tls-cert.")
    var tlsKey: String?

    public init() {}

    public func validate() throws {
        for text in [headerTimeout, bodyTimeout] where (DurationText.seconds(text) ?? 0) <= 0 {
            throw ValidationError("'\(text)' is not a duration; use e.g. 15s, 2m or 500ms")
        }
        guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// Whether the server speaks HTTPS, for the URL it announces.
    public var scheme: String { tlsCert == nil ? "http" : "https" }

    /// The policy of server `server` whose engines keep their files in `dataDirectory`.
    public func policy(server: String, dataDirectory: URL, maxBodyBytes: Int = 16 << 20) throws -> ServerPolicy {
        let file = tokens.map { URL(fileURLWithPath: $0) } ?? TokensCommand.defaultFile(in: dataDirectory)
        let tls = try tlsCert.map { try ServerTLS(certificate: $0, key: tlsKey ?? "") }
        return ServerPolicy(
            server: server, allowedHosts: Set(allowedHosts), maxBodyBytes: maxBodyBytes,
            headerTimeout: .seconds(DurationText.seconds(headerTimeout) ?? 15), bodyTimeout: .seconds(DurationText.seconds(bodyTimeout) ?? 30),
            maxConnections: maxConnections,
            tokens: FileManager.default.fileExists(atPath: file.path) ? AccessTokens(file: file) : nil, tls: tls)
    }
}
