import Foundation
import MLInfraCore
import Testing

/// `data.TYPE.NAME`: looked up through the provider's `read` at plan time, usable in references, shown in the plan.
@Suite struct DataSourceTests {
    @Test func aDataSourceIsReadAtPlanTimeAndUsableInReferences() async throws {
        let harness = Harness()
        harness.provider.setObject("ext-old", ["size": 1, "label": "blue", "url": "test://old", "serial": 1])
        harness.provider.setObject("ext-new", ["size": 2, "label": "blue", "url": "test://new", "serial": 5])
        harness.provider.setObject("ext-red", ["size": 3, "label": "red", "url": "test://red", "serial": 9])
        let text = specHead + """
            variables:
              colour: { type: string, default: blue }
            data:
              thing.latest: { label: "${var.colour}" }
            resources:
              thing.user:
                size: ${data.thing.latest.size}
                ref: "${data.thing.latest.url}#${data.thing.latest}"
            outputs:
              latest: ${data.thing.latest.url}
            """
        let plan = try await harness.plan(text)
        #expect(plan.dataReads.map(\.address) == ["data.thing.latest"])
        #expect(plan.dataReads.first?.id == "ext-new")
        let change = try #require(plan.change("thing.user"))
        #expect(change.after?["size"] == .int(2))
        #expect(change.after?["ref"] == .string("test://new#ext-new"))
        #expect(plan.outputs.first?.after == .string("test://new"))
        let result = try await harness.apply(text)
        #expect(result.ok)
        #expect(try await harness.state().resource("thing.user")?.inputs["ref"] == .string("test://new#ext-new"))
        // A data source is not managed: nothing of it goes to state.
        #expect(try await harness.state().resources.map(\.address) == ["thing.user"])
    }

    @Test func aDataSourceInAModuleHasAModuleAddress() async throws {
        let spec = try ModuleSpec([
            "main.yaml": specHead + "modules:\n  app: { source: ./modules/app, inputs: { colour: red } }\noutputs:\n  size: ${module.app.size}\n",
            "modules/app/main.yaml": """
                variables:
                  colour: { type: string }
                data:
                  thing.found: { label: "${var.colour}" }
                outputs:
                  size: ${data.thing.found.size}
                """,
        ])
        spec.harness.provider.setObject("ext-red", ["size": 3, "label": "red", "url": "test://red", "serial": 9])
        let plan = try await spec.plan()
        #expect(plan.dataReads.map(\.address) == ["module.app.data.thing.found"])
        #expect(plan.outputs.first?.after == .int(3))
    }

    @Test func aDataSourceThatFindsNothingIsADiagnosticAtItsEntry() async throws {
        let harness = Harness()
        let text = specHead + "data:\n  thing.none: { label: green }\n"
        let c = try await harness.configuration(text)
        let (plan, diagnostics) = await Planner(configuration: c, options: PlanOptions()).plan(state: StateFile.new())
        #expect(plan == nil)
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary == "`data.thing.none` found nothing")
        #expect(error.location == SourceLocation(file: "main.yaml", line: 4, column: 3))
    }

    @Test func aQueryOnlyApplyCanTellIsRefused() async throws {
        let harness = Harness()
        let text = specHead + "resources:\n  thing.a: { size: 1 }\ndata:\n  thing.b: { url: \"${thing.a.url}\" }\n"
        let c = try await harness.configuration(text)
        let (_, diagnostics) = await Planner(configuration: c, options: PlanOptions()).plan(state: StateFile.new())
        #expect(diagnostics.errors.first?.summary == "`url` of `data.thing.b` is only known after apply, but data sources are read while planning")
        #expect(diagnostics.errors.first?.location?.line == 6)
    }

    @Test func anUndeclaredDataSourceSuggestsTheClosest() async throws {
        let text = specHead + "data:\n  thing.latest: { label: x }\nresources:\n  thing.a: { size: 1, ref: \"${data.thing.lates.url}\" }\n"
        let (configuration, diagnostics) = await TestSpec.configuration(text)
        #expect(configuration == nil)
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary == "`${data.thing.lates.url}` refers to nothing: `data.thing.lates` is not declared")
        #expect(error.detail.contains("Did you mean `data.thing.latest`?"))
        #expect(error.location?.line == 6)
    }
}
