import EnginePostgres
import Foundation
import MLInfraCore
import ModelServing
import Synchronization

/// Where an `endpoint` (or `load_balancer`) says the control store is, spelled as the
/// registry's `storage`:
///
/// ```yaml
/// endpoint.fraud:
///   control: { postgres: { url: "${var.control_db}", schema: mlinfra_control } }   # default: sqlite
///   hosts: { count: 2 }                                                              # or { names: [a, b] }
/// ```
///
/// With `sqlite` (the default) the agent of the data directory serves it, started by apply when
/// none runs. With `postgres`, agents on the serving hosts (`mlinfra agent --control URL --host
/// NAME`) serve it and apply starts nothing. The URL is sensitive: no diagnostic quotes it.
enum ControlChoice: Hashable, Sendable {
    case sqlite
    case postgres(PostgresURL, schema: String)

    static let schema = AttributeSchema(
        .object([
            "sqlite": AttributeSchema(.object([:]), description: "control.sqlite under <data_dir>/serving, served by the agent of the data directory (the default)."),
            "postgres": AttributeSchema(
                .object([
                    "url": AttributeSchema(
                        .string, required: true, sensitive: true,
                        description: "postgres://USER:PASSWORD@HOST:PORT/DATABASE[?sslmode=…]; give it through a sensitive variable."),
                    "schema": AttributeSchema(.string, description: "The schema of the control tables; default mlinfra_control."),
                ]),
                description: "A PostgreSQL schema the agents of the serving hosts read; apply starts no process."),
        ]),
        description: "Where the desired configuration goes: { sqlite: {} } (default) or { postgres: { url: … } }.")

    /// The choice `config` makes; nil with diagnostics when it is wrong, nil without when a value is not known yet.
    static func parse(_ config: [String: Value], attribute: String = "control") -> (ControlChoice?, [AttributeDiagnostic]) {
        func problem(_ path: String, _ summary: String, _ detail: String) -> (ControlChoice?, [AttributeDiagnostic]) {
            (nil, [AttributeDiagnostic(attribute: path, .error(summary, detail: detail))])
        }
        guard let value = config[attribute], !value.isNull else { return (.sqlite, []) }
        if value.isUnknown { return (nil, []) }
        guard let map = value.mapValue, map.count == 1, let (kind, settings) = map.first else {
            return problem(attribute, "`\(attribute)` must hold exactly one of `sqlite` or `postgres`", "e.g. \(attribute): { postgres: { url: \"${var.control_db}\" } }")
        }
        switch kind {
        case "sqlite":
            return (.sqlite, [])
        case "postgres":
            if settings["url"]?.isUnknown == true || settings["schema"]?.isUnknown == true { return (nil, []) }
            guard let text = settings["url"]?.stringValue, !text.isEmpty else {
                return problem("\(attribute).postgres.url", "`\(attribute).postgres.url` must be a postgres:// URL",
                               "Give it through a sensitive variable: url: \"${var.control_db}\", set with MLINFRA_VAR_control_db.")
            }
            let schema = settings["schema"]?.stringValue ?? PostgresControlStore.defaultSchema
            guard PostgresMigrations.isPlainIdentifier(schema) else {
                return problem("\(attribute).postgres.schema", "the schema name `\(schema)` is not a plain SQL identifier",
                               "Use lower-case letters, digits and `_`, starting with a letter (at most 63 characters), e.g. mlinfra_control.")
            }
            do {
                return (.postgres(try PostgresURL(parsing: text), schema: schema), [])
            } catch {
                return problem("\(attribute).postgres.url", "the control store's PostgreSQL URL \(error.what) (the URL itself is not shown, as it may hold a password)",
                               "Give a URL of the form postgres://USER:PASSWORD@HOST:PORT/DATABASE, through a sensitive variable.")
            }
        default:
            return problem("\(attribute).\(kind)", "the control store `\(kind)` is not known", "Use `sqlite` (the default) or `postgres: { url: … }`.")
        }
    }

    var isShared: Bool { if case .postgres = self { true } else { false } }
}

/// The PostgreSQL control stores a provider has opened: opening one migrates its schema and
/// starts connections, which the provider's calls then share. (A SQLite one is a file, opened per call.)
final class ControlStores: Sendable {
    private let opened = Mutex<[ControlChoice: PostgresControlStore]>([:])

    func store(_ choice: ControlChoice, servingDirectory: URL) throws -> any ControlStore {
        guard case .postgres(let url, let schema) = choice else { return try SQLiteControlStore(directory: servingDirectory) }
        return try opened.withLock { opened in
            if let store = opened[choice] { return store }
            let store = try PostgresControlStore(url: url, schema: schema)
            opened[choice] = store
            return store
        }
    }
}
