import Foundation

/// Rows of feature values in row-major order; a missing value is `Float.nan`.
public struct FeatureMatrix: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var values: [Float]

    public init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "FeatureMatrix: \(values.count) values for \(rows)×\(columns)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    /// Builds a matrix from rows where `nil` stands for a missing value.
    public init(_ rows: [[Float?]], columns: Int) {
        self.rows = rows.count
        self.columns = columns
        var values: [Float] = []
        values.reserveCapacity(rows.count * columns)
        for row in rows { for v in row { values.append(v ?? .nan) } }
        self.values = values
    }

    public func row(_ index: Int) -> ArraySlice<Float> {
        values[(index * columns)..<((index + 1) * columns)]
    }
}

/// Predictions for a batch: `width` values per row (1, or one per class), row-major.
public struct Predictions: Sendable, Equatable {
    public var rows: Int
    public var width: Int
    public var values: [Float]

    public init(rows: Int, width: Int, values: [Float]) {
        self.rows = rows
        self.width = width
        self.values = values
    }

    public func row(_ index: Int) -> ArraySlice<Float> {
        values[(index * width)..<((index + 1) * width)]
    }
}

/// A loaded model that turns feature rows into predictions. Safe to call from many tasks at once.
public protocol ModelRuntime: Sendable {
    /// The artifact format, e.g. `xgboost-json`.
    var format: ModelFormat { get }
    /// The input features in column order (`f0`, `f1`, … when the artifact names none).
    var featureNames: [String] { get }
    /// What each output column is, e.g. `["probability"]` or `["class_0", "class_1", "class_2"]`.
    var outputNames: [String] { get }
    /// The model's outputs: probabilities for classifiers, values for regressors.
    func predict(_ input: FeatureMatrix) -> Predictions
}

extension ModelRuntime {
    public var featureCount: Int { featureNames.count }
}

/// The artifact formats the serving engine can run.
public enum ModelFormat: String, Sendable, Codable, CaseIterable {
    /// XGBoost's own JSON model (`Booster.save_model("m.json")`), gbtree booster.
    case xgboostJSON = "xgboost-json"
    /// XGBoost's UBJSON model (`Booster.save_model("m.ubj")`, what `mlflow.xgboost` saves by default).
    case xgboostUBJ = "xgboost-ubj"
    /// mlinfra's linear model JSON (see `LinearModel`).
    case linearJSON = "linear-json"

    /// Loads an artifact of this format from bytes.
    public func load(_ data: Data, source: String) throws -> any ModelRuntime {
        switch self {
        case .xgboostJSON: try XGBoostModel(json: data, source: source)
        case .xgboostUBJ: try XGBoostModel(ubj: data, source: source)
        case .linearJSON: try LinearModel(json: data, source: source)
        }
    }

    /// Loads an artifact of this format from a file.
    public func load(contentsOf url: URL) throws -> any ModelRuntime {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw ModelLoadError(source: url.path, message: "cannot read the model file: \(error.localizedDescription)",
                                 remedy: "check that the artifact exists and is readable")
        }
        return try load(data, source: url.path)
    }

    /// The supported formats, for messages.
    public static var supportedList: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

/// A model artifact that cannot be loaded, with what is wrong and how to fix it.
public struct ModelLoadError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The file (or artifact id) that was being loaded.
    public var source: String
    public var message: String
    public var remedy: String

    public init(source: String, message: String, remedy: String) {
        self.source = source
        self.message = message
        self.remedy = remedy
    }

    public var description: String { "cannot load model \(source): \(message); \(remedy)" }
}
