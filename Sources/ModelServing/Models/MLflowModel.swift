import Foundation

/// What serving reads of an MLflow model directory's `MLmodel` file: its flavors, each with its
/// scalar settings (`xgboost: {data: model.ubj, model_format: ubj, …}`).
public struct MLmodelFlavors: Sendable, Equatable {
    public var flavors: [String: [String: String]]

    public init(_ flavors: [String: [String: String]]) { self.flavors = flavors }

    /// Parses `MLmodel` (YAML). The engine imports no YAML parser (the project's loader is in
    /// MLInfraCore, which an engine must not import), so the program that builds the model source
    /// passes one in: `ServingProvider`'s `MLmodelYAML.read`.
    public typealias Reader = @Sendable (_ text: Data, _ source: String) throws -> MLmodelFlavors

    /// The model file the xgboost flavor names and its format. Another flavor is refused, naming it.
    public func xgboostModel(source: String) throws -> (path: String, format: ModelFormat) {
        guard let xgboost = flavors["xgboost"] else {
            let named = flavors.keys.filter { $0 != "python_function" }.sorted()
            let has = named.isEmpty ? "only the python_function flavor" : "flavor \(named.joined(separator: ", "))"
            throw ModelLoadError(source: source, message: "the MLflow model has \(has), and serving runs the xgboost flavor only",
                                 remedy: "log the model with mlflow.xgboost.log_model, or register its model file with format \(ModelFormat.supportedList)")
        }
        guard let data = xgboost["data"], !data.isEmpty else {
            throw ModelLoadError(source: source, message: "the xgboost flavor names no data file", remedy: "log the model again with mlflow.xgboost.log_model")
        }
        let declared = xgboost["model_format"] ?? URL(fileURLWithPath: data).pathExtension
        switch declared {
        case "ubj": return (data, .xgboostUBJ)
        case "json": return (data, .xgboostJSON)
        default:
            throw ModelLoadError(source: source, message: "the xgboost flavor's model_format is \"\(declared)\", which serving does not read",
                                 remedy: "log the model with model_format=\"ubj\" (MLflow's default) or \"json\"")
        }
    }
}
