import Foundation
import MLInfraTesting

/// A self-signed certificate for 127.0.0.1 and localhost, made with the `openssl` command in a
/// temporary directory, for tests of the servers' TLS.
public struct TestCertificate: Sendable {
    public let directory: URL
    public var certificate: String { directory.appendingPathComponent("cert.pem").path }
    public var key: String { directory.appendingPathComponent("key.pem").path }

    public init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let result = try run("/usr/bin/env", [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", directory.appendingPathComponent("key.pem").path, "-out", directory.appendingPathComponent("cert.pem").path,
        ])
        guard result.status == 0 else {
            throw RawHTTPError("openssl could not make a test certificate (apt-get install openssl): \(result.output)")
        }
    }

    public func remove() { try? FileManager.default.removeItem(at: directory) }
}

/// Runs a command to its end; its status and its standard output and error together.
public func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, output: String) {
    try TestProcess.run(executable, arguments, environment: environment)
}

/// `curl` against a test server: `--cacert` when given, the status code written last.
public func curl(_ url: String, cacert: String? = nil, headers: [String] = [], extra: [String] = []) throws -> (status: Int32, output: String) {
    var arguments = ["curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}"]
    if let cacert { arguments += ["--cacert", cacert] }
    for header in headers { arguments += ["-H", header] }
    return try run("/usr/bin/env", arguments + extra + [url])
}
