import Foundation
import HTTPTesting
import MLInfraHTTP
import ModelRegistry
import ModelRegistryHTTP
import ModelRegistryTesting
import Testing

/// Serves `server` on a free loopback port for the duration of `body`.
func withLiveRegistry(_ server: RegistryHTTPServer, _ body: (Int) async throws -> Void) async throws {
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let serving = Task { try await server.run(port: 0) { continuation.yield($0) } }
    defer { serving.cancel() }
    var iterator = ports.makeAsyncIterator()
    let port = try #require(await iterator.next())
    try await body(port)
}

/// What an attacker who can reach the registry's port, or a web page in a browser on its host,
/// tries: make the server read its own files, or change the registry without the right to.
@Suite struct RegistrySecurityTests {
    static func createVersion(_ port: Int, source: String, contentType: String = "application/json") throws -> RawResponse {
        let body = #"{"name": "exfil", "source": "\#(source)"}"#
        return try rawRequest(port: port, "POST", "/api/2.0/mlflow/model-versions/create", contentType: contentType, json: body)
    }

    @Test func aClientCannotRegisterAFileOfTheServersHost() async throws {
        let f = try RegistryFixture()
        try f.registry.createModel("exfil", context: .command())
        let secret = try f.artifact("root:*:19000:0:99999:7:::", name: "shadow")
        let allowed = f.root.appendingPathComponent("models")
        try FileManager.default.createDirectory(at: allowed, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: allowed.appendingPathComponent("link.json"), withDestinationURL: secret)
        let escaped = secret.path.replacingOccurrences(of: "/", with: "%2F")

        // Without source roots, no path at all; with one, nothing outside it, however written.
        for roots in [[], [allowed]] {
            let server = RegistryHTTPServer(registry: f.registry, sourceRoots: roots)
            try await withLiveRegistry(server) { port in
                let attempts = [
                    "/etc/passwd", secret.path, "file://" + secret.path, "file://localhost" + secret.path,
                    allowed.path + "/../shadow", "file://" + allowed.path + "/%2e%2e/shadow", "file:" + escaped,
                    allowed.path + "/link.json", "file://" + allowed.path + "/link.json", "../shadow", "shadow",
                    "file://otherhost/etc/passwd",
                ]
                for source in attempts {
                    let r = try Self.createVersion(port, source: source)
                    #expect(r.status == 400, "\(source) with roots \(roots): \(r.status) \(r.text)")
                    #expect(r.text.contains("INVALID_PARAMETER_VALUE"))
                    #expect(!r.text.contains("root:*"))
                }
                // The exfiltration's second half finds nothing to download.
                let download = try rawRequest(port: port, "GET", "/api/v1/models/exfil/versions/1/artifact")
                #expect(download.status == 404)
            }
        }
        #expect(try f.registry.versions(of: "exfil").isEmpty)

        // A file under the root is registered.
        let model = allowed.appendingPathComponent("model.json")
        try Data(#"{"w": [1]}"#.utf8).write(to: model)
        try await withLiveRegistry(RegistryHTTPServer(registry: f.registry, sourceRoots: [allowed])) { port in
            let r = try Self.createVersion(port, source: "file://" + model.path)
            #expect(r.status == 200, "\(r.text)")
        }
        #expect(try f.registry.versions(of: "exfil").count == 1)
    }

    @Test func browserStyleRequestsCannotChangeTheRegistry() async throws {
        let f = try RegistryFixture()
        try f.register("fraud", #"{"w": [1]}"#)
        try await withLiveRegistry(RegistryHTTPServer(registry: f.registry)) { port in
            let deletion = #"{"name": "fraud", "version": "1"}"#
            for type in ["text/plain", "application/x-www-form-urlencoded"] {
                let r = try rawRequest(port: port, "DELETE", "/api/2.0/mlflow/model-versions/delete", contentType: type, json: deletion)
                #expect(r.status == 415, "\(r.text)")
            }
            let rebound = try rawRequest(
                port: port, "DELETE", "/api/2.0/mlflow/model-versions/delete", host: "rebind.attacker.example", json: deletion)
            #expect(rebound.status == 421)
            let upload = try rawRequest(port: port, "POST", "/api/v1/models/fraud/versions", contentType: "text/plain", body: Data("x".utf8))
            #expect(upload.status == 415)
        }
        #expect(try f.registry.versions(of: "fraud").count == 1)
    }

    @Test func writesNeedAWriteToken() async throws {
        let f = try RegistryFixture()
        try f.register("fraud", #"{"w": [1]}"#)
        let tokens = AccessTokens(file: f.root.appendingPathComponent("tokens.json"))
        let (_, reader) = try tokens.create(name: "reader", scopes: ["registry:read"])
        let (_, writer) = try tokens.create(name: "ci", scopes: ["registry:write"])
        let server = RegistryHTTPServer(registry: f.registry, policy: ServerPolicy(server: "registry", tokens: tokens))
        try await withLiveRegistry(server) { port in
            let alias = #"{"name": "fraud", "alias": "production", "version": "1"}"#
            func setAlias(_ token: String?) throws -> Int {
                let headers = token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
                return try rawRequest(port: port, "POST", "/api/2.0/mlflow/registered-models/alias", headers: headers, json: alias).status
            }
            let anonymous = try setAlias(nil), unknown = try setAlias("mlt_x_y"), readOnly = try setAlias(reader)
            #expect(anonymous == 401)
            #expect(unknown == 401)
            #expect(readOnly == 403)
            #expect(try f.registry.aliasTarget("fraud", "production") == nil)
            let listing = try rawRequest(port: port, "GET", "/api/v1/models", headers: ["Authorization": "Bearer \(reader)"])
            #expect(listing.status == 200)
            let written = try setAlias(writer)
            #expect(written == 200)
        }
        #expect(try f.registry.aliasTarget("fraud", "production") == 1)
    }

    @Test func theDownloadURIOfATamperedArtifactIsRefused() async throws {
        let f = try RegistryFixture()
        let version = try f.register("fraud", #"{"w": [1]}"#)
        let stored = f.registry.artifactPath(sha256: version.sha256)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: stored.path)
        try Data(#"{"w": [666]}"#.utf8).write(to: stored)
        try await withLiveRegistry(RegistryHTTPServer(registry: f.registry)) { port in
            let r = try rawRequest(port: port, "GET", "/api/2.0/mlflow/model-versions/get-download-uri?name=fraud&version=1")
            #expect(r.status == 500)
            #expect(r.text.contains("DATA_LOSS"))
            let file = try rawRequest(port: port, "GET", "/api/2.0/mlflow-artifacts/artifacts/mlinfra-registry/fraud/1/\(version.source.split(separator: "/").last!)")
            #expect(file.status == 500)
            #expect(file.text.contains("DATA_LOSS") && !file.text.contains("666"))
        }
    }

    @Test func anOversizedJSONBodyGets413() async throws {
        let f = try RegistryFixture()
        try await withLiveRegistry(RegistryHTTPServer(registry: f.registry)) { port in
            let huge = #"{"name": "x", "description": ""# + String(repeating: "a", count: 2 << 20) + #""}"#
            let r = try rawRequest(port: port, "POST", "/api/2.0/mlflow/registered-models/create", json: huge)
            #expect(r.status == 413, "\(r.status) \(r.text.prefix(200))")
        }
    }
}
