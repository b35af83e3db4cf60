import Foundation
import HTTPTesting
import Logging
import MLInfraHTTP
import Testing

@testable import ModelServing

/// A replica behind `ServerPolicy`: inference clients that send no Content-Type are served, a
/// rebinding Host or a form post is not, and a token is checked when the policy has them.
@Suite struct ReplicaSecurityTests {
    @Test func inferenceIsGuardedLikeEveryOtherServer() async throws {
        let handler = ReplicaHandler(
            runtime: LinearModel(weights: [1, 2], intercept: 0, link: .identity, featureNames: ["a", "b"]),
            modelName: "lin", endpointName: "ep", version: "lin/1")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("replica-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokens = AccessTokens(file: dir.appendingPathComponent("tokens.json"))
        let (_, token) = try tokens.create(name: "app", scopes: ["serving:read"])
        var logger = Logger(label: "test-replica")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = ReplicaServer.application(
            handler: handler, logger: logger, policy: ServerPolicy(server: "serving", maxBodyBytes: ReplicaServer.maxBody, tokens: tokens)
        ) { continuation.yield($0) }
        let task = Task { try await app.run() }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        let body = Data(#"{"instances": [[1, 1]]}"#.utf8)
        let auth = ["Authorization": "Bearer \(token)"]
        let unnamed = try rawRequest(port: port, "POST", "/predict", headers: auth, body: body)
        let json = try rawRequest(port: port, "POST", "/predict", contentType: "application/json", headers: auth, body: body)
        let form = try rawRequest(port: port, "POST", "/predict", contentType: "application/x-www-form-urlencoded", headers: auth, body: body)
        let rebound = try rawRequest(port: port, "POST", "/predict", host: "rebind.example", headers: auth, body: body)
        let anonymous = try rawRequest(port: port, "POST", "/predict", body: body)
        let probe = try rawRequest(port: port, "GET", "/v2/health/ready")
        #expect(unnamed.status == 200, "\(unnamed.text)")
        #expect(json.text.contains("3.0"), "\(json.text)")
        #expect(form.status == 415)
        #expect(rebound.status == 421)
        #expect(anonymous.status == 401)
        #expect(probe.status == 200)
    }
}
