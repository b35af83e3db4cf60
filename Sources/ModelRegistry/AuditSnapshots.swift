import Foundation

/// What the audit log records of a model before and after a change.
struct ModelSnapshot: Encodable, Equatable {
    var description: String
    var tags: [String: String]
    var protectedAliases: [String]

    init(_ record: ModelRecord) {
        description = record.description
        tags = record.tags
        protectedAliases = record.protectedAliases
    }

    func changes(to after: ModelSnapshot) -> String {
        var parts: [String] = []
        if description != after.description { parts.append("description") }
        if tags != after.tags { parts.append("tags") }
        if protectedAliases != after.protectedAliases {
            parts.append("protected aliases [\(after.protectedAliases.joined(separator: ", "))]")
        }
        return parts.joined(separator: ", ")
    }
}

/// What the audit log records of a version before and after a change.
struct VersionSnapshot: Encodable, Equatable {
    var version: Int
    var sha256: String
    var size: Int64
    var format: String
    var source: String
    var description: String
    var tags: [String: String]
    var stage: String
    var runId: String?
    var dataset: String?
    var commit: String?

    init(_ record: VersionRecord) {
        version = record.version
        sha256 = record.sha256
        size = record.size
        format = record.format
        source = record.source
        description = record.description
        tags = record.tags
        stage = record.stage
        runId = record.runId
        dataset = record.dataset
        commit = record.gitCommit
    }

    func changes(to after: VersionSnapshot) -> String {
        var parts: [String] = []
        if description != after.description { parts.append("description") }
        if tags != after.tags { parts.append("tags") }
        if runId != after.runId || dataset != after.dataset || commit != after.commit { parts.append("lineage") }
        return parts.joined(separator: ", ")
    }
}

struct AliasSnapshot: Encodable, Equatable {
    var version: Int
}

struct StageSnapshot: Encodable, Equatable {
    var stage: String
}
