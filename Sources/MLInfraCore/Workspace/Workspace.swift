import Foundation

/// A spec made ready for planning: loaded, variables resolved, providers configured,
/// expanded and checked, with its state store. Commands build one of these and hand it on.
public struct Workspace: Sendable {
    public var spec: SpecDocument
    public var variables: VariableValues
    public var configuration: Configuration
    public var statePath: String
    public var store: any StateStore
    /// A hash of everything the plan is computed from: spec files and variable values.
    public var inputHash: String

    /// The workspace name (`--workspace`, `MLINFRA_WORKSPACE`, or `mlinfra workspace select`): one state per environment.
    public var name: String
    /// Where the state lives, as the backend resolved it.
    public var backend: StateBackend
    /// How state, journal and saved plans are encrypted at rest (`StateEncryption.load`).
    public var encryption: StateEncryption

    /// Loads the spec at `specPath` and everything that follows from it. All problems come back as diagnostics.
    /// `makeStore` opens the store for a backend; without it only the local backend is available.
    /// `loadsStateKey: false` (for `validate`, which never touches state) leaves the key file alone
    /// and uses a key of this process only.
    public static func open(
        specPath: String, inputs: VariableInputs, catalog: ProviderCatalog, stateOverride: String? = nil,
        workspace name: String = StateBackend.defaultWorkspace, makeStore: StateStoreMaker? = nil, loadsStateKey: Bool = true
    ) async -> (Workspace?, Diagnostics) {
        var diagnostics = Diagnostics()
        let (loaded, specDiagnostics) = SpecLoader.load(path: specPath)
        diagnostics.append(contentsOf: specDiagnostics)
        guard let spec = loaded else { return (nil, diagnostics) }
        let (variables, variableDiagnostics) = VariableValues.resolve(spec, inputs: inputs)
        diagnostics.append(contentsOf: variableDiagnostics)
        // Whatever a provider or a check says from here on may quote a secret.
        let redactor = Redactor.of(variables: variables)
        guard !diagnostics.hasErrors else { return (nil, redactor.scrub(diagnostics)) }
        let (providers, providerDiagnostics) = await ProviderSet.configure(spec: spec, variables: variables, catalog: catalog)
        diagnostics.append(contentsOf: providerDiagnostics)
        guard !diagnostics.hasErrors else { return (nil, redactor.scrub(diagnostics)) }
        let (built, configurationDiagnostics) = Configuration.build(spec: spec, variables: variables, providers: providers)
        diagnostics.append(contentsOf: configurationDiagnostics)
        guard var configuration = built, !diagnostics.hasErrors else { return (nil, redactor.scrub(diagnostics)) }
        diagnostics.append(contentsOf: await configuration.validateWithProviders())
        guard !diagnostics.hasErrors else { return (nil, redactor.scrub(diagnostics)) }
        let backend: StateBackend
        if let stateOverride {
            backend = .local(path: stateOverride)
        } else {
            guard let resolved = StateBackend.resolve(spec: spec, variables: variables, workspace: name, diagnostics: &diagnostics) else {
                return (nil, redactor.scrub(diagnostics))
            }
            backend = resolved
        }
        guard !diagnostics.hasErrors else { return (nil, redactor.scrub(diagnostics)) }
        var encryption = StateEncryption.none
        if loadsStateKey {
            do {
                configuration.stateKey = try StateKey.load(for: backend, environment: ProcessInfo.processInfo.environment)
            } catch {
                diagnostics.append(.error("cannot read or create the state key", detail: ErrorText.describe(error)))
                return (nil, redactor.scrub(diagnostics))
            }
            do {
                encryption = try StateEncryption.load(for: backend, environment: ProcessInfo.processInfo.environment)
            } catch {
                diagnostics.append(.error("cannot set up state encryption", detail: "\(error)"))
                return (nil, redactor.scrub(diagnostics))
            }
        }
        let store: any StateStore
        do {
            store = try (makeStore ?? StateBackend.localOnly)(backend, encryption)
        } catch {
            diagnostics.append(.error(ErrorText.describe(error), at: spec.backend?.location))
            return (nil, redactor.scrub(diagnostics))
        }
        return (
            Workspace(
                spec: spec, variables: variables, configuration: configuration, statePath: store.location,
                store: store, inputHash: Self.inputHash(spec: spec, variables: variables, key: configuration.stateKey), name: name,
                backend: backend, encryption: encryption),
            redactor.scrub(diagnostics)
        )
    }

    /// Whether each journal append waits for fsync. A written line survives the process being killed
    /// (the kernel holds it); fsync adds safety against power loss at the cost of one sync per
    /// operation. Off by default; `MLINFRA_JOURNAL_FSYNC=1` turns it on. The state file itself is
    /// always written with fsync.
    public static var syncsJournal: Bool { ProcessInfo.processInfo.environment["MLINFRA_JOURNAL_FSYNC"] == "1" }

    /// Where the default workspace's local state lives: the backend's path, or `state/<project>.mlstate.json`, relative to the spec.
    public static func statePath(spec: SpecDocument, variables: VariableValues, diagnostics: inout Diagnostics) -> String {
        var relative = "state/\(spec.project).mlstate.json"
        if let path = spec.backend?.path {
            var evaluator = Evaluator.beforeResources(spec, variables: variables)
            let value = evaluator.evaluate(path, diagnostics: &diagnostics).value
            if let text = value.stringValue { relative = text } else {
                diagnostics.append(.error("the backend path must be text", at: path.location))
            }
        }
        if relative.hasPrefix("/") { return relative }
        return URL(fileURLWithPath: spec.rootDirectory).appendingPathComponent(relative).standardizedFileURL.path
    }

    /// Files are named relative to the spec's root, so a plan made in one checkout (a CI runner's)
    /// still matches in another checkout of the same commit. Sensitive values enter only as HMACs
    /// under the state key, so the hash a plan file keeps cannot be checked against guesses of a secret.
    static func inputHash(spec: SpecDocument, variables: VariableValues, key: StateKey) -> String {
        var hasher = SHA256()
        let root = URL(fileURLWithPath: spec.rootDirectory).standardizedFileURL.path + "/"
        for file in spec.files.sorted() {
            let name = file.hasPrefix(root) ? String(file.dropFirst(root.count)) : file
            hasher.update(data: Data((name + "\u{0}").utf8))
            hasher.update(data: FileManager.default.contents(atPath: file) ?? Data())
            hasher.update(data: Data([0]))
        }
        for name in variables.values.keys.sorted() {
            let value = variables.values[name]!
            let text = variables.sensitive.contains(name) ? "hmac:" + key.mac(Secrets.canonicalText(value)) : Secrets.canonicalText(value)
            hasher.update(data: Data((name + "=" + text + "\u{0}").utf8))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

import Crypto

/// Hex sha256 digests.
public enum SHA256Text {
    public static func hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}
