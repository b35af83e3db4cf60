import Foundation
import HTTPTesting
import Hummingbird
import MLInfraHTTP
import Testing

/// A live server with `policy` and two routes: `GET /thing` (read) and `POST /thing` (write, JSON).
func withGuardedServer(
    _ policy: ServerPolicy, _ body: (Int) async throws -> Void
) async throws {
    let router = policy.router()
    router.get("/thing") { _, _ in "read" }
    router.post("/thing") { request, _ in
        let buffer = try await request.body.collect(upTo: policy.maxBodyBytes)
        return "wrote \(buffer.readableBytes)"
    }
    router.get("/healthz") { _, _ in "ok" }
    let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
    let app = Application(
        router: router, server: policy.http1Server(), configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
    let serving = Task { try await app.runService() }
    defer { serving.cancel() }
    var iterator = ports.makeAsyncIterator()
    let port = try #require(await iterator.next())
    try await body(port)
}

@Suite struct ServerPolicyTests {
    @Test(arguments: ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "10.1.2.3", "LOCALHOST", "models.internal:443"])
    func hostsTheServerAnswersFor(_ host: String) {
        let policy = ServerPolicy(server: "registry", allowedHosts: ["Models.Internal"])
        #expect(policy.hostAllowed(host))
    }

    @Test(arguments: ["evil.example", "evil.example:8080", "127.0.0.1.evil.example", "", "[::1"])
    func rebindingHostsAreRefused(_ host: String) {
        #expect(!ServerPolicy(server: "registry").hostAllowed(host))
    }

    @Test func nonLoopbackBindNeedsTLSAndTokens() throws {
        let policy = ServerPolicy(server: "registry")
        try policy.check(bindHost: "127.0.0.1")
        try policy.check(bindHost: "localhost")
        #expect(throws: ServerPolicyError.self) { try policy.check(bindHost: "0.0.0.0") }
        #expect(throws: ServerPolicyError.self) { try policy.check(bindHost: "192.168.1.5") }
    }

    @Test func foreignHostSimpleContentTypesAndOversizedBodiesAreRefused() async throws {
        try await withGuardedServer(ServerPolicy(server: "test", maxBodyBytes: 1000)) { port in
            #expect(try rawRequest(port: port, "GET", "/thing").status == 200)
            let rebound = try rawRequest(port: port, "GET", "/thing", host: "attacker.example:\(port)")
            #expect(rebound.status == 421)
            #expect(rebound.text.contains("attacker.example"))
            #expect(try rawRequest(port: port, "POST", "/thing", json: "{}").status == 200)
            #expect(try rawRequest(port: port, "POST", "/thing", contentType: "application/json; charset=utf-8", json: "{}").status == 200)
            for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
                let r = try rawRequest(port: port, "POST", "/thing", contentType: type, json: "{}")
                #expect(r.status == 415, "\(type): \(r.text)")
            }
            // A body without Content-Type (what fetch() sends for a Blob) is refused on a JSON route.
            #expect(try rawRequest(port: port, "POST", "/thing", body: Data("{}".utf8)).status == 415)
            let big = try rawRequest(port: port, "POST", "/thing", json: String(repeating: " ", count: 5000))
            #expect(big.status == 413)
        }
    }

    @Test func chunkedBodyOverTheLimitGets413() async throws {
        try await withGuardedServer(ServerPolicy(server: "test", maxBodyBytes: 1000)) { port in
            let connection = try RawConnection(port: port)
            var request = "POST /thing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            for _ in 0..<4 { request += "400\r\n" + String(repeating: "x", count: 0x400) + "\r\n" }
            request += "0\r\n\r\n"
            connection.send(request)
            #expect(try connection.readResponse().status == 413)
        }
    }

    @Test func tokensAreCheckedPerServerAndScope() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokens = AccessTokens(file: dir.appendingPathComponent("tokens.json"))
        let (_, reader) = try tokens.create(name: "reader", scopes: ["test:read"])
        let (_, writer) = try tokens.create(name: "writer", scopes: ["test:write"])
        let (_, other) = try tokens.create(name: "other", scopes: ["registry:write"])
        let mode = try FileManager.default.attributesOfItem(atPath: tokens.file.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let stored = try String(contentsOf: tokens.file, encoding: .utf8)
        #expect(!stored.contains(String(reader.split(separator: "_")[2])), "the secret must not be stored")

        try await withGuardedServer(ServerPolicy(server: "test", tokens: tokens)) { port in
            func status(_ method: String, _ token: String?) throws -> Int {
                let headers = token.map { ["Authorization": "Bearer \($0)"] } ?? [:]
                return method == "GET"
                    ? try rawRequest(port: port, "GET", "/thing", headers: headers).status
                    : try rawRequest(port: port, "POST", "/thing", headers: headers, json: "{}").status
            }
            #expect(try status("GET", nil) == 401)
            #expect(try status("GET", "mlt_nope_nope") == 401)
            #expect(try status("GET", reader) == 200)
            #expect(try status("POST", reader) == 403)
            #expect(try status("POST", writer) == 200)
            #expect(try status("GET", other) == 403)
            #expect(try rawRequest(port: port, "GET", "/healthz").status == 200)
            let tampered = String(writer.dropLast()) + (writer.hasSuffix("0") ? "1" : "0")
            #expect(try status("POST", tampered) == 401)

            #expect(try tokens.revoke("writer"))
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try status("POST", writer) == 401)
        }
    }

    @Test func slowlorisAndIdleConnectionsAreClosedAfterTheHeaderTimeout() async throws {
        try await withGuardedServer(ServerPolicy(server: "test", headerTimeout: .seconds(1))) { port in
            let idle = try RawConnection(port: port)
            let slow = try RawConnection(port: port)
            let started = Date()
            // Drip a header a byte every 200 ms: the deadline is for the whole head, not between bytes.
            for byte in "GET /thing HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaa".utf8 {
                if !slow.send(Data([byte])) { break }
                try await Task.sleep(for: .milliseconds(200))
                if Date().timeIntervalSince(started) > 2.5 { break }
            }
            #expect(slow.closedByPeer(within: 1.0))
            #expect(idle.closedByPeer(within: 1.0))
            #expect(Date().timeIntervalSince(started) < 4)
        }
    }

    /// The deadline moves with every request: a keep-alive connection in use for longer than the
    /// header timeout stays open, and once idle it is closed one header timeout after its last
    /// answer (the check scheduled first finds a later deadline and waits for it).
    @Test func aBusyKeepAliveConnectionOutlivesTheHeaderTimeoutAndIsClosedOnceIdle() async throws {
        try await withGuardedServer(ServerPolicy(server: "test", headerTimeout: .seconds(1))) { port in
            let connection = try RawConnection(port: port)
            let started = Date()
            var answered = 0
            while Date().timeIntervalSince(started) < 2.6 {
                #expect(connection.send("GET /thing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
                #expect(try connection.readResponse(timeout: 2).status == 200)
                answered += 1
                try await Task.sleep(for: .milliseconds(300))
            }
            #expect(answered >= 7)
            let lastAnswer = Date()
            #expect(!connection.closedByPeer(within: 0.6), "closed before the header timeout after its last answer")
            #expect(connection.closedByPeer(within: 1.5), "still open well past the header timeout after its last answer")
            #expect(Date().timeIntervalSince(lastAnswer) < 2.3)
        }
    }

    @Test func aStalledBodyIsClosedAfterTheBodyTimeout() async throws {
        try await withGuardedServer(ServerPolicy(server: "test", bodyTimeout: .seconds(1))) { port in
            let connection = try RawConnection(port: port)
            connection.send("POST /thing HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":")
            #expect(connection.closedByPeer(within: 3))
        }
    }

    @Test func twoThousandIdleConnectionsDoNotStopAWellBehavedClient() async throws {
        try await withGuardedServer(ServerPolicy(server: "test", headerTimeout: .seconds(30))) { port in
            var idle: [RawConnection] = []
            for _ in 0..<2000 { idle.append(try RawConnection(port: port)) }
            for _ in 0..<20 {
                #expect(try rawRequest(port: port, "GET", "/thing").status == 200)
            }
            #expect(idle.count == 2000)
        }
    }

    @Test func connectionsPastTheLimitAreClosedOnArrival() async throws {
        try await withGuardedServer(ServerPolicy(server: "test", maxConnections: 3)) { port in
            let held = try (0..<3).map { _ in try RawConnection(port: port) }
            try await Task.sleep(for: .milliseconds(200))
            let extra = try RawConnection(port: port)
            #expect(extra.closedByPeer(within: 2))
            #expect(held.count == 3)
            held.forEach { _ = $0 }
        }
    }
}

@Suite struct ServerTLSTests {
    @Test func servesHTTPSWithTheGivenCertificateAndNothingInPlain() async throws {
        let certificate = try TestCertificate()
        defer { certificate.remove() }
        let policy = ServerPolicy(server: "test", tls: try ServerTLS(certificate: certificate.certificate, key: certificate.key))
        try await withGuardedServer(policy) { port in
            let secure = try curl("https://127.0.0.1:\(port)/thing", cacert: certificate.certificate)
            #expect(secure.status == 0, "\(secure.output)")
            #expect(secure.output.hasSuffix("read\n200"), "\(secure.output)")
            let plain = try curl("http://127.0.0.1:\(port)/thing")
            #expect(!plain.output.contains("read"), "plain HTTP was answered on a TLS port: \(plain.output)")
            let untrusted = try curl("https://127.0.0.1:\(port)/thing")
            #expect(untrusted.status != 0, "a client that does not trust the certificate connected")
        }
    }

    @Test func aMissingOrBadCertificateStopsTheServerNamingTheFile() throws {
        let certificate = try TestCertificate()
        defer { certificate.remove() }
        let missing = #expect(throws: ServerPolicyError.self) { try ServerTLS(certificate: "/nonexistent/cert.pem", key: certificate.key) }
        #expect(missing?.description.contains("/nonexistent/cert.pem") == true)
        let badKey = #expect(throws: ServerPolicyError.self) { try ServerTLS(certificate: certificate.certificate, key: certificate.certificate) }
        #expect(badKey?.description.contains("private key") == true)
    }
}
