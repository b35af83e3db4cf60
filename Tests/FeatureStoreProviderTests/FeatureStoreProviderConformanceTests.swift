import FeatureStoreProvider
import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing

/// `ProviderConformance` against the feature store provider, on a real store in a temporary directory.
@Suite struct FeatureStoreProviderConformanceTests {
    @Test func entityConforms() async throws {
        let directory = try ProviderConformance.temporaryDirectory("features")
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixture = ProviderConformance.Fixture(
            providerConfig: ["data_dir": ".mlinfra"], workingDirectory: directory.path, type: "entity", address: "entity.customer",
            create: ["store": "main", "join_keys": ["customer_id"], "value_type": "int64", "description": "first"],
            update: ["store": "main", "join_keys": ["customer_id"], "value_type": "int64", "description": "second"],
            replace: ["store": "main", "join_keys": ["account_id"], "value_type": "int64", "description": "first"],
            invalid: ["store": "main", "join_keys": []],
            unknownAttribute: "store")
        let report = await ProviderConformance(provider: FeatureStoreProvider(), fixture: fixture).run()
        #expect(report.passed, "\(report)")
    }
}
