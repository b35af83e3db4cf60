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
///
/// Stored flat (one array per field for all feature columns) so a lookup allocates a handful of
/// arrays rather than three per feature; `columns` and `column(_:)` give the per-column view.
public struct OnlineResponse: Sendable, Equatable {
    public var featureNames: [String]
    /// Entities in the request.
    public var rowCount: Int
    /// The join-key columns, as given.
    var keyValues: [[FeatureValue]]
    /// Feature columns, column after column (`column * rowCount + row`).
    var values: [FeatureValue]
    var statuses: [FeatureStatus]
    var eventTimestamps: [Int64]

    /// Every column: join keys (status PRESENT, no event time), then the features.
    public var columns: [OnlineColumn] { (0..<featureNames.count).map(column(at:)) }

    /// The column at `index` of `featureNames`.
    public func column(at index: Int) -> OnlineColumn {
        let n = rowCount
        if index < keyValues.count {
            return OnlineColumn(
                values: keyValues[index], statuses: Array(repeating: .present, count: n), eventTimestamps: Array(repeating: 0, count: n))
        }
        let range = (index - keyValues.count) * n..<(index - keyValues.count + 1) * n
        return OnlineColumn(values: Array(values[range]), statuses: Array(statuses[range]), eventTimestamps: Array(eventTimestamps[range]))
    }

    /// The column named `name`, if any.
    public func column(_ name: String) -> OnlineColumn? {
        featureNames.firstIndex(of: name).map(column(at:))
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
        let key = OnlinePlanKey(features: features, service: service, fullFeatureNames: fullFeatureNames)
        return try onlineFeatures(entities: entities) { conn in try self.plan(key, conn) }
    }

    /// Reads the features of the plan `planFor` finds (inside the read transaction) for each entity.
    func onlineFeatures(entities: EntityKeys, plan planFor: (ReaderConnection) throws -> OnlinePlan) throws -> OnlineResponse {
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
            try reader.read { conn in
                let plan = try planFor(conn)
                let width = plan.names.count
                var values = [FeatureValue](repeating: .null, count: width * n)
                var statuses = [FeatureStatus](repeating: .notFound, count: width * n)
                var stamps = [Int64](repeating: 0, count: width * n)
                for group in plan.groups {
                    var keyColumns: [[FeatureValue]] = []
                    keyColumns.reserveCapacity(group.keyNames.count)
                    for k in group.keyNames {
                        guard let column = entities.columns[k] else {
                            throw FeatureStoreError.badRequest(
                                field: "entities", message: "feature view '\(group.view)' needs the join key '\(k)'; add it to entities")
                        }
                        keyColumns.append(column)
                    }
                    try online.read(
                        group, count: n, connection: conn, key: { row, out in try Self.keyBytes(keyColumns, group, row, into: &out) }
                    ) { row, eventTs, layout, payload in
                        guard layout.needed > 0 else { return }
                        guard Payload.decode(payload, count: layout.needed, into: &conn.scratch) else {
                            var key: [UInt8] = []
                            _ = try Self.keyBytes(keyColumns, group, row, into: &key)
                            throw FeatureStoreError.storage(
                                message: "damaged online row for view '\(group.view)', key '\(String(decoding: key, as: UTF8.self))'; materialize again")
                        }
                        let stale = group.ttlMicros > 0 && now - eventTs > group.ttlMicros
                        for (c, pos) in layout.positions.enumerated() where pos >= 0 {
                            let at = group.outputs[c] * n + row
                            stamps[at] = eventTs
                            let value = conn.scratch[pos]
                            if stale {
                                statuses[at] = .outsideMaxAge
                            } else if value.isNull {
                                statuses[at] = .nullValue
                            } else {
                                statuses[at] = .present
                                values[at] = value
                            }
                        }
                    }
                }
                return OnlineResponse(
                    featureNames: entities.names + plan.names, rowCount: n, keyValues: entities.names.map { entities.columns[$0]! },
                    values: values, statuses: statuses, eventTimestamps: stamps)
            }
        }
    }

    /// The compiled plan for a request shape, rebuilt when the definitions generation moved.
    func plan(_ key: OnlinePlanKey, _ conn: ReaderConnection) throws -> OnlinePlan {
        let generation = try conn.generation()
        if let hit = plans.withLock({ $0[key] }), hit.generation == generation { return hit }
        let defs = try definitions(generation: generation, conn)
        let plan = try OnlinePlan.build(
            features: key.features, service: key.service, fullFeatureNames: key.fullFeatureNames, definitions: defs,
            generation: generation, connection: conn)
        plans.withLock { plans in
            if plans.count >= 256 { plans.removeAll(keepingCapacity: true) }
            plans[key] = plan
        }
        return plan
    }

    /// Writes the canonical key text of entity `row` into `out`; false when a key value is null.
    @inline(__always)
    static func keyBytes(_ columns: [[FeatureValue]], _ group: OnlinePlan.Group, _ row: Int, into out: inout [UInt8]) throws -> Bool {
        out.removeAll(keepingCapacity: true)
        for j in 0..<columns.count {
            if j > 0 { out.append(0x1F) }  // KeySpace.separator
            let type = group.keyTypes[j]
            switch columns[j][row] {
            case .null:
                return false
            case .int(let i):
                appendDecimal(i, to: &out)
            case .double(let d) where type.isInteger && d.rounded() == d && abs(d) < 9e18:
                appendDecimal(Int64(d), to: &out)
            case .string(let s):
                if type.isInteger {
                    guard case .int(let i)? = FeatureValue.parse(s, as: .int64) else {
                        throw FeatureStoreError.badRequest(field: "entities.\(group.keyNames[j])", message: "'\(s)' is not an integer key")
                    }
                    appendDecimal(i, to: &out)
                } else {
                    out.append(contentsOf: s.utf8)
                }
            case let v:
                throw FeatureStoreError.badRequest(
                    field: "entities.\(group.keyNames[j])", message: "\(v) is not a valid \(type.rawValue) key")
            }
        }
        return true
    }
}

/// Appends the decimal digits of `value` (as `String(value)` would write them).
@inline(__always)
func appendDecimal(_ value: Int64, to out: inout [UInt8]) {
    if value == 0 { out.append(0x30); return }
    var v = value.magnitude
    if value < 0 { out.append(0x2D) }
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: enough for 20 digits
    var count = 0
    withUnsafeMutableBytes(of: &digits) { buf in
        while v > 0 {
            buf[23 - count] = UInt8(truncatingIfNeeded: v % 10) + 0x30
            v /= 10
            count += 1
        }
        out.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[(24 - count)...]))
    }
}
