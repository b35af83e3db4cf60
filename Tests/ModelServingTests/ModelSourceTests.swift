import Foundation
import ModelRegistry
import Testing

@testable import ModelServing

@Suite struct ModelSourceTests {
    let context = ChangeContext(actor: "test", origin: .apply)

    @Test func registryAliasAndVersionResolveToCheckedArtifacts() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let registry = try ModelRegistry(directory: dir.appendingPathComponent("registry"))
        let artifact = dir.appendingPathComponent("m.json")
        try #"{"weights": [1, 2], "intercept": 3}"#.write(to: artifact, atomically: true, encoding: .utf8)
        _ = try registry.register(RegistrationRequest(model: "fraud", artifact: artifact, format: "linear-json"), context: context)
        _ = try registry.setAlias("fraud", "production", version: 1, context: context)
        let source = ChainedModelSource([RegistryModelSource(directory: dir.appendingPathComponent("registry"))])
        for reference in ["fraud@production", "fraud/1", "models:/fraud@production"] {
            let resolved = try source.resolve(reference)
            #expect(resolved.version == "fraud/1")
            #expect(resolved.format == .linearJSON)
            let model = try loadVerifiedModel(resolved)
            #expect(model.predict(FeatureMatrix([[1, 1]], columns: 2)).values == [6])
        }
        let missing = #expect(throws: ModelResolutionError.self) { try source.resolve("fraud@staging") }
        #expect(missing?.description.contains("staging") == true)
    }

    @Test func tamperedArtifactIsRefused() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.json")
        try #"{"weights": [1]}"#.write(to: path, atomically: true, encoding: .utf8)
        let resolved = try FileModelSource().resolve("file:" + path.path)
        #expect(resolved.version.hasPrefix("file:"))
        try #"{"weights": [2]}"#.write(to: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: ModelLoadError.self) { _ = try loadVerifiedModel(resolved) }
        #expect(error?.description.contains("sha256") == true)
    }

    @Test func unservableFormatsAndMissingRegistryAreExplained() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let none = #expect(throws: ModelResolutionError.self) {
            _ = try RegistryModelSource(directory: dir.appendingPathComponent("registry")).resolve("fraud@production")
        }
        #expect(none?.description.contains("no model registry") == true)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("registry").path))
        let registry = try ModelRegistry(directory: dir.appendingPathComponent("registry"))
        let artifact = dir.appendingPathComponent("m.onnx")
        try Data([1, 2, 3]).write(to: artifact)
        _ = try registry.register(RegistrationRequest(model: "img", artifact: artifact, format: "onnx"), context: context)
        let onnx = #expect(throws: ModelResolutionError.self) {
            _ = try RegistryModelSource(directory: dir.appendingPathComponent("registry")).resolve("img/1")
        }
        #expect(onnx?.description.contains("onnx") == true)
    }
}
