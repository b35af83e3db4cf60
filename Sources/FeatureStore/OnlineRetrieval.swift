import Foundation
import GRDB

/// The status of one online value, as Feast names them.
public enum FeatureStatus: String, Sendable, Codable, Hashable {
    case present = "PRESENT"
    case nullValue = "NULL_VALUE"
    case notFound = "NOT_FOUND"
    /// The stored value is older than the view's ttl; it is not served (the value is null).
    case outsideMaxAge = "OUTSIDE_MAX_AGE"
}

/// One column of an online response: a join key or a feature, one entry per entity.
public struct OnlineColumn: Sendable, Equatable {
    public var values: [FeatureValue]
    public var statuses: [FeatureStatus]
    /// Event time of each value in microseconds since the epoch (0 when there is none).
    public var eventTimestamps: [Int64]
}

/// The answer to an online request, column by column (join keys first), as Feast's server returns it.
public struct OnlineResponse: Sendable, Equatable {
    public var featureNames: [String]
    public var columns: [OnlineColumn]

    /// The column named `name`, if any.
    public func column(_ name: String) -> OnlineColumn? {
        featureNames.firstIndex(of: name).map { columns[$0] }
    }
}

/// Entity keys of an online request: column name → one value per entity, all of one length.
public struct EntityKeys: Sendable {
    public var names: [String]
    public var columns: [String: [FeatureValue]]

    public init(names: [String], columns: [String: [FeatureValue]]) {
        self.names = names
        self.columns = columns
    }

    public init(_ name: String, _ values: [FeatureValue]) {
        self.init(names: [name], columns: [name: values])
    }

    public var count: Int { names.first.flatMap { columns[$0]?.count } ?? 0 }
}

extension LocalFeatureStore {
    /// Reads the latest materialized values of the given features for each entity.
    ///
    /// Statuses: `NOT_FOUND` when the entity (or the feature) was never materialized,
    /// `OUTSIDE_MAX_AGE` when the value is older than the view's ttl, `NULL_VALUE` for a
    /// stored null, else `PRESENT`.
    public func onlineFeatures(
        features: [FeatureReference]? = nil, service: String? = nil, entities: EntityKeys, fullFeatureNames: Bool = false
    ) throws -> OnlineResponse {
        let n = entities.count
        guard n > 0 else { throw FeatureStoreError.badRequest(field: "entities", message: "no entity rows given") }
        for name in entities.names {
            guard let col = entities.columns[name] else {
                throw FeatureStoreError.badRequest(field: "entities", message: "no values for '\(name)'")
            }
            guard col.count == n else {
                throw FeatureStoreError.badRequest(
                    field: "entities.\(name)", message: "has \(col.count) values, '\(entities.names[0])' has \(n); give one value per entity for every key")
            }
        }
        let now = clock()
        return try storage {
            try pool.read { db in
                let defs = try self.currentDefinitions(db)
                let refs = try defs.resolve(features: features, service: service)
                var names = entities.names
                var columns = entities.names.map { name in
                    OnlineColumn(
                        values: entities.columns[name]!, statuses: Array(repeating: .present, count: n),
                        eventTimestamps: Array(repeating: 0, count: n))
                }
                // One pass per view: read each entity's row once, then pick the requested features.
                var viewOrder: [String] = []
                var byView: [String: [FeatureReference]] = [:]
                for ref in refs {
                    if byView[ref.view] == nil { viewOrder.append(ref.view) }
                    byView[ref.view, default: []].append(ref)
                }
                var produced: [FeatureReference: OnlineColumn] = [:]
                let stmt = try db.cachedStatement(sql: "SELECT event_ts, layout, payload FROM online WHERE view = ? AND entity_key = ?")
                for viewName in viewOrder {
                    let view = try defs.view(named: viewName)
                    let keyNames = try defs.joinKeys(of: view)
                    let keyTypes = try defs.joinKeyTypes(of: view)
                    for k in keyNames where entities.columns[k] == nil {
                        throw FeatureStoreError.badRequest(
                            field: "entities", message: "feature view '\(viewName)' needs the join key '\(k)'; add it to entities")
                    }
                    let wanted = byView[viewName]!
                    var cols = wanted.map { _ in
                        OnlineColumn(
                            values: Array(repeating: .null, count: n), statuses: Array(repeating: .notFound, count: n),
                            eventTimestamps: Array(repeating: 0, count: n))
                    }
                    let ttl = view.ttlSeconds * Timestamp.microsPerSecond
                    var layoutID: Int64 = -1
                    var positions: [Int?] = []
                    for row in 0..<n {
                        let key = try Self.keyText(entities, keyNames, keyTypes, row)
                        guard let key else { continue }
                        let cursor = try Row.fetchCursor(stmt, arguments: [viewName, key])
                        guard let found = try cursor.next() else { continue }
                        let eventTs: Int64 = found[0]
                        let layout: Int64 = found[1]
                        if layout != layoutID {
                            let stored = try self.layout(layout, db)
                            positions = wanted.map { stored[$0.feature] }
                            layoutID = layout
                        }
                        let needed = positions.reduce(0) { max($0, ($1 ?? -1) + 1) }
                        guard needed > 0 else { continue }
                        let decoded: [FeatureValue]? = try found.withUnsafeData(atIndex: 2) { data in
                            data.flatMap { d in d.withUnsafeBytes { Payload.decode($0, count: needed) } }
                        }
                        guard let values = decoded else {
                            throw FeatureStoreError.storage(message: "damaged online row for view '\(viewName)', key '\(key)'; materialize again")
                        }
                        let stale = ttl > 0 && now - eventTs > ttl
                        for (c, pos) in positions.enumerated() {
                            guard let pos else { continue }
                            cols[c].eventTimestamps[row] = eventTs
                            if stale {
                                cols[c].statuses[row] = .outsideMaxAge
                            } else if values[pos].isNull {
                                cols[c].statuses[row] = .nullValue
                            } else {
                                cols[c].statuses[row] = .present
                                cols[c].values[row] = values[pos]
                            }
                        }
                    }
                    for (c, ref) in wanted.enumerated() { produced[ref] = cols[c] }
                }
                for ref in refs {
                    names.append(ref.columnName(full: fullFeatureNames))
                    columns.append(produced[ref]!)
                }
                return OnlineResponse(featureNames: names, columns: columns)
            }
        }
    }

    /// The canonical key text of entity `row` for a view; nil when a key value is null.
    static func keyText(_ entities: EntityKeys, _ names: [String], _ types: [ValueType], _ row: Int) throws -> String? {
        var parts: [String] = []
        parts.reserveCapacity(names.count)
        for (j, name) in names.enumerated() {
            let v = entities.columns[name]![row]
            switch v {
            case .null:
                return nil
            case .int(let i):
                parts.append(String(i))
            case .double(let d) where types[j].isInteger && d.rounded() == d && abs(d) < 9e18:
                parts.append(String(Int64(d)))
            case .string(let s):
                if types[j].isInteger {
                    guard case .int(let i)? = FeatureValue.parse(s, as: .int64) else {
                        throw FeatureStoreError.badRequest(field: "entities.\(name)", message: "'\(s)' is not an integer key")
                    }
                    parts.append(String(i))
                } else {
                    parts.append(s)
                }
            default:
                throw FeatureStoreError.badRequest(field: "entities.\(name)", message: "\(v) is not a valid \(types[j].rawValue) key")
            }
        }
        return names.count == 1 ? parts[0] : parts.joined(separator: KeySpace.separator)
    }
}
