import Foundation
import MLInfraCore

/// Loads YAML text under the file name `f.yaml`.
func loadYAML(_ text: String, limits: YAMLLimits = .default) -> (root: YAMLNode?, diagnostics: Diagnostics) {
    YAMLLoader.load(Array(text.utf8), file: "f.yaml", limits: limits)
}

/// The `file:line:column` of each error, for compact expectations.
func yamlErrorLocations(_ diagnostics: Diagnostics) -> [String] {
    diagnostics.errors.map { $0.location?.description ?? "-" }
}

/// A fresh temporary directory, removed by the caller's `defer`.
func makeYAMLTestDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("yaml-tests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

extension YAMLNode {
    /// The node at a path of keys and list indexes, e.g. `["resources", "model.x", "tags", 0]`.
    func node(at path: [Any]) -> YAMLNode? {
        var node: YAMLNode? = self
        for step in path {
            if let key = step as? String {
                node = node?[key]
            } else if let index = step as? Int, let items = node?.sequenceItems, items.indices.contains(index) {
                node = items[index]
            } else {
                return nil
            }
        }
        return node
    }
}
