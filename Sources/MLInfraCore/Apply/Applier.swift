import Foundation
import Synchronization

public struct ApplyOptions: Sendable {
    public var parallelism: Int
    /// Carry on with branches that do not depend on a failed operation.
    public var continueOnError: Bool
    public var context: ApplyContext

    public init(parallelism: Int = 10, continueOnError: Bool = false, context: ApplyContext) {
        self.parallelism = parallelism
        self.continueOnError = continueOnError
        self.context = context
    }
}

/// One step of an apply: create or update an instance, or delete one.
public enum ApplyOperation: Hashable, Sendable, CustomStringConvertible {
    case apply(String)
    case delete(String)

    public var address: String {
        switch self {
        case .apply(let a), .delete(let a): a
        }
    }

    public var description: String {
        switch self {
        case .apply(let a): "apply \(a)"
        case .delete(let a): "delete \(a)"
        }
    }
}

/// Hears about each operation as it starts and ends (the CLI prints progress from it).
public protocol ApplyObserver: Sendable {
    func started(_ operation: ApplyOperation, action: ChangeAction)
    func finished(_ operation: ApplyOperation, action: ChangeAction, seconds: Double, error: Diagnostics?)
}

public struct ApplyResult: Sendable {
    public var state: StateFile
    public var succeeded: [ApplyOperation]
    public var failed: [ApplyOperation]
    public var skipped: [ApplyOperation]
    public var interrupted: Bool
    public var diagnostics: Diagnostics
    public var outputs: [String: OutputState]

    public var ok: Bool { failed.isEmpty && !interrupted && !diagnostics.hasErrors }
}

/// Carries out a plan: walks the operations concurrently in dependency order through the
/// providers, and records every finished operation in the state journal at once.
public struct Applier: Sendable {
    public let configuration: Configuration
    public let plan: Plan
    public let store: any StateStore
    public let options: ApplyOptions
    public let observer: (any ApplyObserver)?
    /// The spec's secrets and those providers report while applying: scrubbed from every diagnostic.
    public let seen: SecretsSeen

    public init(configuration: Configuration, plan: Plan, store: any StateStore, options: ApplyOptions, observer: (any ApplyObserver)? = nil) {
        self.configuration = configuration
        self.plan = plan
        self.store = store
        self.options = options
        self.observer = observer
        self.seen = SecretsSeen(configuration.redactor)
    }

    /// The operations and their order constraints.
    public func operationGraph() -> DAG<ApplyOperation> {
        var graph = DAG<ApplyOperation>()
        var changes: [String: ResourceChange] = [:]
        for change in plan.changes where change.isChange { changes[change.address.description] = change }
        for (address, change) in changes {
            switch change.action {
            case .create, .update: graph.add(.apply(address))
            case .delete: graph.add(.delete(address))
            case .replace:
                if change.createBeforeDestroy {
                    graph.connect(.delete(address), dependsOn: .apply(address))
                } else {
                    graph.connect(.apply(address), dependsOn: .delete(address))
                }
            case .noop, .read: break
            }
        }
        for (address, change) in changes {
            if graph.contains(.apply(address)) {
                for d in change.dependencies where graph.contains(.apply(d)) {
                    graph.connect(.apply(address), dependsOn: .apply(d))
                }
            }
            if change.action == .delete {
                for holder in change.deleteAfter {
                    if graph.contains(.apply(holder)) { graph.connect(.delete(address), dependsOn: .apply(holder)) }
                    if graph.contains(.delete(holder)) && holder != address { graph.connect(.delete(address), dependsOn: .delete(holder)) }
                }
            }
            // What used to depend on a deleted instance goes first: its delete, or its update away from it.
            let priorDependencies = plan.priorState.resource(address)?.dependencies ?? []
            for d in priorDependencies where graph.contains(.delete(d)) {
                if graph.contains(.delete(address)) { graph.connect(.delete(d), dependsOn: .delete(address)) }
                if change.action == .update && changes[d]?.action == .delete {
                    graph.connect(.delete(d), dependsOn: .apply(address))
                }
            }
        }
        return graph
    }

    public func apply(interrupted: @escaping @Sendable () -> Bool = { false }) async -> ApplyResult {
        let graph = operationGraph()
        if let cycle = graph.cycle() {
            return ApplyResult(
                state: plan.priorState, succeeded: [], failed: [], skipped: graph.nodes, interrupted: false,
                diagnostics: Diagnostics([.error(
                    "the operations of this plan depend on each other in a circle: \(cycle.map(\.description).joined(separator: " → "))",
                    detail: "Nothing was changed. Break the cycle, e.g. with `create_before_destroy`, or apply in two steps.")]),
                outputs: plan.priorState.outputs)
        }
        let box = ApplyBox(state: plan.priorState, configuration: configuration, data: plan.dataReads)
        let journal = JournalWriter(store: store)
        var diagnostics = Diagnostics()
        do {
            try await journal.begin(base: plan.priorState)
        } catch {
            diagnostics.append(.error("could not start the state journal", detail: ErrorText.describe(error)))
            return ApplyResult(state: plan.priorState, succeeded: [], failed: [], skipped: [], interrupted: false, diagnostics: diagnostics, outputs: plan.priorState.outputs)
        }
        let changes = Dictionary(plan.changes.map { ($0.address.description, $0) }, uniquingKeysWith: { a, _ in a })
        let continueOnError = options.continueOnError
        let outcomes = await graph.walk(
            parallelism: max(1, options.parallelism),
            shouldContinue: { !interrupted() && (continueOnError || !box.hasFailure) }
        ) { operation in
            guard let change = changes[operation.address] else { return true }
            let started = ContinuousClock.now
            observer?.started(operation, action: change.action)
            let problems = await perform(operation, change: change, box: box, journal: journal).map(seen.scrub)
            let seconds = (ContinuousClock.now - started).seconds
            observer?.finished(operation, action: change.action, seconds: seconds, error: problems)
            if let problems {
                box.failed(problems)
                return false
            }
            return true
        }

        // Outputs, when every operation went through.
        var result = ApplyResult(
            state: plan.priorState, succeeded: [], failed: [], skipped: [], interrupted: interrupted(), diagnostics: box.diagnostics,
            outputs: [:])
        for (operation, outcome) in outcomes.sorted(by: { $0.key.description < $1.key.description }) {
            switch outcome {
            case .succeeded: result.succeeded.append(operation)
            case .failed: result.failed.append(operation)
            case .skipped: result.skipped.append(operation)
            }
        }
        var state = box.state
        if result.failed.isEmpty && result.skipped.isEmpty {
            var outputDiagnostics = Diagnostics()
            var outputs: [String: OutputState] = [:]
            for (output, r) in configuration.evaluateOutputs(known: { box.known($0) }, diagnostics: &outputDiagnostics) {
                let sensitive = output.sensitive || r.sensitive
                let stored = Secrets.redact(r.value, paths: output.sensitive ? [""] : r.sensitivePaths, key: configuration.stateKey)
                outputs[output.name] = OutputState(value: stored, sensitive: sensitive)
            }
            if plan.mode == .destroy { outputs = [:] }
            result.diagnostics.append(contentsOf: outputDiagnostics)
            if outputs != state.outputs {
                state.outputs = outputs
                do { try await journal.append(.outputs(outputs)) } catch {
                    result.diagnostics.append(.error("could not record outputs in the state journal", detail: ErrorText.describe(error)))
                }
            }
            result.outputs = outputs
        } else {
            result.outputs = state.outputs
        }
        do {
            try await DebugLog.timed("state: commit the journal") { try await journal.commit(state) }
            if let written = try await store.read() { state = written }
        } catch {
            result.diagnostics.append(.error(
                "could not write the state file", detail: "\(ErrorText.describe(error))\nEvery finished operation is in the journal; the next command recovers it."))
        }
        result.state = state
        result.diagnostics = seen.scrub(result.diagnostics)
        return result
    }

    /// Carries out one operation; returns its problems, or nil when it went through.
    func perform(_ operation: ApplyOperation, change: ResourceChange, box: ApplyBox, journal: JournalWriter) async -> Diagnostics? {
        let address = operation.address
        let key = configuration.stateKey
        guard let provider = configuration.providers.providers[change.providerName] else {
            return Diagnostics([.error("provider `\(change.providerName)` is not configured", address: address)])
        }
        let prior = plan.priorState.resource(address)
        switch operation {
        case .delete:
            guard let prior else { return nil }
            let request = ApplyRequest(
                type: prior.type, address: address, action: .delete, prior: ResourceObject(id: prior.providerID(key), attributes: prior.attributes),
                config: [:], planned: [:], context: options.context)
            do {
                let response = try await provider.call("apply delete \(address)") { try await $0.apply(request) }
                let problems = Diagnostics(response.diagnostics.map { var d = $0; d.address = d.address ?? address; return d })
                if problems.hasErrors { return problems }
            } catch {
                return Diagnostics([.error("could not delete `\(address)`", detail: ErrorText.afterFailedCall(error, applying: true), address: address)])
            }
            // A create-before-destroy replacement already holds the address.
            if !(change.action == .replace && change.createBeforeDestroy) {
                box.remove(address)
                do { try await journal.append(.remove(address: address)) } catch {
                    return Diagnostics([.error("deleted `\(address)` but could not record it in the state journal", detail: ErrorText.describe(error), address: address)])
                }
            }
            return nil

        case .apply:
            guard let instance = configuration.instance(address) else {
                return Diagnostics([.error("`\(address)` is not in the spec", address: address)])
            }
            let evaluated = configuration.evaluate(
                instance, known: { box.known($0) }, keepingIgnoredFrom: change.action == .update ? prior : nil)
            let config = evaluated.config
            var sensitive = evaluated.sensitive.union(change.sensitive)
            if evaluated.diagnostics.hasErrors { return evaluated.diagnostics }
            if let unknown = config.first(where: { $0.value.containsUnknown }) {
                return Diagnostics([.error(
                    "`\(unknown.key)` of `\(address)` is still unknown after its dependencies were applied",
                    detail: "A provider did not report an attribute it planned as `(known after apply)`.", address: address)])
            }
            let action: ApplyAction = change.action == .update ? .update : .create
            let priorObject = (action == .update) ? prior.map { ResourceObject(id: $0.providerID(key), attributes: $0.attributes) } : nil
            var context = options.context
            if action == .create {
                // The id as state keeps it (sealed when it holds a secret), so the key never carries a secret.
                context.creationKey = "\(plan.priorState.lineage)/\(address)" + (prior.map { "/replacing/\($0.id)" } ?? "")
            }
            let request = ApplyRequest(
                type: instance.address.type, address: address, action: action, prior: priorObject, config: config,
                planned: change.after ?? [:], context: context)
            let response: ApplyResponse
            do {
                response = try await provider.call("apply \(request.action.rawValue) \(address)") { try await $0.apply(request) }
            } catch {
                return Diagnostics([.error(
                    "could not \(action.rawValue) `\(address)`", detail: ErrorText.afterFailedCall(error, applying: true), at: instance.decl.location,
                    address: address)])
            }
            let problems = Diagnostics(response.diagnostics.map { var d = $0; d.address = d.address ?? address; return d })
            guard let new = response.new else {
                return problems.hasErrors ? problems : Diagnostics([.error("provider returned nothing for `\(address)`", address: address)])
            }
            // What the provider built from a secret (an id, a path) is a secret too.
            let secrets = Secrets.texts(in: config, paths: sensitive)
            sensitive.formUnion(Secrets.derived(new.attributes.merging(["id": .string(new.id)]) { a, _ in a }, from: secrets, besides: sensitive))
            seen.learn(new.attributes, paths: sensitive, address: address)
            let inconsistent = problems.hasErrors ? Diagnostics() : Self.inconsistencies(
                of: new, planned: change.after ?? [:], config: config, schema: instance.schema, sensitive: sensitive, key: key,
                provider: change.providerName, address: address)
            let failed = problems.hasErrors || inconsistent.hasErrors
            let record = ResourceInstanceState(
                // An id built from a secret is kept sealed under the state key: state needs it, readers of the file must not see it.
                address: address, type: instance.address.type, provider: instance.providerName,
                id: sensitive.contains("id") ? key.seal(new.id) : new.id,
                status: failed ? .tainted : .ready,
                inputs: Secrets.redact(config, paths: sensitive, key: key),
                attributes: Secrets.redact(new.attributes, paths: sensitive, key: key),
                sensitivePaths: ResourceInstanceState.sensitivePaths(sensitive), dependencies: instance.dependencies,
                schemaVersion: instance.schema.version)
            box.record(record, known: KnownInstance(
                attributes: Planner.merge(new.attributes.merging(["id": .string(new.id)]) { a, _ in a }, config), sensitive: sensitive))
            do { try await journal.append(.upsert(record)) } catch {
                return Diagnostics([.error("applied `\(address)` but could not record it in the state journal", detail: ErrorText.describe(error), address: address)])
            }
            if inconsistent.hasErrors {
                var all = problems
                all.append(contentsOf: inconsistent)
                return all
            }
            return problems.hasErrors ? problems : nil
        }
    }

    /// Where a provider's result departs from the plan it made, in Terraform's sense ("provider
    /// produced an inconsistent result after apply"): an attribute whose planned value was known
    /// came back with another value. Parts planned unknown may take any value, except that a
    /// settable, non-computed attribute must come back as the config it was applied with.
    /// Secrets compare by their HMACs under `key` and are never shown.
    static func inconsistencies(
        of new: ResourceObject, planned: [String: Value], config: [String: Value], schema: ResourceSchema, sensitive: Set<String>,
        key: StateKey, provider: String, address: String
    ) -> Diagnostics {
        var result = new.attributes
        result["id"] = .string(new.id)
        var diagnostics = Diagnostics()
        for name in planned.keys.sorted() {
            var expected = planned[name]!
            let attribute = schema.attributes[name]
            if expected.containsUnknown, let attribute, !attribute.computed, let given = config[name] { expected = given }
            // The core fills a null the provider did not plan; a computed attribute may then get its default.
            if expected.isNull, attribute?.computed ?? true { continue }
            let actual = result[name] ?? .null
            if conforms(actual, to: expected, key: key) { continue }
            let was = Secrets.display(expected, at: name, sensitive: sensitive)
            let now = Secrets.display(actual, at: name, sensitive: sensitive)
            diagnostics.append(.error(
                "Provider \"\(provider)\" produced an inconsistent result after apply: \(address): attribute \"\(name)\" was \(was) in the plan, "
                    + "but \(was == now ? "another \(now)" : now) after apply",
                detail: "This is a bug in the provider; the resource is marked tainted and will be replaced on the next apply. "
                    + "Report it to the provider's authors with the plan and this message.",
                address: address))
        }
        return diagnostics
    }

    /// True when `value` is what `planned` said: equal where the plan knew, anything where it was unknown.
    static func conforms(_ value: Value, to planned: Value, key: StateKey) -> Bool {
        if Secrets.isRedacted(planned) { return Secrets.redact(value, key: key) == planned }
        switch (planned, value) {
        case (.unknown, _): return true
        case (.list(let p), .list(let v)):
            return p.count == v.count && zip(v, p).allSatisfy { conforms($0, to: $1, key: key) }
        case (.map(let p), .map(let v)):
            return Set(p.keys).union(v.keys).allSatisfy { conforms(v[$0] ?? .null, to: p[$0] ?? .null, key: key) }
        default:
            return planned.sameValue(as: value)
        }
    }
}

/// The state as an apply changes it, shared by the walk's tasks.
final class ApplyBox: Sendable {
    private struct Progress {
        var state: StateFile
        var known: [String: KnownInstance] = [:]
        var diagnostics = Diagnostics()
        var failed = false
    }
    private let progress: Mutex<Progress>

    private let key: StateKey

    init(state: StateFile, configuration: Configuration, data: [DataRead]) {
        var start = Progress(state: state)
        key = configuration.stateKey
        // References to data sources read what the plan read.
        for read in data { start.known[read.address] = KnownInstance(read) }
        progress = Mutex(start)
    }

    var state: StateFile { progress.withLock { $0.state } }
    var diagnostics: Diagnostics { progress.withLock { $0.diagnostics } }
    var hasFailure: Bool { progress.withLock { $0.failed } }

    /// Attributes of an instance for references: what this apply produced, else what state holds.
    func known(_ address: String) -> KnownInstance? {
        progress.withLock { p in
            if let k = p.known[address] { return k }
            return p.state.resource(address).map { KnownInstance($0, key: key) }
        }
    }

    func record(_ r: ResourceInstanceState, known: KnownInstance) {
        progress.withLock {
            $0.state.upsert(r)
            $0.known[r.address] = known
        }
    }

    func remove(_ address: String) {
        progress.withLock {
            $0.state.remove(address)
            $0.known[address] = nil
        }
    }

    func failed(_ diagnostics: Diagnostics) {
        progress.withLock {
            $0.failed = true
            $0.diagnostics.append(contentsOf: diagnostics)
        }
    }
}

/// Journal calls from concurrent operations; the store orders them and syncs appends in groups,
/// so operations that finish together share one fsync.
struct JournalWriter: Sendable {
    let store: any StateStore
    init(store: any StateStore) { self.store = store }
    func begin(base: StateFile) async throws { try await store.beginJournal(base: base) }
    func append(_ entry: JournalEntry) async throws { try await store.append(entry) }
    func commit(_ state: StateFile) async throws { try await store.commitJournal(state) }
}
