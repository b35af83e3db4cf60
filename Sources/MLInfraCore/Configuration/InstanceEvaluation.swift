/// An instance's attributes as the spec's expressions make them, with the paths that carry secrets.
public struct EvaluatedInstance: Sendable {
    /// The attribute values the provider is given.
    public var config: [String: Value]
    /// The paths among them that are secret: the schema's sensitive attributes, and whatever was built
    /// from a sensitive value.
    public var sensitive: Set<String>
    public var diagnostics: Diagnostics
}

extension Configuration {
    /// Evaluates the attributes of `instance`; references to other resources read what `known`
    /// says of them. With `prior`, the attributes under `lifecycle.ignore_changes` keep the inputs
    /// state recorded.
    ///
    /// The planner, the applier and the providers' validation all evaluate through here, so every
    /// kind of expression the spec language has means the same at plan time and at apply time.
    public func evaluate(
        _ instance: InstanceDecl, known: @escaping (String) -> KnownInstance?, keepingIgnoredFrom prior: ResourceInstanceState? = nil
    ) -> EvaluatedInstance {
        var diagnostics = Diagnostics()
        var evaluator = evaluator(each: instance.each, known: known)
        var config: [String: Value] = [:]
        let secret = Secrets.paths(of: instance.schema)
        var sensitive = secret
        for entry in instance.decl.attributes {
            let r = evaluator.evaluate(entry.value, diagnostics: &diagnostics)
            config[entry.key] = r.value
            sensitive.formUnion(r.paths(under: entry.key))
            if !r.unmarkedEnvironment.isEmpty, !Secrets.covers(secret, entry.key),
                let problem = r.unmarkedEnvironmentProblem(going: "`\(entry.key)` of `\(instance.address)`", address: instance.address.description)
            {
                diagnostics.append(problem)
            }
        }
        if let prior {
            for name in instance.decl.lifecycle.ignoreChanges { config[name] = prior.inputs[name] }
        }
        return EvaluatedInstance(config: config, sensitive: sensitive, diagnostics: diagnostics)
    }

    /// The spec's outputs, in the order they are declared, evaluated against what `known` says of the resources.
    public func evaluateOutputs(known: @escaping (String) -> KnownInstance?, diagnostics: inout Diagnostics) -> [(OutputDecl, Evaluated)] {
        var evaluator = evaluator(known: known)
        return spec.outputs.map { output in
            let r = evaluator.evaluate(output.value, diagnostics: &diagnostics)
            if !output.sensitive, let problem = r.unmarkedEnvironmentProblem(going: "output `\(output.name)`") { diagnostics.append(problem) }
            return (output, r)
        }
    }

    /// An evaluator of this spec's expressions: its variables, locals and functions, and resources as `known` says.
    public func evaluator(each: (key: String, value: Value)? = nil, known: @escaping (String) -> KnownInstance?) -> Evaluator {
        var evaluator = Evaluator(
            variables: variables, each: each, lookup: Planner.lookup(configuration: self, known), locals: locals, functions: functions)
        // Data sources are read into what `known` answers for their addresses (`data.TYPE.NAME`).
        evaluator.data = known
        return evaluator
    }
}
