import Foundation
import MLInfraCore
import MLInfraPostgresState
import VectorIndex

/// Where a `vector_store` keeps its collections.
enum StoreKind: String, CaseIterable {
    /// Files under `<data_dir>/vectors/<name>/`.
    case local
    /// A schema of tables in PostgreSQL with pgvector.
    case pgvector
}

/// A store's id as state and collection ids hold it: `NAME` for a local store, `pgvector:NAME`
/// for a pgvector one (store names cannot hold `:`, so the two never meet).
struct StoreID {
    static let prefix = "pgvector:"
    let text: String

    init(_ text: String) { self.text = text }

    static func pgvector(_ name: String) -> String { prefix + name }

    var isPgvector: Bool { text.hasPrefix(Self.prefix) }
    /// The store name: the directory or the schema.
    var name: String { isPgvector ? String(text.dropFirst(Self.prefix.count)) : text }
}

/// A pgvector store's URL: the text as the spec gave it (sensitive) and what it says.
struct StoreURL: Sendable {
    let text: String
    let parsed: PostgresBackendURL

    /// The store in `schema` of this database; TLS problems come back as the engine's errors.
    func open(schema: String) throws -> PgVectorStore {
        do {
            return try PgVectorStore(configuration: try parsed.configuration(), schema: schema, location: parsed.description, scrub: parsed.scrub)
        } catch let error as StateError {
            throw VectorError(.storage, field: "url", error.description)
        }
    }
}

/// A `vector_store`'s config, read with every problem named by attribute.
struct StoreSpec {
    enum Location {
        case local
        case pgvector(StoreURL)
        /// A pgvector store whose url is not known yet (a reference, at validate time).
        case unknownURL
    }

    var name: String
    var kind: StoreKind
    var location: Location

    /// The spec, or nil with the errors when the config cannot describe a store.
    static func read(_ config: [String: Value], address: String) -> (StoreSpec?, [AttributeDiagnostic]) {
        var problems: [AttributeDiagnostic] = []
        func bad(_ attribute: String, _ summary: String, _ detail: String) {
            problems.append(AttributeDiagnostic(attribute: attribute, .error(summary, detail: detail)))
        }
        let name = VectorProvider.objectName(config, address: address)
        if let value = config["name"], !value.isUnknown, let text = value.stringValue, !VectorProvider.validName(text) {
            bad("name", "invalid store name \(Value.string(text).rendered)", "Use 1-128 letters, digits, '_', '-' or '.'.")
        }
        var kind = StoreKind.local
        if let value = config["kind"], !value.isUnknown {
            if let found = value.stringValue.flatMap(StoreKind.init(rawValue:)) {
                kind = found
            } else {
                bad("kind", "unknown vector store kind \(value.rendered)", "Use local (files under data_dir) or pgvector (tables in PostgreSQL, with url).")
            }
        }
        var location = Location.local
        switch (kind, config["url"]) {
        case (.local, nil): break
        case (.local, _?):
            bad("url", "url is for pgvector stores", "Remove url, or set kind: pgvector to keep the collections in PostgreSQL.")
        case (.pgvector, nil):
            bad("url", "a pgvector store needs url", "Give url: ${var.pg_url}, a sensitive variable holding postgres://USER:PASSWORD@HOST:PORT/DATABASE.")
        case (.pgvector, let value?) where value.isUnknown:
            location = .unknownURL
        case (.pgvector, let value?):
            if let text = value.stringValue {
                do {
                    location = .pgvector(StoreURL(text: text, parsed: try PostgresBackendURL(parsing: text, field: "url")))
                } catch let error as StateError {
                    bad("url", error.message, error.remedy)
                } catch {
                    bad("url", "the url could not be read (it is not shown, as it may hold a password)", "Give a postgres:// URL.")
                }
            } else {
                bad("url", "url must be a string", "Give url: ${var.pg_url}.")
            }
            if name.utf8.count > 63 {
                bad("name", "a pgvector store's name is its schema, at most 63 bytes; \(Value.string(name).rendered) is longer", "Give the store a shorter name.")
            }
        }
        return (problems.isEmpty ? StoreSpec(name: name, kind: kind, location: location) : nil, problems)
    }
}
