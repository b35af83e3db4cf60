import Foundation
import GRDB

/// The registry's tables, created and upgraded by named migrations.
enum RegistrySchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.create(table: "model") { t in
                t.primaryKey("name", .text)
                t.column("description", .text).notNull().defaults(to: "")
                t.column("tags", .text).notNull().defaults(to: "{}")
                t.column("protected_aliases", .text).notNull().defaults(to: "[]")
                t.column("last_version", .integer).notNull().defaults(to: 0)
                t.column("created_at", .double).notNull()
                t.column("updated_at", .double).notNull()
            }
            try db.create(table: "version") { t in
                t.column("model", .text).notNull().references("model", onDelete: .cascade)
                t.column("version", .integer).notNull()
                t.column("source", .text).notNull()
                t.column("sha256", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("format", .text).notNull()
                t.column("description", .text).notNull().defaults(to: "")
                t.column("tags", .text).notNull().defaults(to: "{}")
                t.column("run_id", .text)
                t.column("dataset", .text)
                t.column("git_commit", .text)
                t.column("status", .text).notNull()
                t.column("stage", .text).notNull()
                t.column("created_by", .text).notNull()
                t.column("created_at", .double).notNull()
                t.column("updated_at", .double).notNull()
                t.primaryKey(["model", "version"])
            }
            try db.create(index: "version_sha256", on: "version", columns: ["model", "sha256"])
            try db.create(table: "alias") { t in
                t.column("model", .text).notNull().references("model", onDelete: .cascade)
                t.column("alias", .text).notNull()
                t.column("version", .integer).notNull()
                t.column("updated_at", .double).notNull()
                t.primaryKey(["model", "alias"])
                t.foreignKey(["model", "version"], references: "version", columns: ["model", "version"])
            }
            try db.create(table: "audit") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("time", .double).notNull()
                t.column("actor", .text).notNull()
                t.column("origin", .text).notNull()
                t.column("action", .text).notNull()
                t.column("model", .text).notNull()
                t.column("subject", .text).notNull()
                t.column("before", .text)
                t.column("after", .text)
                t.column("summary", .text).notNull()
                t.column("reason", .text)
                t.column("plan_id", .text)
            }
            try db.create(index: "audit_model", on: "audit", columns: ["model", "id"])
            // The audit log is append-only: the database itself refuses edits and deletions.
            try db.execute(
                sql: """
                    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
                    """)
        }
        // The key of the `mlinfra apply` create that registered a version, so a create retried
        // after a crash finds the version instead of registering it again.
        migrator.registerMigration("v2-creation-key") { db in
            try db.alter(table: "version") { t in t.add(column: "creation_key", .text) }
            try db.alter(table: "model") { t in t.add(column: "creation_key", .text) }
            try db.execute(sql: "CREATE UNIQUE INDEX version_creation_key ON version(model, creation_key) WHERE creation_key IS NOT NULL")
        }
        // A version's artifact may be a directory (an MLflow model folder): its sha256 is then that of its manifest.
        migrator.registerMigration("v3-directory-versions") { db in
            try db.alter(table: "version") { t in t.add(column: "kind", .text).notNull().defaults(to: "file") }
        }
        // MLflow tracking: experiments (with MLflow's Default, id 0), runs with their params and
        // tags, metric history, logged models, and the path index of tracked artifacts.
        migrator.registerMigration("v4-tracking") { db in
            try db.create(table: "experiment") { t in
                t.primaryKey("id", .integer)
                t.column("name", .text).notNull().unique()
                t.column("artifact_location", .text).notNull()
                t.column("lifecycle_stage", .text).notNull()
                t.column("tags", .text).notNull().defaults(to: "{}")
                t.column("created_at", .integer).notNull()
                t.column("updated_at", .integer).notNull()
            }
            try db.execute(
                sql: "INSERT INTO experiment (id, name, artifact_location, lifecycle_stage, tags, created_at, updated_at) VALUES (0, 'Default', ?, 'active', '{}', ?, ?)",
                arguments: [TrackingDefaults.defaultExperimentLocation, Int64(Date().timeIntervalSince1970 * 1000), Int64(Date().timeIntervalSince1970 * 1000)])
            try db.create(table: "run") { t in
                t.primaryKey("id", .text)
                t.column("experiment_id", .integer).notNull().references("experiment")
                t.column("name", .text).notNull()
                t.column("user_id", .text).notNull()
                t.column("status", .text).notNull()
                t.column("start_time", .integer).notNull()
                t.column("end_time", .integer)
                t.column("lifecycle_stage", .text).notNull()
                t.column("artifact_uri", .text).notNull()
                t.column("params", .text).notNull().defaults(to: "{}")
                t.column("tags", .text).notNull().defaults(to: "{}")
                t.column("outputs", .text).notNull().defaults(to: "[]")
            }
            try db.create(index: "run_experiment", on: "run", columns: ["experiment_id", "start_time"])
            try db.create(table: "metric") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("run_id", .text).notNull().references("run", onDelete: .cascade)
                t.column("key", .text).notNull()
                t.column("value", .double).notNull()
                t.column("timestamp", .integer).notNull()
                t.column("step", .integer).notNull()
            }
            try db.create(index: "metric_run_key", on: "metric", columns: ["run_id", "key", "id"])
            try db.create(table: "logged_model") { t in
                t.primaryKey("id", .text)
                t.column("experiment_id", .integer).notNull().references("experiment")
                t.column("name", .text).notNull()
                t.column("source_run_id", .text)
                t.column("status", .text).notNull()
                t.column("model_type", .text).notNull()
                t.column("artifact_location", .text).notNull()
                t.column("params", .text).notNull().defaults(to: "{}")
                t.column("tags", .text).notNull().defaults(to: "{}")
                t.column("created_at", .integer).notNull()
                t.column("updated_at", .integer).notNull()
            }
            try db.create(table: "tracked_artifact") { t in
                t.primaryKey("path", .text)
                t.column("sha256", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("created_at", .integer).notNull()
            }
        }
        return migrator
    }
}

/// A record whose Swift properties are camelCase and whose columns are snake_case
/// (`createdAt` ↔ `created_at`), as every table of the registry's SQLite file is.
protocol SnakeCaseRecord: FetchableRecord, PersistableRecord {}

extension SnakeCaseRecord {
    static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}

struct ModelRecord: Codable, SnakeCaseRecord {
    static let databaseTableName = "model"

    var name: String
    var description: String
    var tags: [String: String]
    var protectedAliases: [String]
    var lastVersion: Int
    var createdAt: Double
    var updatedAt: Double
    var creationKey: String? = nil
}

struct VersionRecord: Codable, Equatable, SnakeCaseRecord {
    static let databaseTableName = "version"

    var model: String
    var version: Int
    var source: String
    var sha256: String
    var size: Int64
    var format: String
    var description: String
    var tags: [String: String]
    var runId: String?
    var dataset: String?
    var gitCommit: String?
    var status: String
    var stage: String
    var createdBy: String
    var createdAt: Double
    var updatedAt: Double
    var creationKey: String? = nil
    /// `file`, or `directory` when `sha256` names a manifest (`DirectoryArtifact`).
    var kind: String = ArtifactKind.file.rawValue
}

struct AliasRecord: Codable, SnakeCaseRecord {
    static let databaseTableName = "alias"

    var model: String
    var alias: String
    var version: Int
    var updatedAt: Double
}

struct AuditRecord: Codable, Equatable, SnakeCaseRecord {
    static let databaseTableName = "audit"

    var id: Int64?
    var time: Double
    var actor: String
    var origin: String
    var action: String
    var model: String
    var subject: String
    var before: String?
    var after: String?
    var summary: String
    var reason: String?
    var planId: String?
}
