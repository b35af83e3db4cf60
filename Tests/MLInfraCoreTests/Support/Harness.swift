import Foundation
import MLInfraCore

/// Plans and applies spec text against a `TestProvider` with a real local state file in a temp directory.
final class Harness: Sendable {
    let provider = TestProvider()
    let directory: URL
    let store: LocalStateStore

    init() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-test-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = LocalStateStore(path: directory.appendingPathComponent("test.mlstate.json").path)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var statePath: String { directory.appendingPathComponent("test.mlstate.json").path }

    func configuration(_ text: String, vars: [String] = []) async throws -> Configuration {
        let (c, d) = await TestSpec.configuration(text, vars: vars, provider: provider)
        guard let c else { throw DiagnosticsError(d) }
        return c
    }

    func plan(_ text: String, vars: [String] = [], options: PlanOptions = PlanOptions()) async throws -> Plan {
        let c = try await configuration(text, vars: vars)
        let state = try await store.read() ?? StateFile.new()
        let (plan, d) = await Planner(configuration: c, options: options).plan(state: state)
        guard let plan else { throw DiagnosticsError(d) }
        return plan
    }

    @discardableResult
    func apply(_ text: String, vars: [String] = [], options: PlanOptions = PlanOptions(), continueOnError: Bool = false) async throws -> ApplyResult {
        let c = try await configuration(text, vars: vars)
        let state = try await store.read() ?? StateFile.new()
        let (plan, d) = await Planner(configuration: c, options: options).plan(state: state)
        guard let plan else { throw DiagnosticsError(d) }
        return await Applier(
            configuration: c, plan: plan, store: store,
            options: ApplyOptions(parallelism: 4, continueOnError: continueOnError, context: ApplyContext(actor: "test"))
        ).apply()
    }

    func state() async throws -> StateFile { try await store.read() ?? StateFile.new() }
}

let specHead = "mlinfra: 1\nproject: demo\n"
/// One resource with a secret, and the same with another label (an update).
let oneThing = specHead + "resources:\n  thing.a: { size: 1, label: first, secret: s3cr3t-value }\n"
let relabelled = specHead + "resources:\n  thing.a: { size: 1, label: second, secret: s3cr3t-value }\n"
