import Foundation
import ModelRegistry
import Synchronization

/// Resolves `NAME@alias`, `NAME/3`, `NAME/Production`, `NAME/latest` and `models:/…` through
/// the model registry in `<data_dir>/registry`, or wherever its `RegistryLocation` says (a
/// shared PostgreSQL registry). The artifact's sha256 is checked on resolve, and again by the
/// replica that loads it.
public final class RegistryModelSource: ModelSource {
    public let location: RegistryLocation
    public var directory: URL { location.directory }
    private let opened = Mutex<ModelRegistry?>(nil)

    /// `directory` is the registry's directory, `<data_dir>/registry`.
    public convenience init(directory: URL) { self.init(location: RegistryLocation(directory: directory)) }

    public init(location: RegistryLocation) { self.location = location }

    public func resolve(_ reference: String) throws -> ResolvedModel {
        let registry = try open(reference)
        let resolved: ResolvedModelVersion
        do {
            resolved = try registry.resolve(reference)
        } catch {
            throw ModelResolutionError(reference: reference, message: "\(error)", remedy: "check the model, version or alias in the registry (`mlinfra models …`)")
        }
        guard resolved.kind == .file else {
            throw ModelResolutionError(
                reference: reference, message: "\(resolved.name) version \(resolved.version) is a directory (a model folder), and a replica loads one model file",
                remedy: "register the model file itself (e.g. the folder's model.json) as a version with its format, and serve that version")
        }
        guard let format = ModelFormat(rawValue: resolved.format) else {
            throw ModelResolutionError(reference: reference, message: "\(resolved.name) version \(resolved.version) has format \"\(resolved.format)\", which cannot be served",
                                       remedy: "register the model with format \(ModelFormat.supportedList)")
        }
        return ResolvedModel(name: resolved.name, version: "\(resolved.name)/\(resolved.version)", format: format,
                             path: resolved.artifactPath.path, sha256: resolved.sha256)
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
