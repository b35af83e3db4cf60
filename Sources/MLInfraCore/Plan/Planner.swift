import Foundation
import Synchronization

public struct PlanOptions: Sendable {
    public var mode: Plan.Mode
    public var refresh: Bool
    /// Limit the plan to these addresses (`TYPE.NAME` or an instance) and what they depend on.
    public var targets: [String]
    /// Replace these instances even if nothing changed.
    public var replace: [String]
    public var parallelism: Int

    public init(mode: Plan.Mode = .normal, refresh: Bool = true, targets: [String] = [], replace: [String] = [], parallelism: Int = 10) {
        self.mode = mode
        self.refresh = refresh
        self.targets = targets
        self.replace = replace
        self.parallelism = parallelism
    }
}

/// Hears of the refresh of each resource in state while a plan runs (`plan --json-stream`).
public protocol PlanObserver: Sendable {
    func refreshStarted(_ address: String)
    func refreshFinished(_ address: String, seconds: Double, failed: Bool)
}

/// Computes a plan: refresh state through the providers, then diff the spec against it.
public struct Planner: Sendable {
    public let configuration: Configuration
    public let options: PlanOptions
    /// The spec's secrets and those providers report while planning: scrubbed from every diagnostic.
    public let seen: SecretsSeen
    let observer: (any PlanObserver)?

    public init(configuration: Configuration, options: PlanOptions, observer: (any PlanObserver)? = nil) {
        self.configuration = configuration
        self.options = options
        self.seen = SecretsSeen(configuration.redactor)
        self.observer = observer
    }

    public func plan(state stored: StateFile) async -> (Plan?, Diagnostics) {
        var diagnostics = Diagnostics()
        let key = configuration.stateKey

        // Every address named by --target / --replace must exist somewhere.
        let known = Set(configuration.byAddress.keys).union(stored.addresses)
        for address in options.targets + options.replace {
            let asResource = configuration.instancesOfResource[address] != nil
                || stored.resources.contains { ResourceAddress(parsing: $0.address)?.resource == address }
            if !known.contains(address) && !asResource {
                diagnostics.append(.error(
                    "`\(address)` is neither in the spec nor in state",
                    detail: "Check the address." + Suggestions.didYouMean(address, in: known)))
            }
        }
        for r in stored.resources where StateKey.isSealed(r.id) && key.unseal(r.id) == nil {
            diagnostics.append(.error(
                "the state key cannot open the sealed id of `\(r.address)`",
                detail: "This state was written with another state key. Set \(StateKey.environmentVariable), or restore "
                    + "\(StateKey.keyFilePath(forState: "<state file>")), to the key it was written with.",
                address: r.address))
        }
        if diagnostics.hasErrors { return (nil, seen.scrub(diagnostics)) }

        // 1. Refresh.
        var refreshed = stored
        var drift: [DriftChange] = []
        if options.refresh {
            let (state, found, refreshDiagnostics) = await refresh(stored, key: key)
            refreshed = state
            drift = found
            diagnostics.append(contentsOf: refreshDiagnostics)
            if diagnostics.hasErrors { return (nil, seen.scrub(diagnostics)) }
        }

        var plan = Plan(
            project: configuration.spec.project, mode: options.mode, changes: [], drift: drift, outputs: [],
            priorState: refreshed, baseLineage: stored.lineage, baseSerial: stored.serial, warnings: [])

        switch options.mode {
        case .refreshOnly:
            plan.outputs = outputChanges(prior: refreshed, planned: currentAttributes(refreshed), diagnostics: &diagnostics)
        case .destroy:
            plan.changes = refreshed.resources.filter(isTargeted).map { r in
                deleteChange(r, reason: .destroyRequested)
            }
            plan.outputs = refreshed.outputs.keys.sorted().map { name in
                OutputChange(name: name, action: .delete, before: refreshed.outputs[name]!.value, after: nil, sensitive: refreshed.outputs[name]!.sensitive)
            }
        case .normal:
            let (prior, blocks, blockDiagnostics) = await applyStateBlocks(to: refreshed, key: key)
            diagnostics.append(contentsOf: blockDiagnostics)
            if diagnostics.hasErrors { return (nil, seen.scrub(diagnostics)) }
            plan.priorState = prior
            plan.forgotten = blocks.forgotten
            let (reads, readDiagnostics) = await readDataSources(prior: prior, key: key)
            diagnostics.append(contentsOf: readDiagnostics)
            if diagnostics.hasErrors { return (nil, seen.scrub(diagnostics)) }
            plan.dataReads = reads
            var (changes, planned, diffDiagnostics) = await diff(prior, drift: drift, key: key, data: reads)
            for i in changes.indices {
                changes[i].movedFrom = blocks.movedFrom[changes[i].address.description]
                changes[i].importID = blocks.imported[changes[i].address.description]
            }
            diagnostics.append(contentsOf: diffDiagnostics)
            plan.changes = changes
            plan.outputs = outputChanges(prior: prior, planned: planned, diagnostics: &diagnostics)
        }

        if options.mode != .refreshOnly {
            let holdDiagnostics = await checkDeletes(&plan.changes, prior: plan.priorState)
            diagnostics.append(contentsOf: holdDiagnostics)
        }

        for change in plan.changes where change.preventDestroy && (change.action == .delete || change.action == .replace) {
            let decl = configuration.spec.resource(change.address.resource)
            diagnostics.append(.error(
                "`\(change.address)` has lifecycle.prevent_destroy, and this plan would destroy it",
                detail: "Reason: \(change.reason.map(\.description) ?? change.action.rawValue). If you mean it, set `prevent_destroy: false` first, in its own reviewed change.",
                at: decl?.location, address: change.address.description))
        }
        diagnostics = seen.scrub(diagnostics)
        plan.warnings = diagnostics.items.filter { $0.severity == .warning }
        return (diagnostics.hasErrors ? nil : plan, diagnostics)
    }

    // MARK: refresh

    func refresh(_ state: StateFile, key: StateKey) async -> (StateFile, [DriftChange], Diagnostics) {
        let resources = state.resources
        let results = await boundedMap(resources, parallelism: options.parallelism) { r -> (ResourceInstanceState, ReadResponse?, String?) in
            guard let provider = configuration.providers.providers[r.provider] ?? configuration.providers.provider(forType: r.type) else {
                return (r, nil, "state holds `\(r.address)` of provider `\(r.provider)`, which the spec does not configure")
            }
            observer?.refreshStarted(r.address)
            let started = ContinuousClock.now
            do {
                let response = try await provider.call("read \(r.address)") {
                    try await $0.read(ReadRequest(type: r.type, address: r.address, id: r.providerID(key), prior: ResourceObject(id: r.providerID(key), attributes: r.attributes)))
                }
                observer?.refreshFinished(r.address, seconds: (ContinuousClock.now - started).seconds, failed: response.diagnostics.contains { $0.severity == .error })
                return (r, response, nil)
            } catch {
                observer?.refreshFinished(r.address, seconds: (ContinuousClock.now - started).seconds, failed: true)
                return (r, nil, ErrorText.describe(error))
            }
        }
        var refreshed = state
        var drift: [DriftChange] = []
        var diagnostics = Diagnostics()
        for (r, response, failure) in results {
            guard let address = ResourceAddress(parsing: r.address) else { continue }
            if let failure {
                diagnostics.append(.error(
                    "could not refresh `\(r.address)`", detail: failure + "\nFix the provider, or plan with --refresh=false.",
                    address: r.address))
                continue
            }
            guard let response else { continue }
            diagnostics.append(contentsOf: response.diagnostics.map { var d = $0; d.address = d.address ?? r.address; return d })
            let sensitive = r.sensitiveAttributes
            guard let current = response.current else {
                drift.append(DriftChange(address: address, providerName: r.provider, kind: .delete, before: r.attributes, after: nil, sensitive: sensitive, changed: []))
                refreshed.remove(r.address)
                continue
            }
            seen.learn(current.attributes, paths: sensitive.union(schemaSensitive(r.type)), address: r.address)
            let attributes = Secrets.redact(current.attributes, paths: sensitive.union(schemaSensitive(r.type)), key: key)
            let allChanged = Self.changedKeys(r.attributes, attributes)
            // Attributes only the provider sets (a served version, a replica count) change at run time:
            // they are refreshed into state, but they are not drift.
            let schema = configuration.providers.resourceSchema(r.type)
            let changed = allChanged.filter { schema?.attributes[$0]?.settable ?? false }
            if !changed.isEmpty || current.id != r.providerID(key) {
                drift.append(DriftChange(address: address, providerName: r.provider, kind: .update, before: r.attributes, after: attributes, sensitive: sensitive, changed: changed))
            }
            if !allChanged.isEmpty || current.id != r.providerID(key) {
                var updated = r
                updated.attributes = attributes
                updated.id = sensitive.contains("id") ? key.seal(current.id) : current.id
                refreshed.upsert(updated)
            }
        }
        return (refreshed, drift.sortedByAddress(\.address), diagnostics)
    }

    // MARK: diff

    func diff(
        _ prior: StateFile, drift: [DriftChange], key: StateKey, data: [DataRead] = []
    ) async -> ([ResourceChange], [String: KnownInstance], Diagnostics) {
        let targeted: Set<String>? = options.targets.isEmpty ? nil : targetClosure()
        let box = PlanBox(
            prior: prior, removedOutside: Set(drift.filter { $0.kind == .delete }.map(\.address.description)), key: key, data: data)

        let outcome = await configuration.graph.walk(parallelism: max(1, options.parallelism)) { address in
            guard let instance = configuration.instance(address) else { return true }
            if let targeted, !targeted.contains(address) { return true }
            return await planInstance(instance, prior: prior.resource(address), box: box, key: key)
        }

        var diagnostics = box.diagnostics
        if outcome.values.contains(.failed) && !diagnostics.hasErrors {
            diagnostics.append(.error("planning failed"))
        }
        var changes = box.changes

        // Instances in state that the spec no longer has.
        for r in prior.resources where configuration.byAddress[r.address] == nil {
            if let targeted, !targeted.contains(r.address), !(ResourceAddress(parsing: r.address).map { targeted.contains($0.resource) } ?? false) { continue }
            changes.append(deleteChange(r, reason: .notInSpec))
        }
        changes = changes.sortedByAddress(\.address)
        return (changes, box.visible, diagnostics)
    }

    /// Plans one instance: evaluates its attributes against what is known so far, asks its provider
    /// for the planned attributes, and decides the action. Records the change in `box`; false when
    /// the instance could not be planned (its diagnostics are in `box`).
    func planInstance(_ instance: InstanceDecl, prior priorResource: ResourceInstanceState?, box: PlanBox, key: StateKey) async -> Bool {
        let address = instance.address.description
        let evaluated = configuration.evaluate(instance, known: { box.attributes($0) }, keepingIgnoredFrom: priorResource)
        let config = evaluated.config
        var sensitive = evaluated.sensitive
        guard !evaluated.diagnostics.hasErrors else {
            box.fail(evaluated.diagnostics)
            return false
        }
        let provider = configuration.providers.providers[instance.providerName]!
        let priorObject = priorResource.map { ResourceObject(id: $0.providerID(configuration.stateKey), attributes: $0.attributes) }
        let response: PlanResponse
        let changedDependencies = instance.dependencies.filter(box.isChanging)
        let request = PlanRequest(type: instance.address.type, address: address, prior: priorObject, proposed: config,
                                  changedDependencies: changedDependencies.isEmpty ? nil : changedDependencies)
        do {
            response = try await provider.call("plan \(address)") { try await $0.plan(request) }
        } catch {
            box.fail(Diagnostics([.error(
                "provider could not plan `\(address)`", detail: ErrorText.afterFailedCall(error, applying: false), at: instance.decl.location,
                address: address)]))
            return false
        }
        let located = Self.locate(response.diagnostics, instance: instance)
        if located.hasErrors {
            box.fail(located)
            return false
        }
        var planned = response.planned
        for (key, value) in config where planned[key] == nil { planned[key] = value }
        // What the provider builds from a secret (an id, a path) is a secret too.
        let secrets = Secrets.texts(in: config, paths: sensitive)
        sensitive.formUnion(Secrets.derived(planned, from: secrets, besides: sensitive))
        if let priorResource { sensitive.formUnion(priorResource.sensitiveAttributes) }
        seen.learn(planned, paths: sensitive, address: address)

        var change = ResourceChange(
            address: instance.address, providerName: instance.providerName, action: .noop, reason: nil,
            createBeforeDestroy: instance.decl.lifecycle.createBeforeDestroy, before: priorResource?.attributes,
            after: planned, sensitive: sensitive, changed: [], replacePaths: [], dependencies: instance.dependencies,
            preventDestroy: instance.decl.lifecycle.preventDestroy, warnings: located.items.map(\.summary))
        if let priorResource {
            decide(&change, planned: &planned, prior: priorResource, instance: instance, config: config, requiresReplace: response.requiresReplace,
                   changesInPlace: response.changesInPlace ?? [], key: key)
        } else {
            change.action = .create
            change.reason = box.deletedOutside(address) ? .deletedOutside : .created
            change.changed = planned.keys.sorted()
        }
        let visible: [String: Value]
        switch change.action {
        case .noop:
            visible = priorResource.map {
                Self.merge($0.attributes, config).merging(["id": .string($0.providerID(configuration.stateKey))]) { _, id in id }
            } ?? planned
        default: visible = planned
        }
        var visibleSensitive = sensitive
        if change.action == .noop, let priorResource { visibleSensitive.formUnion(priorResource.sensitiveAttributes) }
        DebugLog.logger.debug("planned \(address): \(change.action.rawValue)\(change.reason.map { " (\($0))" } ?? "")")
        box.record(change, visible: visible, sensitive: visibleSensitive, diagnostics: located)
        return true
    }

    /// The action for an instance that state already holds: no-op, update or replace, and why.
    func decide(
        _ change: inout ResourceChange, planned: inout [String: Value], prior priorResource: ResourceInstanceState, instance: InstanceDecl,
        config: [String: Value], requiresReplace: [String], changesInPlace: [String] = [], key: StateKey
    ) {
        let address = instance.address.description
        let comparable = Self.comparable(planned, schema: instance.schema, config: config)
        let redacted = Secrets.redact(comparable, paths: change.sensitive, key: key)
        let changed = Array(Set(Self.changedKeys(priorResource.attributes, redacted, only: Set(comparable.keys)))
            .union(changesInPlace.filter { planned[$0] != nil })).sorted()
        change.changed = changed
        let forceNew = Set(instance.schema.attributes.filter(\.value.forceNew).keys).union(requiresReplace)
        let replacing = changed.filter { key in forceNew.contains(key) || forceNew.contains { $0.hasPrefix(key + ".") } }
        if priorResource.status == .tainted {
            change.action = .replace
            change.reason = .tainted
        } else if options.replace.contains(address) || options.replace.contains(instance.address.resource) {
            change.action = .replace
            change.reason = .requested
        } else if !replacing.isEmpty {
            change.action = .replace
            change.reason = .cannotUpdate(replacing)
            change.replacePaths = replacing
        } else if !changed.isEmpty {
            change.action = .update
            change.reason = .updated(changed)
        }
        guard change.action == .replace else { return }
        // Computed attributes of a replaced resource are new.
        for (name, attribute) in instance.schema.attributes where attribute.computed && config[name] == nil && name != "id" {
            if planned[name] == priorResource.attributes[name] { planned[name] = .unknown }
        }
        // So is its id, unless the provider knows the new one (a provider plans a replace as an update of `prior`).
        if planned["id"] == nil || planned["id"] == .string(priorResource.providerID(configuration.stateKey)) {
            planned["id"] = .unknown
        }
        change.after = planned
    }

    /// Reads every data source through its provider's `read` (a `query`, no id), concurrently. A
    /// query may use variables, locals and what state holds; a value only apply can tell is an error,
    /// since the read happens now.
    func readDataSources(prior: StateFile, key: StateKey) async -> ([DataRead], Diagnostics) {
        let sources = configuration.dataSources
        guard !sources.isEmpty else { return ([], Diagnostics()) }
        let known = Dictionary(prior.resources.map { ($0.address, KnownInstance($0, key: key)) }, uniquingKeysWith: { a, _ in a })
        let configuration = self.configuration
        let results = await boundedMap(sources, parallelism: options.parallelism) { source -> (DataRead?, Diagnostics) in
            var diagnostics = Diagnostics()
            var evaluator = configuration.evaluator(known: { known[$0] })
            evaluator.data = nil
            var query: [String: Value] = [:]
            for entry in source.decl.query {
                let r = evaluator.evaluate(entry.value, diagnostics: &diagnostics)
                if r.value.containsUnknown {
                    diagnostics.append(.error(
                        "`\(entry.key)` of `\(source.address)` is only known after apply, but data sources are read while planning",
                        detail: "Refer to values known now (variables, locals, resources already applied), or apply the resource first.",
                        at: entry.value.location, address: source.address))
                }
                query[entry.key] = r.value
            }
            guard !diagnostics.hasErrors, let provider = configuration.providers.providers[source.providerName] else { return (nil, diagnostics) }
            let request = ReadRequest(
                type: source.decl.type, address: source.address, id: "", prior: ResourceObject(id: "", attributes: [:]), query: query)
            do {
                let response = try await provider.call("read \(source.address)") { try await $0.read(request) }
                diagnostics.append(contentsOf: Diagnostics(response.diagnostics.map { var d = $0; d.address = d.address ?? source.address; d.location = d.location ?? source.decl.location; return d }))
                guard let found = response.current else {
                    if !diagnostics.hasErrors {
                        diagnostics.append(.error(
                            "`\(source.address)` found nothing",
                            detail: "No `\(source.decl.type)` matches \(Value.map(query).rendered). Check the query, or create what it looks for first.",
                            at: source.decl.location, address: source.address))
                    }
                    return (nil, diagnostics)
                }
                let sensitive = Secrets.paths(of: source.schema)
                return (DataRead(address: source.address, providerName: source.providerName, id: found.id, attributes: found.attributes, sensitive: sensitive), diagnostics)
            } catch {
                diagnostics.append(.error(
                    "could not read `\(source.address)`", detail: ErrorText.afterFailedCall(error, applying: false), at: source.decl.location,
                    address: source.address))
                return (nil, diagnostics)
            }
        }
        var diagnostics = Diagnostics()
        var reads: [DataRead] = []
        for (read, found) in results {
            diagnostics.append(contentsOf: found)
            if let read {
                seen.learn(read.attributes, paths: read.sensitive, address: read.address)
                reads.append(read)
            }
        }
        return (reads.sorted { $0.address < $1.address }, diagnostics)
    }

    /// What the spec's `moved`, `import` and `removed` entries did to the state a plan starts from.
    struct BlockOutcome {
        /// New address → the address state held it under.
        var movedFrom: [String: String] = [:]
        /// Address → the id imported there.
        var imported: [String: String] = [:]
        var forgotten: [ResourceInstanceState] = []
    }

    /// Applies the spec's state blocks to `state`: moves rename instances (and the dependencies
    /// that name them), removals take instances out, imports read objects through their provider
    /// and record them. What is already done (the old address gone, the import in state) is
    /// skipped, so the blocks may stay in the spec after apply.
    func applyStateBlocks(to state: StateFile, key: StateKey) async -> (StateFile, BlockOutcome, Diagnostics) {
        let blocks = configuration.stateBlocks
        guard !blocks.isEmpty else { return (state, BlockOutcome(), Diagnostics()) }
        var state = state
        var outcome = BlockOutcome()
        var diagnostics = Diagnostics()
        func matching(_ address: ResourceAddress) -> [ResourceInstanceState] {
            if address.key != nil { return state.resource(address.description).map { [$0] } ?? [] }
            return state.resources.filter { ResourceAddress(parsing: $0.address)?.resource == address.resource }
        }
        var renamed: [String: String] = [:]
        for move in blocks.moves {
            for r in matching(move.from) {
                // A whole resource keeps its instances' keys, unless `to` names one (a resource without
                // `for_each` moving into one instance of a resource with it).
                var target = move.to
                if move.from.key == nil && move.to.key == nil { target.key = ResourceAddress(parsing: r.address)?.key }
                let to = target.description
                if state.resource(to) != nil {
                    diagnostics.append(.error(
                        "`moved` from `\(r.address)` to `\(to)`, but state holds both",
                        detail: "One of them must go first: `mlinfra state rm \(to)` if it is a leftover, or drop this `moved` entry.",
                        at: move.location, address: to))
                    continue
                }
                var moved = r
                moved.address = to
                state.remove(r.address)
                state.upsert(moved)
                renamed[r.address] = to
                outcome.movedFrom[to] = outcome.movedFrom.removeValue(forKey: r.address) ?? r.address
            }
        }
        state.renameDependencies(renamed)
        for removal in blocks.removals {
            for r in matching(removal.from) {
                state.remove(r.address)
                outcome.forgotten.append(r)
            }
        }
        for entry in blocks.imports where state.resource(entry.to.description) == nil {
            let address = entry.to.description
            guard let instance = configuration.instance(address), let provider = configuration.providers.providers[instance.providerName] else { continue }
            do {
                let response = try await provider.call("import \(address)") {
                    try await $0.importResource(ImportRequest(type: instance.address.type, address: address, id: entry.id))
                }
                diagnostics.append(contentsOf: Diagnostics(response.diagnostics.map { var d = $0; d.address = d.address ?? address; return d }))
                guard let object = response.imported else {
                    diagnostics.append(.error(
                        "`import` into `\(address)`: no `\(instance.address.type)` with id `\(entry.id)` exists",
                        detail: "Check the id (the provider's own commands list what exists), or remove the entry.",
                        at: entry.location, address: address))
                    continue
                }
                let record = ResourceInstanceState.imported(object, as: instance, key: key)
                seen.learn(object.attributes, paths: Secrets.paths(of: instance.schema), address: address)
                state.upsert(record)
                outcome.imported[address] = entry.id
            } catch {
                diagnostics.append(.error(
                    "could not import `\(address)`", detail: ErrorText.describe(error), at: entry.location, address: address))
            }
        }
        return (state, outcome, diagnostics)
    }

    /// Asks each deleted instance's provider what still points at it. A holder that this plan
    /// deletes, or moves to another value, makes the delete wait for that change; any other
    /// holder makes the delete a plan-time error naming both.
    func checkDeletes(_ changes: inout [ResourceChange], prior: StateFile) async -> Diagnostics {
        let deletes = changes.indices.filter { changes[$0].action == .delete }
        guard !deletes.isEmpty else { return Diagnostics() }
        let configuration = self.configuration
        let requests = deletes.compactMap { i -> (Int, ResourceInstanceState)? in
            prior.resource(changes[i].address.description).map { (i, $0) }
        }
        let answers = await boundedMap(requests, parallelism: options.parallelism) { (i, r) -> (Int, PlanDeleteResponse?, String?) in
            guard let provider = configuration.providers.providers[r.provider] else { return (i, nil, nil) }
            let request = PlanDeleteRequest(
                type: r.type, address: r.address, prior: ResourceObject(id: r.providerID(configuration.stateKey), attributes: r.attributes))
            do {
                return (i, try await provider.call("plan_delete \(r.address)") { try await $0.planDelete(request) }, nil)
            } catch {
                return (i, nil, ErrorText.describe(error))
            }
        }
        var byID: [String: String] = [:]  // "type id" → address
        for r in prior.resources { byID["\(r.type) \(r.providerID(configuration.stateKey))"] = r.address }
        let index = Dictionary(changes.indices.map { (changes[$0].address.description, $0) }, uniquingKeysWith: { a, _ in a })
        var diagnostics = Diagnostics()
        for (i, response, failure) in answers {
            let address = changes[i].address.description
            if let failure {
                diagnostics.append(.error("provider could not check the deletion of `\(address)`", detail: failure, address: address))
                continue
            }
            guard let response else { continue }
            diagnostics.append(contentsOf: Diagnostics(response.diagnostics.map { var d = $0.diagnostic; d.address = d.address ?? address; return d }))
            for holder in response.heldBy {
                let holderAddress = byID["\(holder.type) \(holder.id)"]
                let holderChange = holderAddress.flatMap { index[$0] }.map { changes[$0] }
                let released: Bool
                switch holderChange?.action {
                case .delete?: released = true
                case .update?, .replace?, .create?:
                    let after = holderChange?.after?[holder.attribute] ?? .null
                    released = after.containsUnknown || after != holder.value
                default: released = false
                }
                if released, let holderAddress {
                    changes[i].deleteAfter.append(holderAddress)
                    continue
                }
                let managed = holderAddress.map { " (`\($0)` in this spec)" } ?? " (not managed by this spec)"
                let remedy = holderAddress != nil
                    ? "Change `\(holder.attribute)` of `\(holderAddress!)` in this change, or keep `\(address)` until it has been moved."
                    : "Move or remove \(holder.description) outside this spec first (the provider's own commands), or keep `\(address)`."
                diagnostics.append(.error(
                    "`\(address)` would be deleted, but \(holder.description)\(managed) still points to it",
                    detail: remedy, address: address))
            }
        }
        return diagnostics
    }

    func deleteChange(_ r: ResourceInstanceState, reason: ChangeReason) -> ResourceChange {
        ResourceChange(
            address: ResourceAddress(parsing: r.address) ?? ResourceAddress(type: r.type, name: r.address),
            providerName: r.provider, action: .delete, reason: reason, createBeforeDestroy: false,
            before: r.attributes, after: nil, sensitive: r.sensitiveAttributes,
            changed: [], replacePaths: [], dependencies: r.dependencies,
            preventDestroy: configuration.spec.resource(ResourceAddress(parsing: r.address)?.resource ?? "")?.lifecycle.preventDestroy ?? false,
            warnings: [])
    }

    // MARK: outputs

    func outputChanges(prior: StateFile, planned: [String: KnownInstance], diagnostics: inout Diagnostics) -> [OutputChange] {
        var result: [OutputChange] = []
        for (output, r) in configuration.evaluateOutputs(known: { planned[$0] }, diagnostics: &diagnostics) {
            let before = prior.outputs[output.name]
            let sensitive = output.sensitive || r.sensitive
            let after = r.value
            let comparable = Secrets.redact(after, paths: output.sensitive ? [""] : r.sensitivePaths, key: configuration.stateKey)
            let action: ChangeAction = before == nil ? .create : (before!.value == comparable && !after.containsUnknown ? .noop : .update)
            result.append(OutputChange(name: output.name, action: action, before: before?.value, after: after, sensitive: sensitive))
        }
        for (name, value) in prior.outputs where !configuration.spec.outputs.contains(where: { $0.name == name }) {
            result.append(OutputChange(name: name, action: .delete, before: value.value, after: nil, sensitive: value.sensitive))
        }
        return result.sorted { $0.name < $1.name }
    }

    // MARK: helpers

    func isTargeted(_ r: ResourceInstanceState) -> Bool {
        guard !options.targets.isEmpty else { return true }
        let closure = Set(options.targets)
        // Destroying a target also destroys what depends on it.
        if closure.contains(r.address) { return true }
        if let resource = ResourceAddress(parsing: r.address)?.resource, closure.contains(resource) { return true }
        return r.dependencies.contains { d in closure.contains(d) || closure.contains(ResourceAddress(parsing: d)?.resource ?? "") }
    }

    func targetClosure() -> Set<String> {
        var start: [String] = []
        for target in options.targets {
            if let instances = configuration.instancesOfResource[target] { start += instances } else { start.append(target) }
        }
        return Set(start).union(configuration.graph.ancestors(of: start))
    }

    func currentAttributes(_ state: StateFile) -> [String: KnownInstance] {
        var out: [String: KnownInstance] = [:]
        for r in state.resources { out[r.address] = KnownInstance(r, key: configuration.stateKey) }
        return out
    }

    func schemaSensitive(_ type: String) -> Set<String> {
        configuration.providers.resourceSchema(type).map(Secrets.paths(of:)) ?? []
    }

    /// References to resources, answered from `attributes`, with the sensitive paths of what they read.
    static func lookup(
        configuration: Configuration, _ attributes: @escaping (String) -> KnownInstance?
    ) -> (ResourceAddress) -> ResourceLookup {
        { target in
            let resource = target.resource
            let type = target.type
            guard let instances = configuration.instancesOfResource[resource] else { return .missing }
            // Attributes a schema marks sensitive are sensitive even before anything is known of the instance.
            let schemaPaths = configuration.providers.resourceSchema(type).map(Secrets.paths(of:)) ?? []
            func known(_ address: String) -> KnownInstance {
                var k = attributes(address) ?? KnownInstance(attributes: ["id": .unknown])
                k.sensitive.formUnion(schemaPaths)
                return k
            }
            if target.key != nil {
                let k = known(target.description)
                return .instance(k.attributes, sensitive: k.sensitive)
            }
            if configuration.spec.resource(resource)?.forEach != nil {
                var byKey: [String: [String: Value]] = [:]
                var sensitive = false
                for address in instances {
                    guard let k = ResourceAddress(parsing: address)?.key else { continue }
                    let found = known(address)
                    byKey[k] = found.attributes
                    sensitive = sensitive || Secrets.covers(found.sensitive, "id")
                }
                return .instances(byKey, sensitive: sensitive)
            }
            let k = known(resource)
            return .instance(k.attributes, sensitive: k.sensitive)
        }
    }

    /// The planned attributes that take part in the diff: spec inputs and settable attributes always;
    /// provider-computed ones only when the provider says what they will be.
    static func comparable(_ planned: [String: Value], schema: ResourceSchema, config: [String: Value]) -> [String: Value] {
        planned.filter { key, value in
            if key == "id" { return false }
            if config[key] != nil { return true }
            guard let attribute = schema.attributes[key] else { return !value.isUnknown }
            if attribute.computed { return !value.isUnknown }
            return true
        }
    }

    static func changedKeys(_ before: [String: Value], _ after: [String: Value], only: Set<String>? = nil) -> [String] {
        var keys = Set(after.keys)
        if only == nil { keys.formUnion(before.keys) }
        return keys.filter { k in
            if let only, !only.contains(k) { return false }
            let a = before[k] ?? .null, b = after[k] ?? .null
            return b.containsUnknown || !a.sameValue(as: b)
        }.sorted()
    }

    static func merge(_ attributes: [String: Value], _ inputs: [String: Value]) -> [String: Value] {
        attributes.merging(inputs) { attribute, _ in attribute }
    }

    static func locate(_ items: [AttributeDiagnostic], instance: InstanceDecl) -> Diagnostics {
        Diagnostics(items.map { item in
            var d = item.diagnostic
            d.address = d.address ?? instance.address.description
            if d.location == nil {
                // `checks[0].method` → checks, [0], method
                let path = (item.attribute ?? "").replacingOccurrences(of: "[", with: ".[").split(separator: ".")
                d.location = instance.decl.attributes.first { $0.key == path.first.map(String.init) }?.location(of: path.dropFirst())
                    ?? instance.decl.location
            }
            return d
        })
    }
}

/// The shared, growing result of a concurrent diff: tasks of the walk record into it.
final class PlanBox: Sendable {
    private struct Recorded {
        var changes: [ResourceChange] = []
        var visible: [String: KnownInstance] = [:]
        var diagnostics = Diagnostics()
        /// The instances, and their resources, whose recorded change does something.
        var changing: Set<String> = []
    }
    private let recorded: Mutex<Recorded>
    private let removedOutside: Set<String>

    init(prior: StateFile, removedOutside: Set<String>, key: StateKey, data: [DataRead]) {
        self.removedOutside = removedOutside
        var start = Recorded()
        for r in prior.resources { start.visible[r.address] = KnownInstance(r, key: key) }
        for read in data { start.visible[read.address] = KnownInstance(read) }
        recorded = Mutex(start)
    }

    var changes: [ResourceChange] { recorded.withLock { $0.changes } }
    var visible: [String: KnownInstance] { recorded.withLock { $0.visible } }
    var diagnostics: Diagnostics { recorded.withLock { $0.diagnostics } }

    func deletedOutside(_ address: String) -> Bool { removedOutside.contains(address) }

    func record(_ change: ResourceChange, visible: [String: Value], sensitive: Set<String>, diagnostics: Diagnostics) {
        recorded.withLock {
            $0.changes.append(change)
            if change.action != .noop { $0.changing.formUnion([change.address.description, change.address.resource]) }
            $0.visible[change.address.description] = KnownInstance(attributes: visible, sensitive: sensitive)
            $0.diagnostics.append(contentsOf: diagnostics)
        }
    }

    func fail(_ diagnostics: Diagnostics) {
        recorded.withLock { $0.diagnostics.append(contentsOf: diagnostics) }
    }

    func attributes(_ address: String) -> KnownInstance? { recorded.withLock { $0.visible[address] } }

    /// Whether the instance (or resource) at `address` is planned to change.
    func isChanging(_ address: String) -> Bool { recorded.withLock { $0.changing.contains(address) } }
}

/// What a reference can read of an instance: its attributes (with its id) and which of their paths are secret.
public struct KnownInstance: Sendable, Hashable {
    public var attributes: [String: Value]
    public var sensitive: Set<String>

    public init(attributes: [String: Value], sensitive: Set<String> = []) {
        self.attributes = attributes
        self.sensitive = sensitive
    }

    init(_ r: ResourceInstanceState, key: StateKey) {
        self.init(attributes: r.referenceable(key), sensitive: r.sensitiveAttributes)
    }

    init(_ read: DataRead) {
        self.init(attributes: read.attributes.merging(["id": .string(read.id)]) { a, _ in a }, sensitive: read.sensitive)
    }
}

/// Runs `body` over `items` with at most `parallelism` at once, keeping the order of results.
func boundedMap<T: Sendable, R: Sendable>(_ items: [T], parallelism: Int, _ body: @escaping @Sendable (T) async -> R) async -> [R] {
    var results = [R?](repeating: nil, count: items.count)
    await withTaskGroup(of: (Int, R).self) { group in
        var next = 0
        for _ in 0..<min(max(1, parallelism), items.count) {
            let i = next
            group.addTask { (i, await body(items[i])) }
            next += 1
        }
        while let (i, r) = await group.next() {
            results[i] = r
            if next < items.count {
                let j = next
                group.addTask { (j, await body(items[j])) }
                next += 1
            }
        }
    }
    return results.map { $0! }
}
