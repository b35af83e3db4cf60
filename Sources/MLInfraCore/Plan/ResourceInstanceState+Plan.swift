extension ResourceInstanceState {
    /// Attribute paths whose values are secret (from `sensitive_paths` such as `attributes.alert.token`),
    /// `id` among them when the id carries a secret.
    public var sensitiveAttributes: Set<String> {
        Set(sensitivePaths.compactMap { path -> String? in
            if path == "id" { return "id" }
            for prefix in ["attributes.", "inputs."] where path.hasPrefix(prefix) { return String(path.dropFirst(prefix.count)) }
            return nil
        })
    }

    /// What a reference to this instance sees: its attributes, then its inputs, and its id.
    var referenceable: [String: Value] {
        Planner.merge(attributes, inputs).merging(["id": .string(id)]) { _, id in id }
    }

    /// The `sensitive_paths` entries for attribute paths that are secret in both inputs and attributes.
    static func sensitivePaths(_ paths: Set<String>) -> [String] {
        paths.sorted().flatMap { $0 == "id" ? ["id"] : ["inputs.\($0)", "attributes.\($0)"] }
    }
}
