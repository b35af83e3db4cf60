import Foundation

/// A state of a registry object as the audit log records it: JSON with sorted snake_case keys.
protocol AuditSnapshot: Encodable {
    var auditJSON: String { get }
}

/// What the audit log records of a model before and after a change.
struct ModelSnapshot: AuditSnapshot, Equatable {
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
struct VersionSnapshot: AuditSnapshot, Equatable {
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

struct AliasSnapshot: AuditSnapshot, Equatable {
    var version: Int
    var auditJSON: String { JSONWriter.fields([("version", .int(Int64(version)))]) }
}

struct StageSnapshot: AuditSnapshot, Equatable {
    var stage: String
    var auditJSON: String { JSONWriter.fields([("stage", .string(stage))]) }
}

extension ModelSnapshot {
    var auditJSON: String {
        JSONWriter.fields([
            ("description", .string(description)), ("protected_aliases", .raw(JSONWriter.array(protectedAliases))),
            ("tags", .raw(JSONWriter.object(tags))),
        ])
    }
}

extension VersionSnapshot {
    var auditJSON: String {
        JSONWriter.fields([
            ("commit", commit.map { .string($0) }), ("dataset", dataset.map { .string($0) }),
            ("description", .string(description)), ("format", .string(format)), ("run_id", runId.map { .string($0) }),
            ("sha256", .string(sha256)), ("size", .int(size)), ("source", .string(source)), ("stage", .string(stage)),
            ("tags", .raw(JSONWriter.object(tags))), ("version", .int(Int64(version))),
        ])
    }
}
