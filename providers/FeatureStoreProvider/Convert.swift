import EnginePostgres
import FeatureStore
import Foundation
import MLInfraCore

/// Conversions between resource attributes (`Value`s from the spec) and engine definitions.
enum Convert {
    /// A problem with one attribute, turned into a diagnostic by the caller.
    struct Problem: Error, CustomStringConvertible {
        var attribute: String?
        var summary: String
        var detail: String
        var description: String { detail.isEmpty ? summary : "\(summary): \(detail)" }
    }

    static func string(_ a: [String: Value], _ key: String) throws -> String {
        guard let s = a[key]?.stringValue, !s.isEmpty else {
            throw Problem(attribute: key, summary: "\(key) must be a non-empty string", detail: "")
        }
        return s
    }

    static func storeName(_ a: [String: Value]) throws -> (String, String) {
        (try string(a, "store"), try string(a, "name"))
    }

    /// `STORE/NAME` → (STORE, NAME).
    static func splitID(_ id: String) throws -> (String, String) {
        let parts = id.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw Problem(attribute: nil, summary: "'\(id)' is not an id of the form STORE/NAME", detail: "")
        }
        return (parts[0], parts[1])
    }

    /// An entity reference: the entity's id `STORE/NAME`, or a bare name.
    static func entityName(_ ref: String) -> String {
        ref.split(separator: "/").last.map(String.init) ?? ref
    }

    /// The online store a `feature_store`'s `online` block names (nil or null: SQLite).
    static func online(_ v: Value?, store: String) throws -> OnlineStoreSetting {
        guard let v, !v.isNull else { return .sqlite }
        let kind = v["kind"]?.stringValue ?? "sqlite"
        let url = v["url"].flatMap { $0.isNull ? nil : $0 }
        switch kind {
        case "sqlite":
            guard url == nil else {
                throw Problem(attribute: "online.url", summary: "online.url is for kind redis", detail: "Remove url, or set kind: redis.")
            }
            return .sqlite
        case "redis":
            guard let text = url?.stringValue, !text.isEmpty else {
                throw Problem(
                    attribute: "online.url", summary: "online kind redis needs a url",
                    detail: "Add url: redis://[:PASSWORD@]HOST[:PORT][/DB], for example from a sensitive variable: url: ${var.redis_url}.")
            }
            let parsed: RedisURL
            do { parsed = try RedisURL(parsing: text) } catch let e as FeatureStoreError {
                guard case .badRequest(_, let message) = e else { throw e }
                throw Problem(attribute: "online.url", summary: "online.url is not a Redis URL", detail: message)
            }
            let namespace = v["namespace"]?.stringValue ?? store
            guard !namespace.isEmpty else {
                throw Problem(attribute: "online.namespace", summary: "online.namespace must not be empty", detail: "Leave it out to use the store name.")
            }
            return .redis(parsed, namespace: namespace)
        default:
            throw Problem(attribute: "online.kind", summary: "online store kind \"\(kind)\" is not supported", detail: "Use { kind: sqlite } or { kind: redis, url: … }.")
        }
    }

    /// What is wrong with an `online` block, checked as far as its known values go.
    /// Where a `feature_store`'s `storage` block keeps definitions and the materialization log (nil or null: SQLite).
    static func storage(_ v: Value?) throws -> CatalogSetting {
        guard let v, !v.isNull else { return .sqlite }
        guard let map = v.mapValue, map.count == 1, let (kind, settings) = map.first else {
            throw Problem(
                attribute: "storage", summary: "storage must hold exactly one of `sqlite` or `postgres`",
                detail: "e.g. storage: { postgres: { url: \"${var.features_db}\" } }")
        }
        switch kind {
        case "sqlite": return .sqlite
        case "postgres":
            guard let url = settings["url"]?.stringValue, !url.isEmpty else {
                throw Problem(
                    attribute: "storage.postgres.url", summary: "storage.postgres.url must be a postgres:// URL",
                    detail: "Give it through a sensitive variable: url: \"${var.features_db}\", set with MLINFRA_VAR_features_db.")
            }
            do { _ = try PostgresURL(parsing: url) } catch {
                throw Problem(attribute: "storage.postgres.url", summary: "storage.postgres.url \(error)", detail: "Write postgres://USER:PASSWORD@HOST:PORT/DATABASE.")
            }
            let schema = settings["schema"]?.stringValue ?? CatalogSetting.defaultSchema
            guard PostgresMigrations.isPlainIdentifier(schema) else {
                throw Problem(
                    attribute: "storage.postgres.schema", summary: "the schema name `\(schema)` is not a plain SQL identifier",
                    detail: "Use lower-case letters, digits and `_`, starting with a letter (at most 63 characters), e.g. \(CatalogSetting.defaultSchema).")
            }
            return .postgres(url: url, schema: schema)
        default:
            throw Problem(attribute: "storage", summary: "storage kind `\(kind)` is not supported", detail: "Use { sqlite: {} } or { postgres: { url: … } }.")
        }
    }

    static func storageProblem(_ v: Value?) -> Problem? {
        guard let v, !v.containsUnknown else { return nil }
        do {
            _ = try storage(v)
            return nil
        } catch let problem as Problem {
            return problem
        } catch {
            return Problem(attribute: "storage", summary: "storage is not valid", detail: "\(error)")
        }
    }

    static func onlineProblem(_ v: Value?) -> Problem? {
        guard let v, !v.containsUnknown else { return nil }
        do {
            _ = try online(v, store: "validate")
            return nil
        } catch let problem as Problem {
            return problem
        } catch {
            return Problem(attribute: "online", summary: "online is not valid", detail: "\(error)")
        }
    }

    static func entity(_ a: [String: Value]) throws -> Entity {
        let keys = (a["join_keys"]?.listValue ?? []).compactMap(\.stringValue)
        guard !keys.isEmpty else {
            throw Problem(attribute: "join_keys", summary: "join_keys must be a non-empty list of column names", detail: "")
        }
        var type = ValueType.int64
        if let t = a["value_type"]?.stringValue {
            guard let parsed = ValueType(name: t) else {
                throw Problem(attribute: "value_type", summary: "unknown value type '\(t)'", detail: "Use int64, int32 or string.")
            }
            type = parsed
        }
        return Entity(name: try string(a, "name"), joinKeys: keys, valueType: type, description: a["description"]?.stringValue ?? "")
    }

    static func source(_ v: Value, workingDirectory: String) throws -> DataSource {
        guard let m = v.mapValue else {
            throw Problem(attribute: "source", summary: "source must be a map", detail: "For example: { csv: data/x.csv, timestamp: event_timestamp }")
        }
        let known: Set<String> = ["csv", "sqlite", "table", "timestamp", "created_timestamp"]
        for key in m.keys.sorted() where !known.contains(key) {
            throw Problem(attribute: "source.\(key)", summary: "unknown source setting '\(key)'", detail: "Known: \(known.sorted().joined(separator: ", ")).")
        }
        let timestamp = m["timestamp"]?.stringValue ?? "event_timestamp"
        let created = m["created_timestamp"]?.stringValue
        let source: DataSource
        switch (m["csv"]?.stringValue, m["sqlite"]?.stringValue) {
        case (let csv?, nil):
            source = .csv(csv, timestamp: timestamp, createdTimestamp: created)
        case (nil, let db?):
            guard let table = m["table"]?.stringValue, !table.isEmpty else {
                throw Problem(attribute: "source.table", summary: "a sqlite source needs a table", detail: "Add table: NAME.")
            }
            source = .sqlite(db, table: table, timestamp: timestamp, createdTimestamp: created)
        default:
            throw Problem(attribute: "source", summary: "source needs exactly one of csv or sqlite", detail: "For example: { csv: data/x.csv }")
        }
        return source.resolved(against: workingDirectory)
    }

    static func features(_ v: Value) throws -> [Feature] {
        guard let m = v.mapValue, !m.isEmpty else {
            throw Problem(attribute: "features", summary: "features must be a map of name → type", detail: "For example: { total_spend: float64 }")
        }
        return try m.keys.sorted().map { name in
            guard let t = m[name]?.stringValue, let type = ValueType(name: t) else {
                throw Problem(
                    attribute: "features.\(name)", summary: "feature '\(name)' has an unknown type \(m[name]!.rendered)",
                    detail: "Use int64, int32, float64, float32, string, bool or unix_timestamp.")
            }
            return Feature(name: name, type: type)
        }
    }

    static func ttl(_ v: Value?) throws -> Int64 {
        guard let v, !v.isNull else { return 0 }
        if let i = v.intValue { return Int64(i) }
        guard let s = v.stringValue, let seconds = DurationText.seconds(s), seconds >= 0 else {
            throw Problem(attribute: "ttl", summary: "ttl \(v.rendered) is not a duration", detail: "Write it with a unit: 90d, 48h, 30m.")
        }
        return Int64(seconds.rounded())
    }

    static func view(_ a: [String: Value], workingDirectory: String) throws -> FeatureView {
        let entities = (a["entities"]?.listValue ?? []).compactMap(\.stringValue).map(entityName)
        guard !entities.isEmpty else {
            throw Problem(attribute: "entities", summary: "entities must list at least one entity", detail: "For example: [${entity.customer}]")
        }
        return FeatureView(
            name: try string(a, "name"), entities: entities,
            source: try source(a["source"] ?? .null, workingDirectory: workingDirectory),
            features: try features(a["features"] ?? .null), ttlSeconds: try ttl(a["ttl"]),
            online: a["online"]?.boolValue ?? true, description: a["description"]?.stringValue ?? "")
    }

    static func references(_ v: Value) throws -> [FeatureReference] {
        guard let list = v.listValue, !list.isEmpty else {
            throw Problem(attribute: "features", summary: "features must be a non-empty list of VIEW:FEATURE", detail: "")
        }
        return try list.map { item in
            guard let s = item.stringValue, let ref = FeatureReference(parsing: s) else {
                throw Problem(attribute: "features", summary: "\(item.rendered) is not a VIEW:FEATURE reference", detail: "For example: customer_stats:total_spend")
            }
            return ref
        }
    }

    static func service(_ a: [String: Value]) throws -> FeatureService {
        FeatureService(name: try string(a, "name"), features: try references(a["features"] ?? .null), description: a["description"]?.stringValue ?? "")
    }

    /// Features whose type differs between prior and proposed: each needs a replace.
    static func featureTypeChanges(prior: Value?, proposed: Value?) -> [String] {
        guard let old = prior?.mapValue, let new = proposed?.mapValue else { return [] }
        return old.keys.sorted().compactMap { name in
            guard let a = old[name]?.stringValue, let b = new[name]?.stringValue else { return nil }
            return ValueType(name: a) == ValueType(name: b) ? nil : "features.\(name)"
        }
    }

    // MARK: Back to attributes

    static func attributes(_ e: Entity, store: String) -> [String: Value] {
        var a: [String: Value] = ["join_keys": .list(e.joinKeys.map { .string($0) }), "value_type": .string(e.valueType.rawValue)]
        if !e.description.isEmpty { a["description"] = .string(e.description) }
        return a
    }

    static func attributes(_ v: FeatureView, store: String, workingDirectory: String) -> [String: Value] {
        var source: [String: Value] = ["timestamp": .string(v.source.timestampField)]
        if let c = v.source.createdTimestampField { source["created_timestamp"] = .string(c) }
        let prefix = workingDirectory.hasSuffix("/") ? workingDirectory : workingDirectory + "/"
        func rel(_ p: String) -> String { p.hasPrefix(prefix) ? String(p.dropFirst(prefix.count)) : p }
        switch v.source.kind {
        case .csv(let path): source["csv"] = .string(rel(path))
        case .sqlite(let path, let table):
            source["sqlite"] = .string(rel(path))
            source["table"] = .string(table)
        }
        var a: [String: Value] = [
            "entities": .list(v.entities.map { .string("\(store)/\($0)") }),
            "source": .map(source),
            "features": .map(Dictionary(uniqueKeysWithValues: v.features.map { ($0.name, Value.string($0.type.rawValue)) })),
            "online": .bool(v.online),
        ]
        if v.ttlSeconds > 0 { a["ttl"] = .string(DurationText.format(seconds: Double(v.ttlSeconds))) }
        if !v.description.isEmpty { a["description"] = .string(v.description) }
        return a
    }

    static func attributes(_ s: FeatureService) -> [String: Value] {
        var a: [String: Value] = ["features": .list(s.features.map { .string($0.description) })]
        if !s.description.isEmpty { a["description"] = .string(s.description) }
        return a
    }
}
