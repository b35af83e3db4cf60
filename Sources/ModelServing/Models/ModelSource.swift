import Crypto
import Foundation

/// A model version resolved to an artifact on disk.
public struct ResolvedModel: Sendable, Codable, Hashable {
    /// The model's name (`fraud`).
    public var name: String
    /// The version's id as the registry names it (`fraud/3`), or `file:<sha256 prefix>` for a plain file.
    public var version: String
    public var format: ModelFormat
    /// The artifact file.
    public var path: String
    /// The artifact's expected sha256 (hex); the replica refuses an artifact that does not match.
    public var sha256: String

    public init(name: String, version: String, format: ModelFormat, path: String, sha256: String) {
        self.name = name
        self.version = version
        self.format = format
        self.path = path
        self.sha256 = sha256
    }
}

/// Resolves a model reference (`NAME@alias`, `NAME/3`, `models:/NAME@alias`, `file:PATH`) to an artifact.
///
/// `apply` resolves an endpoint's references and pins what they named in the desired document
/// (`ModelPin`); the agent then serves the pinned versions (`resolve(_:pinned:)`). A document
/// without pins has its references resolved on each reconcile instead.
public protocol ModelSource: Sendable {
    func resolve(_ reference: String) throws -> ResolvedModel
}

extension ModelSource {
    /// What a host serves for `reference`: the version `pinned` names, whose artifact must still
    /// have the pinned sha256; without a pin, what `reference` names now.
    public func resolve(_ reference: String, pinned: ModelPin?) throws -> ResolvedModel {
        guard let pinned else { return try resolve(reference) }
        // A plain file has no versions: its pin is the content it had.
        let resolved = try resolve(reference.hasPrefix("file:") ? reference : pinned.version)
        guard resolved.sha256 == pinned.sha256 else {
            throw ModelResolutionError(
                reference: reference,
                message: "\(resolved.version)'s artifact has sha256 \(resolved.sha256.prefix(12))…, not the \(pinned.sha256.prefix(12))… apply pinned",
                remedy: "find out why the artifact changed; apply again to serve what is there now")
        }
        return resolved
    }
}

/// A model reference that cannot be resolved, with the reason and the fix.
public struct ModelResolutionError: Error, Sendable, CustomStringConvertible, Equatable {
    public var reference: String
    public var message: String
    public var remedy: String
    public init(reference: String, message: String, remedy: String) {
        self.reference = reference
        self.message = message
        self.remedy = remedy
    }
    public var description: String { "cannot resolve model \"\(reference)\": \(message); \(remedy)" }
}

/// Resolves `file:PATH` references (an artifact outside any registry), guessing the format from the content.
public struct FileModelSource: ModelSource {
    public init() {}

    public func resolve(_ reference: String) throws -> ResolvedModel {
        guard reference.hasPrefix("file:") else {
            throw ModelResolutionError(reference: reference, message: "not a file: reference",
                                       remedy: "write file:/path/to/model.json, or register the model in the registry")
        }
        let path = String(reference.dropFirst("file:".count))
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelResolutionError(reference: reference, message: "no readable file at \(path)", remedy: "check the path")
        }
        let digest = SHA256Digest.hex(data)
        let format: ModelFormat
        if data.range(of: Data("\"learner\"".utf8)) != nil {
            format = .xgboostJSON
        } else if data.first == UInt8(ascii: "{"), data.range(of: Data("learner".utf8)) != nil {
            // UBJSON: an object whose keys are length-prefixed bytes, not quoted.
            format = .xgboostUBJ
        } else if data.range(of: Data("\"weights\"".utf8)) != nil {
            format = .linearJSON
        } else {
            throw ModelResolutionError(reference: reference, message: "the file is neither an XGBoost JSON or UBJSON model nor a linear-json model",
                                       remedy: "serve one of: \(ModelFormat.supportedList)")
        }
        let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return ResolvedModel(name: name, version: "file:" + digest.prefix(12), format: format, path: path, sha256: digest)
    }
}

/// Tries each source in turn: `file:` references go to the file source, the rest to the others.
public struct ChainedModelSource: ModelSource {
    public var sources: [any ModelSource]
    public init(_ sources: [any ModelSource]) { self.sources = sources }

    public func resolve(_ reference: String) throws -> ResolvedModel {
        if reference.hasPrefix("file:") { return try FileModelSource().resolve(reference) }
        var last: (any Error)?
        for source in sources {
            do { return try source.resolve(reference) } catch { last = error }
        }
        throw last ?? ModelResolutionError(reference: reference, message: "no model registry is configured",
                                           remedy: "create a registry resource and register the model, or use file:PATH")
    }
}

enum SHA256Digest {
    static func hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}

/// Reads an artifact, checks its sha256 and loads it.
public func loadVerifiedModel(_ model: ResolvedModel) throws -> any ModelRuntime {
    guard let data = FileManager.default.contents(atPath: model.path) else {
        throw ModelLoadError(source: model.path, message: "the artifact of \(model.version) is missing",
                             remedy: "re-register the model version, or restore the file")
    }
    let digest = SHA256Digest.hex(data)
    guard digest == model.sha256.lowercased() else {
        throw ModelLoadError(source: model.path, message: "sha256 \(digest) does not match \(model.version)'s recorded \(model.sha256)",
                             remedy: "the artifact was changed after registration; register it as a new version")
    }
    return try model.format.load(data, source: model.path)
}
