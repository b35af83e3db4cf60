import EnginePostgres
import Foundation
import MLInfraTesting
import ModelRegistry
import ModelServing
import ServingProvider
import Testing

/// A replica's models come from a shared PostgreSQL registry as they do from a local one.
@Suite struct RegistryModelSourceTests {
    @Test func resolvesAnAliasFromARegistryInPostgreSQL() async throws {
        let server = try await PostgresTestServer.shared()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("serving-pg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let schema = "serving_" + UUID().uuidString.prefix(8).lowercased()
        let url = try PostgresURL(parsing: server.url())
        // Registered from one host, its local directory elsewhere than the replica's.
        let trainer = try ModelRegistry(location: RegistryLocation(directory: root.appendingPathComponent("trainer"), records: .postgres(url, schema: schema)))
        let file = root.appendingPathComponent("model.json")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let bytes = Data(#"{"format": "linear-json", "weights": [0.5], "intercept": 0}"#.utf8)
        try bytes.write(to: file)
        let v = try trainer.register(RegistrationRequest(model: "fraud", artifact: file, format: "linear-json"), context: .command())
        try trainer.setAlias("fraud", "production", version: v.version, context: .command())

        let source = RegistryModelSource(location: RegistryLocation(directory: root.appendingPathComponent("replica"), records: .postgres(url, schema: schema)))
        let resolved = try source.resolve("fraud@production")
        #expect(resolved.version == "fraud/1")
        #expect(resolved.sha256 == v.sha256)
        #expect(resolved.path.hasPrefix(root.appendingPathComponent("replica").path))
        #expect(try Data(contentsOf: URL(fileURLWithPath: resolved.path)) == bytes)
    }
}
