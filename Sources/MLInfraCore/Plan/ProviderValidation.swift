import Synchronization

/// The providers' own checks of every instance, before anything reads state or an engine.
///
/// `Configuration.build` checks what the schemas say (names, types, required attributes,
/// allowed values); here each instance's config goes to its provider's `validate`, which checks
/// what only the provider knows (a cron expression, a canary share, a drift method, an artifact
/// or a CSV named by the spec). References to resources are unknown at this point, so a
/// provider checks only what is written. `validate` and `plan` both run it, so a mistake is
/// reported before anything is applied, all of them in one pass, each at its line.
extension Configuration {
    public func validateWithProviders(parallelism: Int = 8) async -> Diagnostics {
        let configuration = self
        let collected = ValidationBox()
        // In dependency order, so a provider has seen what an instance names before it (a
        // feature view before the services that list its features); every instance is visited.
        _ = await graph.walk(parallelism: parallelism) { address in
            guard let instance = configuration.instance(address) else { return true }
            collected.add(await Self.validate(instance, configuration))
            return true
        }
        return redactor.scrub(collected.diagnostics)
    }

    static func validate(_ instance: InstanceDecl, _ configuration: Configuration) async -> Diagnostics {
        let evaluated = configuration.evaluate(instance, known: { _ in nil })
        let diagnostics = evaluated.diagnostics
        let config = evaluated.config
        // Evaluation problems (a reference into a missing attribute, say) come back again from plan.
        guard !diagnostics.hasErrors, let provider = configuration.providers.providers[instance.providerName] else {
            return diagnostics
        }
        let address = instance.address.description
        let request = ValidateRequest(type: instance.address.type, address: address, config: config)
        do {
            let response = try await provider.call("validate \(address)") { try await $0.validate(request) }
            return Planner.locate(response.diagnostics, instance: instance)
        } catch {
            return Diagnostics([.error(
                "provider `\(instance.providerName)` could not validate `\(address)`",
                detail: ErrorText.describe(error), at: instance.decl.location, address: address)])
        }
    }
}

/// What the validation walk's tasks found, gathered under a lock.
private final class ValidationBox: Sendable {
    private let found = Mutex(Diagnostics())
    func add(_ d: Diagnostics) { found.withLock { $0.append(contentsOf: d) } }
    var diagnostics: Diagnostics { found.withLock { $0 } }
}

extension SpecEntry {
    /// Where the value at a dotted path below this entry is written (`traffic.percent`,
    /// `checks.0.method`), as deep as the spec spells it out; the entry's key otherwise.
    func location(of path: ArraySlice<Substring>) -> SourceLocation {
        guard let next = path.first else { return keyLocation }
        switch value {
        case .map(let entries, _):
            if let child = entries.first(where: { $0.key == next }) { return child.location(of: path.dropFirst()) }
        case .list(let items, _):
            let index = next.hasPrefix("[") ? Int(next.dropFirst().dropLast()) : Int(next)
            if let index, items.indices.contains(index) {
                return SpecEntry(key: String(next), keyLocation: items[index].location, value: items[index]).location(of: path.dropFirst())
            }
        default: break
        }
        return keyLocation
    }
}
