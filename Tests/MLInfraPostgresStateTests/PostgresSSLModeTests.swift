import Foundation
import HTTPTesting
import MLInfraCore
import MLInfraPostgresState
import MLInfraCoreTesting
import MLInfraTesting
import PostgresNIO
import Synchronization
import Testing

/// The backend URL's `sslmode`, against a private server with TLS turned on (a self-signed
/// certificate for 127.0.0.1 made with openssl).
@Suite(.serialized) struct PostgresSSLModeTests {
    /// One TLS server and its certificate for the suite; stopped when the process exits.
    final class TLSServer: Sendable {
        let server: PostgresTestServer
        let certificate: TestCertificate
        let otherCA: TestCertificate

        init() async throws {
            certificate = try TestCertificate()
            otherCA = try TestCertificate()
            server = try await PostgresTestServer.start(tls: .init(certificate: certificate.certificate, key: certificate.key))
        }

        static let started = Mutex<TLSServer?>(nil)

        static let shared = Task {
            let s = try await TLSServer()
            started.withLock { $0 = s }
            atexit {
                guard let s = TLSServer.started.withLock({ $0 }) else { return }
                s.server.stop()
                s.certificate.remove()
                s.otherCA.remove()
            }
            return s
        }
    }

    func url(_ s: TLSServer, _ query: String) -> String { s.server.url() + "?" + query }

    func store(_ url: String) throws -> PostgresStateStore {
        try PostgresStateStore(url: PostgresBackendURL(parsing: url), project: "ssl-" + UUID().uuidString.prefix(8).lowercased())
    }

    /// Whether the other sessions of the server's user (the store's) use TLS, asked on a connection of the test's own.
    func otherSessionsUseTLS(_ s: TLSServer) async throws -> [Bool] {
        try await s.server.withConnection { c in
            var out: [Bool] = []
            for try await ssl in try await c.query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = 'mlinfra' AND s.pid <> pg_backend_pid()",
                logger: PostgresFixture.logger
            ).decode(Bool.self) {
                out.append(ssl)
            }
            return out
        }
    }

    func expectRefused(_ url: String, password: String, mentioning parts: [String]) async throws {
        let store = try store(url)
        let error = await #expect(throws: StateError.self) { _ = try await store.read() }
        let text = error?.description ?? ""
        #expect(error?.code == .backend)
        #expect(!text.contains(password), "the password is printed: \(text)")
        for part in parts { #expect(text.lowercased().contains(part.lowercased()), "\(part) missing: \(text)") }
        await store.close()
    }

    @Test func requireEncryptsTheConnectionWithoutVerifyingTheCertificate() async throws {
        let s = try await TLSServer.shared.value
        let store = try store(url(s, "sslmode=require"))
        try await store.write(StateStoreConformance.sampleState())
        #expect(try await otherSessionsUseTLS(s) == [true])
        #expect(try await store.read()?.serial == 1)
        await store.close()
    }

    @Test func verifyFullWithTheServersCAConnects() async throws {
        let s = try await TLSServer.shared.value
        let store = try store(url(s, "sslmode=verify-full&sslrootcert=\(s.certificate.certificate)"))
        try await store.write(StateStoreConformance.sampleState())
        #expect(try await otherSessionsUseTLS(s) == [true])
        await store.close()
    }

    @Test func verifyFullWithAnotherCAIsRefusedWithoutThePassword() async throws {
        let s = try await TLSServer.shared.value
        try await expectRefused(
            url(s, "sslmode=verify-full&sslrootcert=\(s.otherCA.certificate)"), password: s.server.password,
            mentioning: ["could not connect", "127.0.0.1", "certificate", "sslrootcert"])
        // The system's trust store does not know the self-signed certificate either.
        try await expectRefused(url(s, "sslmode=verify-full"), password: s.server.password, mentioning: ["certificate"])
        try await expectRefused(url(s, "sslmode=verify-ca&sslrootcert=\(s.otherCA.certificate)"), password: s.server.password, mentioning: ["certificate"])
    }

    @Test func disableConnectsInTheClear() async throws {
        let s = try await TLSServer.shared.value
        let store = try store(url(s, "sslmode=disable"))
        try await store.write(StateStoreConformance.sampleState())
        #expect(try await otherSessionsUseTLS(s) == [false])
        await store.close()
    }

    @Test func requireAgainstAServerWithoutTLSIsRefused() async throws {
        let plain = try await PostgresTestServer.shared()
        try await expectRefused(plain.url() + "?sslmode=require", password: plain.password, mentioning: ["TLS", "sslmode"])
    }

    @Test func anUnreadableRootCertificateIsNamed() async throws {
        let s = try await TLSServer.shared.value
        try await expectRefused(url(s, "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"), password: s.server.password, mentioning: ["/nonexistent/ca.pem"])
    }
}
