import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A registered model: a name under which numbered versions are kept.
public struct RegisteredModel: Sendable, Hashable, Codable {
    public var name: String
    public var description: String
    public var tags: [String: String]
    /// Aliases only `apply` may move (the reviewed path); commands and the HTTP API refuse.
    public var protectedAliases: [String]
    /// Alias name → version number.
    public var aliases: [String: Int]
    /// The highest version number ever assigned (0 before the first); numbers are never reused.
    public var lastVersion: Int
    public var createdAt: Date
    public var updatedAt: Date
}

/// Where a version came from: the training run that produced it.
public struct Lineage: Sendable, Hashable, Codable {
    public var runID: String?
    public var dataset: String?
    public var commit: String?

    public init(runID: String? = nil, dataset: String? = nil, commit: String? = nil) {
        self.runID = runID
        self.dataset = dataset
        self.commit = commit
    }
}

/// The MLflow-style stage of a version, kept for teams that still use stages instead of aliases.
public enum Stage: String, Sendable, Hashable, Codable, CaseIterable {
    case none = "None"
    case staging = "Staging"
    case production = "Production"
    case archived = "Archived"

    /// Parses a stage name case-insensitively (`production`, `Production`, `PRODUCTION`).
    public init?(parsing text: String) {
        guard let stage = Stage.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) else {
            return nil
        }
        self = stage
    }
}

/// One numbered version of a model, with its content-addressed artifact.
public struct ModelVersion: Sendable, Hashable, Codable {
    public var model: String
    public var version: Int
    /// Where the artifact was registered from (a path or URI), for the record.
    public var source: String
    /// The hex sha256 of the artifact's bytes: the key in the artifact store.
    public var sha256: String
    public var size: Int64
    /// e.g. `xgboost-json`, `linear-json`, `onnx`, `file`.
    public var format: String
    public var description: String
    public var tags: [String: String]
    public var lineage: Lineage
    /// Registration is one transaction after the artifact is stored, so a visible version is always `READY`.
    public var status: String
    public var stage: Stage
    public var aliases: [String]
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date
    /// A file, or a directory (an MLflow model folder) whose `sha256` is that of its manifest.
    public var kind: ArtifactKind = .file
}

/// What a version's artifact is.
public enum ArtifactKind: String, Sendable, Hashable, Codable {
    /// One file: `sha256` is of its bytes.
    case file
    /// A directory of files: `sha256` is of its manifest, a sorted list of every file's path,
    /// sha256, size and mode (`DirectoryArtifact`); `size` is the files' total.
    case directory
}

/// A version found through `models:/…`, whose artifact was checked against its sha256.
public struct ResolvedModelVersion: Sendable, Hashable {
    public var name: String
    public var version: Int
    public var format: String
    public var sha256: String
    public var size: Int64
    /// The artifact in the content-addressed store; its bytes matched `sha256` when resolved.
    public var artifactPath: URL
    /// The alias or stage the URI named, if any.
    public var via: String?
    public var tags: [String: String]
    /// For a directory, `artifactPath` is its manifest and every file was checked; export it to read them.
    public var kind: ArtifactKind = .file
}

/// Who makes a change and through which path; recorded in the audit log.
public struct ChangeContext: Sendable, Hashable, Codable {
    public enum Origin: String, Sendable, Hashable, Codable {
        /// `mlinfra apply`: the reviewed path, the only one that may move protected aliases.
        case apply
        /// An imperative `mlinfra models …` command.
        case command
        /// The HTTP API (native or MLflow-compatible).
        case api
    }

    public var actor: String
    public var origin: Origin
    public var planID: String?
    public var reason: String?

    public init(actor: String, origin: Origin, planID: String? = nil, reason: String? = nil) {
        self.actor = actor
        self.origin = origin
        self.planID = planID
        self.reason = reason
    }

    /// A change made by the current OS user through a command.
    public static func command(reason: String? = nil) -> ChangeContext {
        ChangeContext(actor: currentActor(), origin: .command, reason: reason)
    }

    /// `user@host` of this process.
    public static func currentActor() -> String {
        let env = ProcessInfo.processInfo.environment
        let user = env["USER"] ?? env["LOGNAME"] ?? getpwuid(geteuid()).map { String(cString: $0.pointee.pw_name) } ?? "unknown"
        return "\(user)@\(ProcessInfo.processInfo.hostName)"
    }
}

/// One line of the append-only audit log.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var id: Int64
    public var time: Date
    public var actor: String
    public var origin: ChangeContext.Origin
    /// `model.create`, `version.create`, `alias.set`, `stage.transition`, …
    public var action: String
    public var model: String
    /// What inside the model changed: `@production`, `/3`, or empty for the model itself.
    public var subject: String
    /// JSON of the changed object before and after; nil when it did not exist.
    public var before: String?
    public var after: String?
    /// One human line, e.g. `alias production: 1 → 2`.
    public var summary: String
    public var reason: String?
    public var planID: String?
}

/// What to register as a new version.
public struct RegistrationRequest: Sendable, Hashable {
    public var model: String
    /// A local file, or a directory (every regular file in it); the bytes are hashed and copied into the store.
    public var artifact: URL
    public var format: String
    public var description: String
    public var tags: [String: String]
    public var lineage: Lineage
    /// Recorded as the version's source; defaults to the artifact's path.
    public var source: String?
    /// Create the model when it does not exist (the CLI does; the MLflow API does not).
    public var createModelIfMissing: Bool
    /// Makes the registration idempotent: when a version of the model already carries this key
    /// with the same content, it is returned instead of a new one (a create retried after a
    /// crash); the same key with other content is refused.
    public var creationKey: String?

    public init(
        model: String, artifact: URL, format: String = "file", description: String = "",
        tags: [String: String] = [:], lineage: Lineage = Lineage(), source: String? = nil,
        createModelIfMissing: Bool = true, creationKey: String? = nil
    ) {
        self.creationKey = creationKey
        self.model = model
        self.artifact = artifact
        self.format = format
        self.description = description
        self.tags = tags
        self.lineage = lineage
        self.source = source
        self.createModelIfMissing = createModelIfMissing
    }
}
