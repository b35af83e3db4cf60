import Foundation
import Testing

@Suite(.serialized) struct EndToEndTests {
    @Test func planApplyPlanChangeDestroy() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 3, chained: true))
        let first = try await h.run("plan", "--detailed-exitcode")
        #expect(first.status == 2, "\(first.err)")
        #expect(first.out.contains("Plan: 3 to add, 0 to change, 0 to destroy."))
        #expect(first.out.contains("(known after apply)") || first.out.contains("disk://item.i0"))

        let apply = try await h.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply.err)")
        #expect(apply.out.contains("Apply complete! 3 applied, 0 destroyed."))
        #expect(apply.err.contains("item.i0: Creation complete after"))
        #expect(h.objects() == ["item.i0", "item.i1", "item.i2"])

        let clean = try await h.run("plan", "--detailed-exitcode")
        #expect(clean.status == 0, "\(clean.out)\(clean.err)")
        #expect(clean.out.contains("No changes."))

        try h.write("main.yaml", diskSpec(count: 2, label: "two", chained: true))
        let changed = try await h.run("plan", "--detailed-exitcode")
        #expect(changed.status == 2)
        #expect(changed.out.contains("~ label: \"one\" → \"two\""))
        #expect(changed.out.contains("- item.i2 will be destroyed (not in the spec)"))
        #expect(changed.out.contains("Plan: 0 to add, 2 to change, 1 to destroy."))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        #expect(h.objects() == ["item.i0", "item.i1"])
        #expect(try await h.run("output", "first").out == "disk://item.i0\n")

        let destroy = try await h.run("destroy", "--auto-approve")
        #expect(destroy.status == 0, "\(destroy.err)")
        #expect(h.objects().isEmpty)
        let left = try await h.stateAddresses().filter { !$0.isEmpty }
        #expect(left.isEmpty)
    }

    @Test func badSpecNamesFileLineAndColumnAndExitsOne() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", "mlinfra: 1\nproject: e2e\nproviders:\n  disk: { dir: objects }\nresources:\n  item.a:\n    size: 1\n    lable: x\n")
        let r = try await h.run("plan")
        #expect(r.status == 1)
        #expect(r.err.contains("main.yaml:8:5"), "\(r.err)")
        #expect(r.err.contains("Did you mean `label`?"))
        let json = try await h.run("validate", "--format", "json")
        #expect(json.status == 1)
        #expect(json.out.contains("\"valid\": false"))
    }

    @Test func applyWithoutTerminalNeedsApproval() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        let r = try await h.run("apply")
        #expect(r.status == 1)
        #expect(r.err.contains("--auto-approve"))
        #expect(h.objects().isEmpty)
    }

    @Test func savedPlanAppliesOnceAndStalePlansAreRefused() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2))
        #expect(try await h.run("plan", "--out", "p1.plan").status == 0)
        #expect(try await h.run("plan", "--out", "p2.plan").status == 0)
        let shown = try await h.run("show", "p1.plan", "--format", "json")
        #expect(shown.out.contains("\"resource_changes\""))
        let applied = try await h.run("apply", "p1.plan")
        #expect(applied.status == 0, "\(applied.err)")
        #expect(h.objects().count == 2)
        let stale = try await h.run("apply", "p2.plan")
        #expect(stale.status == 1)
        #expect(stale.err.contains("the state changed since the plan was made (serial 0, now 1)"), "\(stale.err)")

        try h.write("main.yaml", diskSpec(count: 2, label: "two"))
        #expect(try await h.run("plan", "--out", "p3.plan").status == 0)
        try h.write("main.yaml", diskSpec(count: 2, label: "three"))
        let edited = try await h.run("apply", "p3.plan")
        #expect(edited.status == 1)
        #expect(edited.err.contains("the spec or the variable values changed"), "\(edited.err)")
    }

    @Test func jsonPlanHasTerraformShape() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        let r = try await h.run("plan", "--format", "json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])
        #expect(json["format_version"] as? String == "1.2")
        let changes = try #require(json["resource_changes"] as? [[String: Any]])
        let change = try #require(changes.first?["change"] as? [String: Any])
        #expect(change["actions"] as? [String] == ["create"])
        #expect(changes.first?["address"] as? String == "item.i0")
        #expect(changes.first?["type"] as? String == "item")
        #expect((change["after"] as? [String: Any])?["label"] as? String == "one")
        #expect(json["prior_state"] != nil)
        #expect(json["output_changes"] != nil)
    }

    @Test func markdownPlanFlagsDestroysFirst() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        try h.write("main.yaml", diskSpec(count: 1, label: "x"))
        let r = try await h.run("plan", "--format", "markdown", "--detailed-exitcode")
        #expect(r.status == 2)
        let destroyRow = try #require(r.out.range(of: "| ⚠️ | `item.i1` | 🗑️ destroy"))
        let updateRow = try #require(r.out.range(of: "`item.i0` | 🔄 update in-place"))
        #expect(destroyRow.lowerBound < updateRow.lowerBound)
        #expect(r.out.contains("```diff"))
    }

    @Test func stateCommandsAndGraph() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2, chained: true))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        #expect(try await h.run("graph").out.contains("\"item.i1\" -> \"item.i0\""))
        let mermaid = try await h.run("graph", "--format", "mermaid").out
        #expect(mermaid.hasPrefix("graph RL") && mermaid.contains(" --> "))
        #expect(try await h.run("state", "show", "item.i1").out.contains("size = 1"))
        #expect(try await h.run("state", "rm", "item.i1").status == 0)
        #expect(try await h.stateAddresses() == ["item.i0"])
        #expect(h.objects().count == 2)
        let mv = try await h.run("state", "mv", "item.i0", "item.zero")
        #expect(mv.status == 0, "\(mv.err)")
        #expect(try await h.stateAddresses() == ["item.zero"])
    }
}
