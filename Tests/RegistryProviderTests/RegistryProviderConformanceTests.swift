import Foundation
import MLInfraCore
import MLInfraCoreTesting
import RegistryProvider
import Testing

/// `ProviderConformance` against the registry provider, on a real registry in a temporary directory.
@Suite struct RegistryProviderConformanceTests {
    @Test func modelConforms() async throws {
        let directory = try ProviderConformance.temporaryDirectory("registry")
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixture = ProviderConformance.Fixture(
            providerConfig: ["data_dir": ".mlinfra"], workingDirectory: directory.path, type: "model", address: "model.conformance",
            create: ["registry": "main", "description": "first", "tags": ["team": "ml"], "protected_aliases": ["production"]],
            update: ["registry": "main", "description": "second", "tags": ["team": "ml", "tier": "gold"], "protected_aliases": ["production"]],
            replace: ["registry": "main", "name": "renamed", "description": "first", "tags": ["team": "ml"], "protected_aliases": ["production"]],
            invalid: ["registry": "main", "name": "bad name!"],
            unknownAttribute: "registry",
            // The registry keeps no record of which `registry` resource a model was made under.
            notImportable: ["registry"])
        let report = await ProviderConformance(provider: RegistryProvider(), fixture: fixture).run()
        #expect(report.passed, "\(report)")
    }
}
