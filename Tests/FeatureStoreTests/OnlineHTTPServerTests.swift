import Foundation
import Synchronization
import Testing

@testable import FeatureStore
import HTTPTesting
import MLInfraHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// The NIO listener `FeatureServer.run` serves on: same routes and JSON as the router, over a real
/// loopback socket.
@Suite struct OnlineHTTPServerTests {
    /// Sends raw HTTP/1.1 text on one connection and reads until the server closes it (on a Dispatch
    /// thread, so the blocking socket calls never hold the task pool).
    static func exchange(port: Int, _ request: String) async -> String {
        await withCheckedContinuation { c in
            DispatchQueue.global().async {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                defer { close(fd) }
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = in_port_t(UInt16(port).bigEndian)
                addr.sin_addr.s_addr = inet_addr("127.0.0.1")
                var tv = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                let ok = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard ok == 0 else { c.resume(returning: "connect failed"); return }
                let bytes = Array(request.utf8)
                _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                var out: [UInt8] = []
                var buf = [UInt8](repeating: 0, count: 65536)
                while true {
                    let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                    if n <= 0 { break }
                    out.append(contentsOf: buf[0..<n])
                }
                c.resume(returning: String(decoding: out, as: UTF8.self))
            }
        }
    }

    static func post(_ body: String, keepAlive: Bool = false) -> String {
        "POST /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
            + (keepAlive ? "" : "Connection: close\r\n") + "\r\n" + body
    }

    @Test(.timeLimit(.minutes(1))) func servesFeastJSONAndErrorsOnTheEventLoop() async throws {
        let started = Date()
        let dir = TempDir()
        let store = try OnlineTests.store(dir, clock: ManualClock("2024-01-10T00:00:00Z"))
        var server = FeatureServer(store: store)
        server.maxBodyBytes = 200
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let configured = server
        let running = Task { try await configured.run(port: 0) { portSink.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        let first = await iterator.next()
        let port = try #require(first)

        let ok = await Self.exchange(port: port, Self.post(#"{"features":["customer_stats:txn_count"],"entities":{"customer_id":[2,4]}}"#))
        #expect(ok.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(ok.lowercased().contains("content-type: application/json"))
        #expect(
            ok.hasSuffix(
                #"{"metadata":{"feature_names":["customer_id","txn_count"]},"results":[{"values":[2,4],"statuses":["PRESENT","PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},{"values":[20,null],"statuses":["PRESENT","NOT_FOUND"],"event_timestamps":["2024-01-09T12:00:00Z","1970-01-01T00:00:00Z"]}]}"#))

        // Two requests on one kept-alive connection, then one that closes it.
        let body = #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1]}}"#
        let two = await Self.exchange(port: port, Self.post(body, keepAlive: true) + Self.post(body))
        #expect(two.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        #expect(two.components(separatedBy: #""values":[1.5]"#).count == 3)

        let bad = await Self.exchange(port: port, Self.post(#"{"features":["customer_stats:nope"],"entities":{"customer_id":[1]}}"#))
        #expect(bad.hasPrefix("HTTP/1.1 400 Bad Request"))
        #expect(bad.contains(#"{"error":{"field":"features","#))
        let big = await Self.exchange(port: port, Self.post("{\"features\":[" + String(repeating: "\"a:b\",", count: 60) + "\"a:b\"]}"))
        #expect(big.hasPrefix("HTTP/1.1 413"))
        let health = await Self.exchange(port: port, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(health.hasPrefix("HTTP/1.1 200 OK") && health.hasSuffix(#"{"status":"ok"}"#))
        let missing = await Self.exchange(port: port, "GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(missing.hasPrefix("HTTP/1.1 404"))
        let wrongMethod = await Self.exchange(port: port, "GET /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(wrongMethod.hasPrefix("HTTP/1.1 405"))
        let garbage = await Self.exchange(port: port, "NOT HTTP AT ALL\r\n\r\n")
        #expect(garbage.hasPrefix("HTTP/1.1 400"))

        // Every exchange ended with the server closing the connection, none by the 5 s read timeout.
        #expect(Date().timeIntervalSince(started) < 4)
        running.cancel()
        _ = try? await running.value
    }

    /// Runs `server` on a free port until the returned task is cancelled.
    static func serve(_ server: FeatureServer) async throws -> (Int, Task<Void, any Error>) {
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let running = Task { try await server.run(port: 0) { portSink.yield($0) } }
        var iterator = ports.makeAsyncIterator()
        let first = await iterator.next()
        return (try #require(first), running)
    }

    /// The production listener enforces the same `ServerPolicy` as the Hummingbird servers.
    @Test(.timeLimit(.minutes(1))) func refusesForeignHostsSimpleBodiesAndMissingTokensAndClosesIdleConnections() async throws {
        let dir = TempDir()
        let store = try OnlineTests.store(dir, clock: ManualClock("2024-01-10T00:00:00Z"))
        let tokens = AccessTokens(file: URL(fileURLWithPath: dir.path).appendingPathComponent("tokens.json"))
        let (_, reader) = try tokens.create(name: "serving", scopes: ["features:read"])
        let (_, other) = try tokens.create(name: "registry", scopes: ["registry:write"])
        let (port, running) = try await Self.serve(
            FeatureServer(store: store, policy: ServerPolicy(server: "features", headerTimeout: .seconds(1), tokens: tokens)))
        defer { running.cancel() }

        let body = #"{"features":["customer_stats:txn_count"],"entities":{"customer_id":[2]}}"#
        func post(host: String = "127.0.0.1", type: String = "application/json", token: String? = nil) -> String {
            "POST /get-online-features HTTP/1.1\r\nHost: \(host)\r\nContent-Type: \(type)\r\n"
                + (token.map { "Authorization: Bearer \($0)\r\n" } ?? "")
                + "Content-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body
        }
        #expect(await Self.exchange(port: port, post(token: reader)).hasPrefix("HTTP/1.1 200 OK"))
        #expect(await Self.exchange(port: port, post()).hasPrefix("HTTP/1.1 401"))
        #expect(await Self.exchange(port: port, post(token: other)).hasPrefix("HTTP/1.1 403"))
        #expect(await Self.exchange(port: port, post(host: "rebind.example", token: reader)).hasPrefix("HTTP/1.1 421"))
        #expect(await Self.exchange(port: port, post(type: "text/plain", token: reader)).hasPrefix("HTTP/1.1 415"))
        let health = await Self.exchange(port: port, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(health.hasPrefix("HTTP/1.1 200 OK"))

        // A head that never ends is cut at the header timeout, long before the client's 5 s read timeout.
        let started = Date()
        let partial = await Self.exchange(port: port, "POST /get-online-features HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        #expect(partial.isEmpty)
        #expect(Date().timeIntervalSince(started) < 3)
    }

    @Test(.timeLimit(.minutes(1))) func servesHTTPSWhenGivenACertificate() async throws {
        let dir = TempDir()
        let store = try OnlineTests.store(dir, clock: ManualClock("2024-01-10T00:00:00Z"))
        let certificate = try TestCertificate()
        defer { certificate.remove() }
        let policy = ServerPolicy(server: "features", tls: try ServerTLS(certificate: certificate.certificate, key: certificate.key))
        let (port, running) = try await Self.serve(FeatureServer(store: store, policy: policy))
        defer { running.cancel() }
        let body = #"{"features":["customer_stats:txn_count"],"entities":{"customer_id":[2]}}"#
        let answer = try curl(
            "https://127.0.0.1:\(port)/get-online-features", cacert: certificate.certificate,
            headers: ["Content-Type: application/json"], extra: ["--data", body])
        #expect(answer.status == 0, "\(answer.output)")
        #expect(answer.output.hasSuffix("200") && answer.output.contains(#""results""#), "\(answer.output)")
        let plain = await Self.exchange(port: port, Self.post(body))
        #expect(!plain.contains("200 OK"))
    }
}
