extension ResourceInstanceState {
    /// Attribute paths whose values are secret (from `sensitive_paths` such as `attributes.alert.token`),
    /// `id` among them when the id carries a secret.
    public var sensitiveAttributes: Set<String> {
        if sensitivePaths.isEmpty { return [] }
        return Set(sensitivePaths.compactMap { path -> String? in
            if path == "id" { return "id" }
            for prefix in ["attributes.", "inputs."] where path.hasPrefix(prefix) { return String(path.dropFirst(prefix.count)) }
            return nil
        })
    }

    /// The id the provider knows. State seals an id that carries a secret (`sensitive_paths`
    /// holds `id`); the planner refuses a state whose sealed ids the key cannot open, so past
    /// that check this is the clear id.
    func providerID(_ key: StateKey) -> String { key.unseal(id) ?? id }

    /// What a reference to this instance sees: its attributes, then its inputs, and its id.
    func referenceable(_ key: StateKey) -> [String: Value] {
        Planner.merge(attributes, inputs).merging(["id": .string(providerID(key))]) { _, id in id }
    }

    /// The state entry for an object imported at `instance`'s address: what the provider reported,
    /// secrets redacted under `key`, and no inputs yet (the next plan compares the spec with it).
    public static func imported(_ object: ResourceObject, as instance: InstanceDecl, key: StateKey) -> ResourceInstanceState {
        let sensitive = Secrets.paths(of: instance.schema)
        return ResourceInstanceState(
            address: instance.address.description, type: instance.address.type, provider: instance.providerName, id: object.id,
            inputs: [:], attributes: Secrets.redact(object.attributes, paths: sensitive, key: key),
            sensitivePaths: sensitive.sorted().map { "attributes.\($0)" }, dependencies: instance.dependencies,
            schemaVersion: instance.schema.version)
    }

    /// The `sensitive_paths` entries for attribute paths that are secret in both inputs and attributes.
    static func sensitivePaths(_ paths: Set<String>) -> [String] {
        paths.sorted().flatMap { $0 == "id" ? ["id"] : ["inputs.\($0)", "attributes.\($0)"] }
    }
}
