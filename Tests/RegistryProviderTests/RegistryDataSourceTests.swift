import Foundation
import MLInfraCore
@testable import RegistryProvider
import Testing

/// The registry's data sources: `model_version` (the newest version with given tags) and `model_alias` (what it points to now).
@Suite struct RegistryDataSourceTests {
    func read(_ f: ProviderFixture, _ type: String, _ query: [String: Value]) async throws -> ReadResponse {
        try await f.provider.read(ReadRequest(
            type: type, address: "data.\(type).q", id: "", prior: ResourceObject(id: "", attributes: [:]), query: query))
    }

    @Test func modelVersionFindsTheNewestVersionWithTheTags() async throws {
        let f = try await ProviderFixture()
        let (model, v1, v2, _) = try await f.quickstart()
        try f.write("models/v3.json", #"{"weights": [3.0]}"#)
        _ = try await f.converge(
            "model_version", "model_version.fraud_v3", prior: nil,
            config: ["model": .string(model.id), "artifact": "models/v3.json", "format": "linear-json", "tags": ["stage": "candidate"]])
        let newest = try await read(f, "model_version", ["model": .string(model.id)])
        #expect(newest.current?.attributes["version"] == .int(3))
        let tagged = try await read(f, "model_version", ["model": .string(model.id), "tags": ["stage": "candidate"]])
        #expect(tagged.current?.attributes["version"] == .int(3))
        let none = try await read(f, "model_version", ["model": .string(model.id), "tags": ["stage": "retired"]])
        #expect(none.current == nil)
        #expect(v2.attributes["version"] == .int(2) && v1.attributes["version"] == .int(1))
    }

    @Test func modelAliasReadsWhatTheAliasServesNow() async throws {
        let f = try await ProviderFixture()
        let (model, _, _, alias) = try await f.quickstart()
        let found = try await read(f, "model_alias", ["model": .string(model.id), "alias": "production"])
        #expect(found.current == alias)
        let bad = try await read(f, "model", ["model": .string(model.id)])
        #expect(bad.diagnostics.first?.summary == "`model` cannot be read as a data source")
    }
}
