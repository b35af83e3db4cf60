import Foundation
import ModelRegistry
import ModelServing
import Synchronization

/// Resolves `NAME@alias`, `NAME/3`, `NAME/Production`, `NAME/latest` and `models:/…` through
/// the model registry in `<data_dir>/registry`, or wherever its `RegistryLocation` says (a
/// shared PostgreSQL registry). The artifact's sha256 is checked on resolve, and again by the
/// replica that loads it.
///
/// A directory version (an MLflow model folder) resolves to the model file its `MLmodel`'s
/// xgboost flavor names, read with `mlmodel`; the replica loads and checks that one file.
public final class RegistryModelSource: ModelSource {
    public let location: RegistryLocation
    public var directory: URL { location.directory }
    private let mlmodel: MLmodelFlavors.Reader?
    private let opened = Mutex<ModelRegistry?>(nil)

    /// `directory` is the registry's directory, `<data_dir>/registry`.
    public convenience init(directory: URL, mlmodel: MLmodelFlavors.Reader? = nil) {
        self.init(location: RegistryLocation(directory: directory), mlmodel: mlmodel)
    }

    public init(location: RegistryLocation, mlmodel: MLmodelFlavors.Reader? = nil) {
        self.location = location
        self.mlmodel = mlmodel
    }

    public func resolve(_ reference: String) throws -> ResolvedModel {
        let registry = try open(reference)
        let resolved: ResolvedModelVersion
        do {
            resolved = try registry.resolve(reference)
        } catch {
            throw ModelResolutionError(reference: reference, message: "\(error)", remedy: "check the model, version or alias in the registry (`mlinfra models …`)")
        }
        guard resolved.kind == .file else { return try directoryModel(resolved, registry: registry, reference: reference) }
        guard let format = ModelFormat(rawValue: resolved.format) else {
            throw ModelResolutionError(reference: reference, message: "\(resolved.name) version \(resolved.version) has format \"\(resolved.format)\", which cannot be served",
                                       remedy: "register the model with format \(ModelFormat.supportedList)")
        }
        return ResolvedModel(name: resolved.name, version: "\(resolved.name)/\(resolved.version)", format: format,
                             path: resolved.artifactPath.path, sha256: resolved.sha256)
    }

    /// The model file of an MLflow model directory: the one its `MLmodel`'s xgboost flavor names.
    private func directoryModel(_ resolved: ResolvedModelVersion, registry: ModelRegistry, reference: String) throws -> ResolvedModel {
        let what = "\(resolved.name) version \(resolved.version)"
        guard let mlmodel else {
            throw ModelResolutionError(reference: reference, message: "\(what) is a directory (a model folder), and this model source reads no MLmodel files",
                                       remedy: "serve it through the mlinfra agent, or register the model file itself with its format")
        }
        let files = try registry.directoryFiles(resolved)
        guard let file = files.first(where: { $0.path == "MLmodel" }) else {
            throw ModelResolutionError(reference: reference, message: "\(what) is a directory without an MLmodel file, so not an MLflow model",
                                       remedy: "register the folder mlflow.xgboost.save_model wrote, or the model file itself with its format")
        }
        let model: (path: String, format: ModelFormat)
        do {
            model = try mlmodel(try Data(contentsOf: file.url), "\(what)/MLmodel").xgboostModel(source: "\(what)/MLmodel")
        } catch let error as ModelLoadError {
            throw ModelResolutionError(reference: reference, message: "\(error.source): \(error.message)", remedy: error.remedy)
        }
        guard let data = files.first(where: { $0.path == model.path }) else {
            throw ModelResolutionError(reference: reference, message: "\(what)/MLmodel names the model file \(model.path), which the directory does not hold",
                                       remedy: "register the whole folder mlflow.xgboost.save_model wrote")
        }
        return ResolvedModel(name: resolved.name, version: "\(resolved.name)/\(resolved.version)", format: model.format,
                             path: data.url.path, sha256: data.sha256)
    }

    private func open(_ reference: String) throws -> ModelRegistry {
        try opened.withLock { opened in
            if let registry = opened { return registry }
            // Opening creates a local registry; only open one that exists (a shared one is created by apply).
            if case .sqlite = location.records,
                !FileManager.default.fileExists(atPath: directory.appendingPathComponent("registry.sqlite").path)
            {
                throw ModelResolutionError(reference: reference, message: "there is no model registry in \(directory.path)",
                                           remedy: "add a `registry` resource and register the model, or serve a file: reference")
            }
            let registry = try ModelRegistry(location: location)
            opened = registry
            return registry
        }
    }
}
