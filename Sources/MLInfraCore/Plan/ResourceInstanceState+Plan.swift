extension ResourceInstanceState {
    /// Top-level attribute names whose values are secret (from `sensitive_paths` such as `attributes.token`).
    public var sensitiveAttributes: Set<String> {
        Set(sensitivePaths.compactMap(Planner.attributeName))
    }

    /// What a reference to this instance sees: its attributes, then its inputs, and its id.
    var referenceable: [String: Value] {
        Planner.merge(attributes, inputs).merging(["id": .string(id)]) { _, id in id }
    }
}
