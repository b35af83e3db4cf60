import Foundation

/// The type of a feature or of an entity's join key.
public enum ValueType: String, Sendable, Codable, Hashable, CaseIterable {
    case int64
    case int32
    case float64
    case float32
    case string
    case bool
    /// A point in time, written as ISO-8601 text or as whole seconds since the epoch.
    case unixTimestamp = "unix_timestamp"

    /// Parses the names a spec may use (`int64`, `Int64`, `float`, `double`, `str`, …).
    public init?(name: String) {
        switch name.lowercased() {
        case "int64", "long": self = .int64
        case "int32", "int": self = .int32
        case "float64", "double": self = .float64
        case "float32", "float": self = .float32
        case "string", "str", "text": self = .string
        case "bool", "boolean": self = .bool
        case "unix_timestamp", "timestamp", "datetime": self = .unixTimestamp
        default: return nil
        }
    }

    var isInteger: Bool { self == .int64 || self == .int32 }
}

/// An entity: the thing features describe, identified by its join keys.
public struct Entity: Sendable, Codable, Hashable {
    public var name: String
    public var joinKeys: [String]
    public var valueType: ValueType
    public var description: String

    public init(name: String, joinKeys: [String], valueType: ValueType = .int64, description: String = "") {
        self.name = name
        self.joinKeys = joinKeys
        self.valueType = valueType
        self.description = description
    }
}

/// Where a feature view's rows come from.
public struct DataSource: Sendable, Codable, Hashable {
    public enum Kind: Sendable, Codable, Hashable {
        /// A CSV file with a header line.
        case csv(path: String)
        /// A table in a SQLite database file.
        case sqlite(path: String, table: String)
    }

    public var kind: Kind
    /// The event-time column.
    public var timestampField: String
    /// The column that breaks ties on event time (the later-created row wins); optional.
    public var createdTimestampField: String?

    public init(kind: Kind, timestampField: String = "event_timestamp", createdTimestampField: String? = nil) {
        self.kind = kind
        self.timestampField = timestampField
        self.createdTimestampField = createdTimestampField
    }

    public static func csv(_ path: String, timestamp: String = "event_timestamp", createdTimestamp: String? = nil) -> DataSource {
        DataSource(kind: .csv(path: path), timestampField: timestamp, createdTimestampField: createdTimestamp)
    }

    public static func sqlite(_ path: String, table: String, timestamp: String = "event_timestamp", createdTimestamp: String? = nil)
        -> DataSource
    {
        DataSource(kind: .sqlite(path: path, table: table), timestampField: timestamp, createdTimestampField: createdTimestamp)
    }

    /// The file the rows live in.
    public var path: String {
        switch kind {
        case .csv(let path): path
        case .sqlite(let path, _): path
        }
    }

    /// The same source with its file path resolved against a directory.
    public func resolved(against directory: String) -> DataSource {
        var copy = self
        func abs(_ p: String) -> String { p.hasPrefix("/") ? p : URL(fileURLWithPath: directory).appendingPathComponent(p).path }
        switch kind {
        case .csv(let path): copy.kind = .csv(path: abs(path))
        case .sqlite(let path, let table): copy.kind = .sqlite(path: abs(path), table: table)
        }
        return copy
    }
}

/// One typed feature of a view.
public struct Feature: Sendable, Codable, Hashable {
    public var name: String
    public var type: ValueType
    public init(name: String, type: ValueType) {
        self.name = name
        self.type = type
    }
}

/// A group of features read from one source, keyed by one or more entities.
public struct FeatureView: Sendable, Codable, Hashable {
    public var name: String
    /// Entity names; their join keys, in order, form the view's key.
    public var entities: [String]
    public var source: DataSource
    public var features: [Feature]
    /// How far back a feature row may lie and still count; 0 means no limit.
    public var ttlSeconds: Int64
    /// Whether materialization writes this view to the online store.
    public var online: Bool
    public var description: String

    public init(
        name: String, entities: [String], source: DataSource, features: [Feature], ttlSeconds: Int64 = 0,
        online: Bool = true, description: String = ""
    ) {
        self.name = name
        self.entities = entities
        self.source = source
        self.features = features
        self.ttlSeconds = ttlSeconds
        self.online = online
        self.description = description
    }

    public func feature(named name: String) -> Feature? { features.first { $0.name == name } }
}

/// A named list of features (`view:feature`) that a model consumes.
public struct FeatureService: Sendable, Codable, Hashable {
    public var name: String
    public var features: [FeatureReference]
    public var description: String

    public init(name: String, features: [FeatureReference], description: String = "") {
        self.name = name
        self.features = features
        self.description = description
    }
}

/// `view:feature`, the way requests name a feature.
public struct FeatureReference: Sendable, Codable, Hashable, CustomStringConvertible {
    public var view: String
    public var feature: String

    public init(view: String, feature: String) {
        self.view = view
        self.feature = feature
    }

    /// Parses `view:feature`; nil when the text has no single colon or an empty side.
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        self.init(view: String(parts[0]), feature: String(parts[1]))
    }

    /// Parses a list of references, throwing on the first malformed one.
    public static func parseList(_ items: [String]) throws -> [FeatureReference] {
        try items.map { item in
            guard let ref = FeatureReference(parsing: trimmingSpaces(item)) else {
                throw FeatureStoreError.badRequest(
                    field: "features", message: "'\(item)' is not a feature reference; write it as VIEW:FEATURE")
            }
            return ref
        }
    }

    /// `text` without leading and trailing spaces and tabs (what requests may pad names with).
    static func trimmingSpaces(_ text: String) -> String {
        let scalars = text.unicodeScalars
        // Foundation's CharacterSet.whitespaces: tab and the space separators (Zs).
        func blank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || (c.value > 0x7F && c.properties.generalCategory == .spaceSeparator) }
        guard let first = scalars.first, let last = scalars.last, blank(first) || blank(last) else { return text }
        guard let start = scalars.firstIndex(where: { !blank($0) }) else { return "" }
        let end = scalars.lastIndex(where: { !blank($0) })!
        return String(scalars[start...end])
    }

    public var description: String { "\(view):\(feature)" }

    /// The output column name: `feature`, or `view__feature` with full feature names.
    public func columnName(full: Bool) -> String { full ? "\(view)__\(feature)" : feature }
}

/// Everything a feature store is configured with.
public struct Definitions: Sendable, Codable, Hashable {
    public var entities: [String: Entity]
    public var views: [String: FeatureView]
    public var services: [String: FeatureService]

    public init(entities: [String: Entity] = [:], views: [String: FeatureView] = [:], services: [String: FeatureService] = [:]) {
        self.entities = entities
        self.views = views
        self.services = services
    }

    /// The join keys of a view, in order: its entities' keys, concatenated.
    public func joinKeys(of view: FeatureView) throws -> [String] {
        var keys: [String] = []
        for name in view.entities {
            guard let entity = entities[name] else {
                throw FeatureStoreError.unknownObject(kind: "entity", name: name, known: entities.keys.sorted())
            }
            keys += entity.joinKeys
        }
        return keys
    }

    /// The value types of a view's join keys, in the order of `joinKeys(of:)`.
    func joinKeyTypes(of view: FeatureView) throws -> [ValueType] {
        var types: [ValueType] = []
        for name in view.entities {
            guard let entity = entities[name] else {
                throw FeatureStoreError.unknownObject(kind: "entity", name: name, known: entities.keys.sorted())
            }
            types += Array(repeating: entity.valueType, count: entity.joinKeys.count)
        }
        return types
    }

    public func view(named name: String) throws -> FeatureView {
        guard let view = views[name] else {
            throw FeatureStoreError.unknownObject(kind: "feature view", name: name, known: views.keys.sorted())
        }
        return view
    }

    /// The references of a service, or the given references checked against the views.
    public func resolve(features: [FeatureReference]?, service: String?) throws -> [FeatureReference] {
        let refs: [FeatureReference]
        if let service {
            guard let svc = services[service] else {
                throw FeatureStoreError.unknownObject(kind: "feature service", name: service, known: services.keys.sorted())
            }
            refs = svc.features
        } else {
            refs = features ?? []
        }
        guard !refs.isEmpty else {
            throw FeatureStoreError.badRequest(field: "features", message: "no features requested; name VIEW:FEATURE references or a feature service")
        }
        var featureNames: [String: Set<String>] = [:]
        for ref in refs {
            let view = try view(named: ref.view)
            let names = featureNames[ref.view] ?? Set(view.features.map(\.name))
            featureNames[ref.view] = names
            guard names.contains(ref.feature) else {
                throw FeatureStoreError.unknownObject(
                    kind: "feature of view '\(ref.view)'", name: ref.feature, known: view.features.map(\.name))
            }
        }
        return refs
    }
}
