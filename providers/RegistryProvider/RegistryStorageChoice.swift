import EnginePostgres
import Foundation
import MLInfraCore
import ModelRegistry

/// Where the `registry` resource says its records and artifacts live:
///
/// ```yaml
/// registry.main:
///   storage: { postgres: { url: "${var.registry_db}", schema: mlinfra_registry } }   # default: sqlite
///   artifacts: { postgres: {} }                                                   # or { path: /mnt/models }
/// ```
///
/// The URL is sensitive: no diagnostic quotes it, and its password never reaches output.
enum RegistryStorageChoice {
    /// The location `config` (a registry resource's) chooses, with its local part in `directory`;
    /// nil with diagnostics when it is wrong, nil without when a value is not known yet.
    static func location(
        _ config: [String: Value], directory: URL, workingDirectory: URL
    ) -> (RegistryLocation?, [AttributeDiagnostic]) {
        var problems: [AttributeDiagnostic] = []
        func problem(_ attribute: String, _ summary: String, _ detail: String) {
            problems.append(AttributeDiagnostic(attribute: attribute, .error(summary, detail: detail)))
        }
        var location = RegistryLocation(directory: directory)
        var unknown = false
        /// The one `KIND: SETTINGS` entry of `config[key]`; nil when it is absent, not known yet, or malformed (reported).
        func choice(_ key: String, of kinds: String, example: String) -> (kind: String, settings: Value)? {
            guard let value = config[key], !value.isNull else { return nil }
            if value.isUnknown {
                unknown = true
                return nil
            }
            guard let map = value.mapValue, map.count == 1, let entry = map.first else {
                problem(key, "`\(key)` must hold exactly one of \(kinds)", example)
                return nil
            }
            return (entry.key, entry.value)
        }

        if let (kind, settings) = choice("storage", of: "`sqlite` or `postgres`", example: "e.g. storage: { postgres: { url: \"${var.registry_db}\" } }") {
            switch kind {
            case "sqlite": break
            case "postgres":
                let url = settings["url"]
                if url?.isUnknown == true || settings["schema"]?.isUnknown == true {
                    unknown = true
                    break
                }
                guard let text = url?.stringValue, !text.isEmpty else {
                    problem(
                        "storage.postgres.url", "`storage.postgres.url` must be a postgres:// URL",
                        "Give it through a sensitive variable: url: \"${var.registry_db}\", set with MLINFRA_VAR_registry_db.")
                    break
                }
                let schema = settings["schema"]?.stringValue ?? RegistryLocation.defaultSchema
                guard PostgresMigrations.isPlainIdentifier(schema) else {
                    problem(
                        "storage.postgres.schema", "the schema name `\(schema)` is not a plain SQL identifier",
                        "Use lower-case letters, digits and `_`, starting with a letter (at most 63 characters), e.g. mlinfra_registry.")
                    break
                }
                switch settings["synchronous_commit"] {
                case nil, .null?: break
                case .bool(let waits)?: location.waitsForDisk = waits
                case let other?:
                    if other.isUnknown { unknown = true } else {
                        problem("storage.postgres.synchronous_commit", "`synchronous_commit` must be true or false", "Leave it out to wait for the disk on every change (the default).")
                    }
                }
                do {
                    location.records = .postgres(try PostgresURL(parsing: text), schema: schema)
                } catch {
                    problem(
                        "storage.postgres.url", "the registry's PostgreSQL URL \(error.what) (the URL itself is not shown, as it may hold a password)",
                        "Give a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE, through a sensitive variable.")
                }
            default:
                problem("storage.\(kind)", "the registry storage `\(kind)` is not known", "Use `sqlite` (the default) or `postgres: { url: … }`.")
            }
        }

        // Left out: files beside SQLite records, chunks in the database beside PostgreSQL ones.
        if let (kind, setting) = choice("artifacts", of: "`path` or `postgres`", example: "e.g. artifacts: { postgres: {} } or artifacts: { path: /mnt/models }") {
            switch kind {
            case "path":
                guard let path = setting.stringValue, !path.isEmpty else {
                    if !setting.isUnknown { problem("artifacts.path", "`artifacts.path` must be a directory path", "e.g. artifacts: { path: /mnt/shared/models }") }
                    break
                }
                location.artifactDirectory = path.hasPrefix("/")
                    ? URL(fileURLWithPath: path).standardizedFileURL : workingDirectory.appendingPathComponent(path).standardizedFileURL
            case "postgres":
                if case .sqlite = location.records, problems.isEmpty, !unknown {
                    problem(
                        "artifacts.postgres", "artifacts in PostgreSQL need the registry's storage in PostgreSQL",
                        "Add storage: { postgres: { url: … } }, or keep the artifacts in files (artifacts: { path: … }).")
                }
            default:
                problem("artifacts.\(kind)", "the artifact store `\(kind)` is not known", "Use `path: DIRECTORY` or `postgres: {}`.")
            }
        }
        if !problems.isEmpty || unknown { return (nil, problems) }
        return (location, [])
    }

    /// The location the spec's `registry` resource chooses, for the engine commands that have no
    /// apply to tell them: variables come from `MLINFRA_VAR_*`. SQLite in `directory` when the
    /// spec has no registry resource or cannot be read (the commands then say what they find).
    static func location(specPath: String?, directory: URL, environment: [String: String]) throws -> RegistryLocation {
        guard let found = EngineDataDirectory.settings(ofResource: "registry", keys: ["storage", "artifacts"], specPath: specPath, environment: environment)
        else { return RegistryLocation(directory: directory) }
        let (location, problems) = location(found.config, directory: directory, workingDirectory: found.root)
        if let location, !found.incomplete { return location }
        let said = problems.map { "  \($0.attribute ?? "storage"): \($0.diagnostic.summary)" }
        throw RegistryError(
            .invalidArgument,
            "cannot tell where \(found.address) keeps the registry"
                + (said.isEmpty ? ": its storage uses a value that is not set" : ":\n" + said.joined(separator: "\n")),
            remedy: "Set the variables it uses (MLINFRA_VAR_NAME=…), or fix the spec.")
    }
}
