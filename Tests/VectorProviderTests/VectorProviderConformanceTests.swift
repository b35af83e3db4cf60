import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing
import VectorProvider

/// `ProviderConformance` against the vector provider, on a real vector store in a temporary directory.
@Suite struct VectorProviderConformanceTests {
    @Test func vectorCollectionConforms() async throws {
        let directory = try ProviderConformance.temporaryDirectory("vectors")
        defer { try? FileManager.default.removeItem(at: directory) }
        let hnsw: Value = ["m": 16, "ef_construction": 200, "ef_search": 64]
        let fixture = ProviderConformance.Fixture(
            providerConfig: ["data_dir": ".mlinfra"], workingDirectory: directory.path, type: "vector_collection",
            address: "vector_collection.docs",
            create: ["store": "main", "dimension": 4, "metric": "cosine", "index": "hnsw", "hnsw": hnsw],
            update: ["store": "main", "dimension": 4, "metric": "cosine", "index": "hnsw", "hnsw": ["m": 16, "ef_construction": 200, "ef_search": 128]],
            replace: ["store": "main", "dimension": 8, "metric": "cosine", "index": "hnsw", "hnsw": hnsw],
            invalid: ["store": "main", "dimension": 0],
            unknownAttribute: "store")
        let report = await ProviderConformance(provider: VectorProvider(), fixture: fixture).run()
        #expect(report.passed, "\(report)")
    }
}
