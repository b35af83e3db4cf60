import Foundation
import ModelRegistry
import ServingProvider
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

    /// A pinned reference resolves to the version apply pinned, though the alias moved since; an
    /// artifact whose sha256 is not the pinned one (a changed file: model) is refused saying so.
    @Test func pinnedReferencesServeThePinnedVersionAndArtifact() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let registry = try ModelRegistry(directory: dir.appendingPathComponent("registry"))
        for intercept in [0, 100] {
            let artifact = dir.appendingPathComponent("m\(intercept).json")
            try #"{"weights": [1, 1], "intercept": \#(intercept)}"#.write(to: artifact, atomically: true, encoding: .utf8)
            _ = try registry.register(RegistrationRequest(model: "fraud", artifact: artifact, format: "linear-json"), context: context)
        }
        _ = try registry.setAlias("fraud", "production", version: 1, context: context)
        let source = ChainedModelSource([RegistryModelSource(directory: dir.appendingPathComponent("registry"))])
        let pin = ModelPin(try source.resolve("fraud@production"))
        #expect(pin.version == "fraud/1")
        _ = try registry.setAlias("fraud", "production", version: 2, context: context)
        #expect(try source.resolve("fraud@production", pinned: pin).version == "fraud/1")
        #expect(try source.resolve("fraud@production", pinned: nil).version == "fraud/2")
        let forged = ModelPin(version: "fraud/1", sha256: String(repeating: "0", count: 64))
        let refused = #expect(throws: ModelResolutionError.self) { try source.resolve("fraud@production", pinned: forged) }
        #expect(refused?.message.contains("not the 000000000000… apply pinned") == true, "\(String(describing: refused))")

        let file = dir.appendingPathComponent("plain.json")
        try #"{"weights": [1, 1], "intercept": 0}"#.write(to: file, atomically: true, encoding: .utf8)
        let filePin = ModelPin(try source.resolve("file:" + file.path))
        #expect(try source.resolve("file:" + file.path, pinned: filePin).sha256 == filePin.sha256)
        try #"{"weights": [1, 1], "intercept": 7}"#.write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: ModelResolutionError.self) { try source.resolve("file:" + file.path, pinned: filePin) }
    }

    /// An MLflow model directory resolves to the file its xgboost flavor names; another flavor,
    /// a folder without `MLmodel`, or a source without an MLmodel reader is refused saying why.
    @Test func mlflowDirectoryResolvesToItsXGBoostFlavorsFile() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let registry = try ModelRegistry(directory: dir.appendingPathComponent("registry"))
        func folder(_ name: String, _ files: [String: Data]) throws -> URL {
            let folder = dir.appendingPathComponent(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for (file, data) in files { try data.write(to: folder.appendingPathComponent(file)) }
            return folder
        }
        let fixture = try Data(contentsOf: XGBoostParityTests.fixtures.appendingPathComponent("binary.model.json"))
        let xgboost = try folder("xgb", [
            "MLmodel": Data("""
                artifact_path: model
                flavors:
                  python_function:
                    data: model.json
                    loader_module: mlflow.xgboost
                  xgboost:
                    code: null
                    data: model.json
                    model_class: xgboost.core.Booster
                    model_format: json
                mlflow_version: 3.17.2

                """.utf8),
            "model.json": fixture, "requirements.txt": Data("xgboost==3.2.0\n".utf8),
        ])
        let sklearn = try folder("sk", ["MLmodel": Data("flavors:\n  python_function: {data: model.pkl}\n  sklearn: {pickled_model: model.pkl}\n".utf8),
                                        "model.pkl": Data([1, 2, 3])])
        let bare = try folder("bare", ["model.json": fixture])
        for (name, folder) in [("xgb", xgboost), ("sk", sklearn), ("bare", bare)] {
            _ = try registry.register(RegistrationRequest(model: name, artifact: folder, format: "mlflow"), context: context)
        }
        let source = RegistryModelSource(directory: dir.appendingPathComponent("registry"), mlmodel: MLmodelYAML.read)
        let resolved = try source.resolve("xgb/1")
        #expect(resolved.format == .xgboostJSON && resolved.version == "xgb/1")
        let model = try loadVerifiedModel(resolved)
        #expect(model.featureCount == 6)
        let refused = #expect(throws: ModelResolutionError.self) { try source.resolve("sk/1") }
        #expect(refused?.description.contains("flavor sklearn, and serving runs the xgboost flavor only") == true, "\(refused.map(String.init(describing:)) ?? "")")
        let bareError = #expect(throws: ModelResolutionError.self) { try source.resolve("bare/1") }
        #expect(bareError?.description.contains("without an MLmodel file") == true)
        let noReader = #expect(throws: ModelResolutionError.self) { try RegistryModelSource(directory: dir.appendingPathComponent("registry")).resolve("xgb/1") }
        #expect(noReader?.description.contains("reads no MLmodel files") == true)
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
