import Foundation
import MLInfraCore
import ModelServing

/// Reads an MLflow `MLmodel` file with the spec language's YAML loader, for the serving engine's
/// `RegistryModelSource` (which imports no YAML parser): each flavor and its scalar settings.
public enum MLmodelYAML {
    public static let read: MLmodelFlavors.Reader = { data, source in
        let (root, diagnostics) = YAMLLoader.load([UInt8](data), file: source)
        guard let root, !diagnostics.hasErrors else {
            throw ModelLoadError(source: source, message: "not readable YAML: \(diagnostics.errors.map(\.description).joined(separator: "; "))",
                                 remedy: "log the model again with MLflow")
        }
        guard let pairs = root["flavors"]?.mappingPairs else {
            throw ModelLoadError(source: source, message: "no `flavors` map", remedy: "log the model again with MLflow")
        }
        var flavors: [String: [String: String]] = [:]
        for flavor in pairs {
            var settings: [String: String] = [:]
            for setting in flavor.value.mappingPairs ?? [] {
                if let text = setting.value.scalarText { settings[setting.keyText] = text }
            }
            flavors[flavor.keyText] = settings
        }
        return MLmodelFlavors(flavors)
    }
}
