import Foundation

/// Where a replica reads features for `/predict` requests that send `entities`: a feature
/// service or view of a local feature store.
///
/// The endpoint names it `STORE/NAME` (the `id` of a `feature_service` or `feature_view`
/// resource); the store lives in `<data_dir>/features/STORE`, the same data directory the
/// agent serves from. NAME is looked up as a feature service first, then as a feature view
/// (all of the view's features).
public struct FeatureBinding: Sendable, Codable, Hashable, CustomStringConvertible {
    /// The store's directory (`<data_dir>/features/STORE`).
    public var storeDirectory: String
    /// The store's name.
    public var store: String
    /// A feature service or view in the store.
    public var name: String

    public init(storeDirectory: String, store: String, name: String) {
        self.storeDirectory = storeDirectory
        self.store = store
        self.name = name
    }

    public var description: String { "\(store)/\(name)" }

    /// Splits `STORE/NAME`; nil when it is not of that shape.
    public static func split(_ reference: String) -> (store: String, name: String)? {
        let parts = reference.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty, parts[0] != ".", parts[0] != ".." else { return nil }
        return (String(parts[0]), String(parts[1]))
    }

    /// Resolves `STORE/NAME` against `<data_dir>/features`; the store must exist.
    public static func resolve(_ reference: String, featuresDirectory: URL) throws -> FeatureBinding {
        guard let (store, name) = split(reference) else {
            throw FeatureBindingError(message: "features: \"\(reference)\" is not STORE/NAME (e.g. ${feature_service.fraud.id})")
        }
        let directory = featuresDirectory.appendingPathComponent(store).path
        guard FileManager.default.fileExists(atPath: directory + "/store.sqlite") else {
            throw FeatureBindingError(message: "features: no feature store \"\(store)\" in \(featuresDirectory.path); apply its feature_store resource first")
        }
        return FeatureBinding(storeDirectory: directory, store: store, name: name)
    }
}

/// A feature binding that cannot be used, with the reason.
public struct FeatureBindingError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

/// Where a replica reads a model's input rows for `/predict` requests that send `entities`:
/// one row per entity, the model's features in the model's order, and each feature's online
/// status per row (statuses per feature, then per row).
///
/// The engine names only this contract; `ServingProvider` implements it over the feature
/// store (`FeatureLookup`) and hands it to the replica it composes.
public protocol EntityFeatureSource: Sendable {
    /// A value's online status as the store names it (`PRESENT`, `NOT_FOUND`, …); answers show its raw value.
    associatedtype Status: RawRepresentable<String>

    /// The rows for `entities` (join key → one value per row); a bad key or value is a `RequestError` naming the field.
    func rows(_ entities: [String: [String]]) throws(RequestError) -> (matrix: FeatureMatrix, statuses: [[Status]])
}
