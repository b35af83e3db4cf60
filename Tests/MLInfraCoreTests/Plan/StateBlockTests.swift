import Foundation
import MLInfraCore
import Testing

/// `moved`, `import` and `removed` entries: shown in the plan, carried out by apply, touching no object they need not.
@Suite struct StateBlockTests {
    static let module = "variables:\n  size: { type: int }\nresources:\n  thing.a: { size: \"${var.size}\" }\noutputs:\n  id: ${thing.a.id}\n"

    @Test func aResourceMovedIntoAModuleIsNeitherDestroyedNorCreated() async throws {
        let spec = try ModuleSpec(["main.yaml": specHead + "resources:\n  thing.old: { size: 2 }\n"])
        try await spec.apply()
        let id = try #require(try await spec.harness.state().resource("thing.old")?.id)
        try spec.write([
            "main.yaml": specHead + """
                modules:
                  app: { source: ./modules/app, inputs: { size: 2 } }
                moved:
                  - { from: thing.old, to: module.app.thing.a }
                """,
            "modules/app/main.yaml": Self.module,
        ])
        let plan = try await spec.plan()
        #expect(plan.resourceChanges.isEmpty)
        #expect(plan.change("module.app.thing.a")?.movedFrom == "thing.old")
        #expect(plan.stateChanges.map(\.description) == ["module.app.thing.a moved from thing.old"])
        #expect(plan.hasChanges)
        let calls = spec.harness.provider.callLog.count
        try await spec.apply()
        #expect(spec.harness.provider.callLog.count == calls, "apply called the provider: \(spec.harness.provider.callLog)")
        let state = try await spec.harness.state()
        #expect(state.resource("thing.old") == nil)
        #expect(state.resource("module.app.thing.a")?.id == id)
        // The entry may stay: once moved, it does nothing.
        let again = try await spec.plan()
        #expect(!again.hasChanges)
    }

    @Test func movedWithForEachMovesEachInstance() async throws {
        let spec = try ModuleSpec(["main.yaml": specHead + "resources:\n  thing.a: { for_each: [x, y], size: 1 }\n"])
        try await spec.apply()
        try spec.write(["main.yaml": specHead + """
            resources:
              thing.b: { for_each: [x, y], size: 1 }
            moved:
              - for_each: [x, y]
                from: 'thing.a["${each.key}"]'
                to: 'thing.b["${each.key}"]'
            """])
        let plan = try await spec.plan()
        #expect(plan.resourceChanges.isEmpty)
        #expect(plan.stateChanges.map(\.description) == ["thing.b[\"x\"] moved from thing.a[\"x\"]", "thing.b[\"y\"] moved from thing.a[\"y\"]"])
        try await spec.apply()
        #expect(try await spec.harness.state().resources.map(\.address).sorted() == ["thing.b[\"x\"]", "thing.b[\"y\"]"])
    }

    @Test func importBringsAnObjectUnderAnAddressWithoutCreatingIt() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + """
                modules:
                  app: { source: ./modules/app, inputs: { size: 7 } }
                """,
            "modules/app/main.yaml": Self.module + "import:\n  - { to: thing.a, id: ext-1 }\n",
        ])
        spec.harness.provider.setObject("ext-1", ["size": 7, "url": "test://ext-1", "serial": 1])
        let plan = try await spec.plan()
        let change = try #require(plan.change("module.app.thing.a"))
        #expect(change.importID == "ext-1")
        #expect(change.action == .noop)
        #expect(plan.stateChanges.map(\.description) == ["module.app.thing.a will be imported (id ext-1)"])
        try await spec.apply()
        #expect(!spec.harness.provider.callLog.contains { $0.hasPrefix("create") })
        #expect(try await spec.harness.state().resource("module.app.thing.a")?.id == "ext-1")
        #expect(!(try await spec.plan().hasChanges))
    }

    @Test func anImportOfAnObjectThatDoesNotExistIsADiagnostic() async throws {
        let spec = try ModuleSpec(["main.yaml": specHead + "resources:\n  thing.a: { size: 1 }\nimport:\n  - { to: thing.a, id: nope }\n"])
        await #expect(throws: DiagnosticsError.self) { try await spec.plan() }
        let (c, _) = spec.configuration()
        let (_, diagnostics) = await Planner(configuration: try #require(c), options: PlanOptions()).plan(state: StateFile.new())
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary == "`import` into `thing.a`: no `thing` with id `nope` exists")
        #expect(error.location?.line == 6)
    }

    @Test func removedForgetsWithoutDestroying() async throws {
        let spec = try ModuleSpec(["main.yaml": specHead + "resources:\n  thing.keep: { size: 1 }\n  thing.gone: { size: 2 }\n"])
        try await spec.apply()
        let goneID = try #require(try await spec.harness.state().resource("thing.gone")?.id)
        try spec.write(["main.yaml": specHead + "resources:\n  thing.keep: { size: 1 }\nremoved:\n  - { from: thing.gone }\n"])
        let plan = try await spec.plan()
        #expect(plan.resourceChanges.isEmpty)
        #expect(plan.stateChanges.map(\.description) == ["thing.gone will be forgotten: removed from state, not destroyed"])
        try await spec.apply()
        #expect(try await spec.harness.state().resource("thing.gone") == nil)
        #expect(spec.harness.provider.object(goneID) != nil)
        #expect(!spec.harness.provider.callLog.contains { $0.hasPrefix("delete") })
    }

    @Test(arguments: [
        ("resources:\n  thing.a: { size: 1 }\nremoved:\n  - { from: thing.a }\n", "`removed` names `thing.a`, which is still in the spec", 6),
        ("resources:\n  thing.a: { size: 1 }\nimport:\n  - { to: thing.b, id: x }\n", "`import` names `thing.b`, which is not an instance in the spec", 6),
        ("resources:\n  thing.a: { size: 1 }\nmoved:\n  - { from: group.a, to: thing.a }\n", "`moved` cannot turn a `group` into a `thing`", 6),
        ("moved:\n  - { from: thing.a }\n", "a `moved` entry needs `to`", 4),
        ("moved:\n  - { from: thing.a, to: thing.b, form: x }\n", "unknown setting `form` of a `moved` entry", 4),
    ])
    func badStateBlocksAreDiagnostics(_ text: String, _ summary: String, _ line: Int) async throws {
        let (_, diagnostics) = await TestSpec.configuration(specHead + text)
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary == summary)
        #expect(error.location?.line == line)
        #expect(error.location?.file == "main.yaml")
    }
}
