import FeatureStore
import Foundation
import ModelServing

/// Builds a model's input rows from the online store: one row per entity, the model's
/// features in the model's order. A value that is not `PRESENT` (never materialized, stored
/// null, older than the view's ttl) is a missing value (NaN), which follows each split's
/// default direction, as `null` in `instances` does.
public final class FeatureLookup: EntityFeatureSource {
    public let binding: FeatureBinding
    /// The model's feature names, in input order.
    public let featureNames: [String]
    let store: LocalFeatureStore

    /// The features the binding gives now, and where each model feature comes from.
    struct Plan {
        var references: [FeatureReference]
        /// For each model feature, its index in `references`.
        var columns: [Int]
        /// Join keys of the binding's views, in first-seen order.
        var joinKeys: [String]
    }

    /// Opens the store and checks that the binding provides every feature the model takes.
    public init(binding: FeatureBinding, featureNames: [String]) throws {
        guard FileManager.default.fileExists(atPath: binding.storeDirectory + "/store.sqlite") else {
            throw FeatureBindingError(message: "features: no feature store at \(binding.storeDirectory)")
        }
        self.binding = binding
        self.featureNames = featureNames
        store = try LocalFeatureStore(directory: binding.storeDirectory)
        _ = try plan()
    }

    /// Resolves the binding against the store's current definitions (they may change while the
    /// replica runs: a feature added to the service is picked up by the next request).
    func plan() throws -> Plan {
        let defs = try store.definitions()
        var references: [FeatureReference]
        if let service = defs.services[binding.name] {
            references = service.features
        } else if let view = defs.views[binding.name] {
            references = view.features.map { FeatureReference(view: view.name, feature: $0.name) }
        } else {
            let known = (defs.services.keys.map { "service \($0)" } + defs.views.keys.map { "view \($0)" }).sorted()
            throw FeatureBindingError(message: "features: store \(binding.store) has no feature service or view \"\(binding.name)\""
                + (known.isEmpty ? "" : " (it has: \(known.joined(separator: ", ")))"))
        }
        references = try defs.resolve(features: references, service: nil)
        var byFull: [String: Int] = [:]
        var byShort: [String: [Int]] = [:]
        for (i, ref) in references.enumerated() {
            byFull[ref.columnName(full: true)] = i
            byFull["\(ref.view):\(ref.feature)"] = i
            byShort[ref.feature, default: []].append(i)
        }
        var columns: [Int] = []
        var missing: [String] = []
        for name in featureNames {
            if let i = byFull[name] {
                columns.append(i)
            } else if let candidates = byShort[name], candidates.count == 1 {
                columns.append(candidates[0])
            } else if let candidates = byShort[name] {
                throw FeatureBindingError(message: "features: the model's feature \(name) is in several views of \(binding) ("
                    + candidates.map { references[$0].view }.joined(separator: ", ") + "); name it VIEW__\(name) in the model")
            } else {
                missing.append(name)
            }
        }
        guard missing.isEmpty else {
            throw FeatureBindingError(message: "features: \(binding) does not provide the model's feature(s) \(missing.joined(separator: ", ")) "
                + "(it provides \(references.map(\.feature).joined(separator: ", ")))")
        }
        for (name, c) in zip(featureNames, columns) {
            let ref = references[c]
            if let type = try defs.view(named: ref.view).feature(named: ref.feature)?.type, type == .string {
                throw FeatureBindingError(message: "features: \(ref) (the model's \(name)) is a string; the model takes numbers")
            }
        }
        var joinKeys: [String] = []
        for view in Set(references.map(\.view)).sorted() {
            for key in try defs.joinKeys(of: defs.view(named: view)) where !joinKeys.contains(key) { joinKeys.append(key) }
        }
        return Plan(references: references, columns: columns, joinKeys: joinKeys)
    }

    /// The rows for `entities` (join key → one value per row), and each model feature's status per row.
    public func rows(_ entities: [String: [String]]) throws(RequestError) -> (matrix: FeatureMatrix, statuses: [[FeatureStatus]]) {
        let plan: Plan
        do {
            plan = try self.plan()
        } catch {
            throw RequestError(status: 500, field: "features", message: "\(error)")
        }
        for key in entities.keys.sorted() where !plan.joinKeys.contains(key) {
            throw RequestError(field: "entities.\(key)", message: "is not a join key of \(binding) (join keys: \(plan.joinKeys.joined(separator: ", ")))")
        }
        for key in plan.joinKeys where entities[key] == nil {
            throw RequestError(field: "entities", message: "missing the join key \(key) that \(binding) needs")
        }
        let names = plan.joinKeys
        let keys = EntityKeys(names: names, columns: Dictionary(uniqueKeysWithValues: names.map { ($0, entities[$0]!.map(FeatureValue.string)) }))
        let count = keys.count
        guard count > 0 else { throw RequestError(field: "entities", message: "no entity rows given") }
        let response: OnlineResponse
        do {
            response = try store.onlineFeatures(features: plan.references, entities: keys, fullFeatureNames: true)
        } catch let FeatureStoreError.badRequest(field, message) {
            throw RequestError(field: field, message: message)
        } catch {
            throw RequestError(status: 500, field: "features", message: "reading \(binding) failed: \(error)")
        }
        let width = featureNames.count
        var values = [Float](repeating: .nan, count: count * width)
        var statuses: [[FeatureStatus]] = []
        statuses.reserveCapacity(width)
        for (c, index) in plan.columns.enumerated() {
            let column = response.columns[names.count + index]
            statuses.append(column.statuses)
            for r in 0..<count where column.statuses[r] == .present {
                values[r * width + c] = Self.number(column.values[r])
            }
        }
        return (FeatureMatrix(rows: count, columns: width, values: values), statuses)
    }

    static func number(_ v: FeatureValue) -> Float {
        switch v {
        case .null: return .nan
        case .int(let i): return Float(i)
        case .double(let d): return Float(d)
        case .bool(let b): return b ? 1 : 0
        case .string(let s): return Float(s) ?? .nan
        }
    }
}
