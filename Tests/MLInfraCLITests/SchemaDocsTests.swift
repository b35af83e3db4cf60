import Foundation
import Testing

/// The reference pages in `docs/resources/` are what `mlinfra providers --docs` writes from the
/// schemas, and `mlinfra providers` shows nested blocks with their attributes.
@Suite struct SchemaDocsTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func theReferencePagesAreInSyncWithTheSchemas() async throws {
        let h = try CLIHarness(binary: CLIHarness.productsDirectory.appendingPathComponent("mlinfra").path)
        let written = try await h.run("providers", "--docs", h.directory.appendingPathComponent("pages").path)
        #expect(written.status == 0, "\(written.out)\(written.err)")
        let committed = Self.repository.appendingPathComponent("docs/resources")
        let fresh = try FileManager.default.contentsOfDirectory(atPath: h.directory.appendingPathComponent("pages").path).sorted()
        let kept = try FileManager.default.contentsOfDirectory(atPath: committed.path).sorted()
        #expect(fresh == kept, "regenerate with `swift run mlinfra providers --docs docs/resources`")
        for name in fresh {
            let new = h.read("pages/\(name)")
            let old = try? String(contentsOf: committed.appendingPathComponent(name), encoding: .utf8)
            #expect(new == old, "docs/resources/\(name) is stale; regenerate with `swift run mlinfra providers --docs docs/resources`")
        }
    }

    @Test func nestedBlocksAreShownWithTheirAttributes() async throws {
        let h = try CLIHarness(binary: CLIHarness.productsDirectory.appendingPathComponent("mlinfra").path)
        let human = try await h.run("providers")
        #expect(human.out.contains("      traffic: object (optional) — Canary traffic split.\n          canary: string (optional)"), "\(human.out)")
        #expect(human.out.contains("description: string (optional, the provider's default when left out)"), "\(human.out)")
        let json = try await h.run("providers", "--format", "json")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        let monitor = ((((document["providers"] as? [String: Any])?["local"] as? [String: Any])?["resource_types"] as? [String: Any])?["monitor"] as? [String: Any])
        let checks = (monitor?["attributes"] as? [String: Any])?["checks"] as? [String: Any]
        let method = (checks?["attributes"] as? [String: Any])?["method"] as? [String: Any]
        #expect((method?["allowed"] as? [String])?.contains("psi") == true, "\(String(describing: checks))")
    }
}
