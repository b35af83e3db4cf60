import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing

/// `plan_delete` on the wire: a plugin gets the same delete safety as a built-in provider.
@Suite struct PluginPlanDeleteTests {
    static let both = "mlinfra: 1\nproject: holds\nresources:\n  fake_thing.alpha: { size: 1 }\n  fake_link.l: { target: \"${fake_thing.alpha}\" }\n"
    static let none = "mlinfra: 1\nproject: holds\nresources: {}\n"

    /// What planning a delete said: the errors, and which changes the deletes wait for.
    struct Outcome: Equatable {
        var errors: [String]
        var deleteAfter: [String: [String]]
    }

    /// Creates a thing and a link to it, then plans `after` from a state that holds them
    /// (or, with `forgetLink`, only the thing: the link is then not managed by the spec).
    static func planDeletes(with provider: any Provider, forgetLink: Bool, after: String) async throws -> Outcome {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-holds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        _ = try await provider.configure(ConfigureRequest(config: [:], workingDirectory: directory.path))
        let store = LocalStateStore(path: directory.appendingPathComponent("holds.mlstate.json").path)

        let first = try configuration(both, provider: provider)
        let (plan, planned) = await Planner(configuration: first, options: PlanOptions()).plan(state: StateFile.new())
        let created = try #require(plan, "\(planned)")
        let result = await Applier(
            configuration: first, plan: created, store: store, options: ApplyOptions(context: ApplyContext(actor: "test"))
        ).apply()
        #expect(result.ok, "\(result.diagnostics)")
        var state = result.state
        if forgetLink { state.remove("fake_link.l") }

        let (deleting, diagnostics) = await Planner(configuration: try configuration(after, provider: provider), options: PlanOptions())
            .plan(state: state)
        var waits: [String: [String]] = [:]
        for change in deleting?.changes ?? [] where !change.deleteAfter.isEmpty { waits[change.address.description] = change.deleteAfter }
        return Outcome(errors: diagnostics.items.filter { $0.severity == .error }.map(\.summary), deleteAfter: waits)
    }

    static func configuration(_ text: String, provider: any Provider) throws -> Configuration {
        let (spec, loaded) = SpecLoader.load(sources: [("main.yaml", text)])
        let (variables, resolved) = VariableValues.resolve(try #require(spec, "\(loaded)"), inputs: VariableInputs())
        #expect(!resolved.hasErrors)
        let (configuration, built) = Configuration.build(
            spec: spec!, variables: variables, providers: ProviderSet.with([("fake", provider, FakeProvider.makeSchema())]))
        return try #require(configuration, "\(built)")
    }

    @Test func deleteHeldByAnUnmanagedObjectIsRefusedOverThePluginAsInProcess() async throws {
        let plugin = try PluginTestSupport.fakePlugin()
        let overWire = try await Self.planDeletes(with: plugin, forgetLink: true, after: Self.none)
        await plugin.shutdown()
        let inProcess = try await Self.planDeletes(with: FakeProvider(), forgetLink: true, after: Self.none)
        #expect(overWire.errors == ["`fake_thing.alpha` would be deleted, but link alpha/l (not managed by this spec) still points to it"])
        #expect(overWire == inProcess)
    }

    @Test func deleteHeldByAnObjectThePlanDeletesWaitsForItOverThePlugin() async throws {
        let plugin = try PluginTestSupport.fakePlugin()
        let overWire = try await Self.planDeletes(with: plugin, forgetLink: false, after: Self.none)
        await plugin.shutdown()
        let inProcess = try await Self.planDeletes(with: FakeProvider(), forgetLink: false, after: Self.none)
        #expect(overWire.errors.isEmpty)
        #expect(overWire.deleteAfter == ["fake_thing.alpha": ["fake_link.l"]])
        #expect(overWire == inProcess)
    }

    @Test func planDeleteRequestAndAnswerCrossTheWireIntact() async throws {
        let plugin = try PluginTestSupport.fakePlugin()
        defer { Task { await plugin.shutdown() } }
        _ = try await plugin.configure(ConfigureRequest(config: [:], workingDirectory: NSTemporaryDirectory()))
        for (type, config) in [("fake_thing", ["size": Value.int(1), "name": "beta"]), ("fake_link", ["target": "beta", "name": "x"])] {
            let address = "\(type).\(config["name"]!.stringValue!)"
            let response = try await plugin.apply(
                ApplyRequest(type: type, address: address, action: .create, prior: nil, config: config, planned: [:], context: PluginTestSupport.context))
            #expect(response.new != nil, "\(response.diagnostics)")
        }
        let answer = try await plugin.planDelete(
            PlanDeleteRequest(type: "fake_thing", address: "fake_thing.beta", prior: ResourceObject(id: "beta", attributes: ["size": 1])))
        #expect(answer.heldBy == [DeleteHolder(type: "fake_link", id: "beta/x", attribute: "target", value: "beta", description: "link beta/x")])
    }

    @Test func pluginWithoutPlanDeleteIsTakenToSayNothingHoldsIt() async throws {
        let directory = try PluginTestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plugin = try PluginTestSupport.filesPlugin()
        defer { Task { await plugin.shutdown() } }
        _ = try await plugin.configure(ConfigureRequest(config: ["root": "files"], workingDirectory: directory.path))
        let answer = try await plugin.planDelete(
            PlanDeleteRequest(type: "text_file", address: "text_file.a", prior: ResourceObject(id: "a.txt", attributes: [:])))
        #expect(answer.heldBy.isEmpty)
        #expect(answer.diagnostics.isEmpty)
    }
}
