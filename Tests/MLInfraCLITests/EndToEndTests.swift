import Foundation
import Testing

@Suite(.serialized) struct EndToEndTests {
    @Test func planApplyPlanChangeDestroy() throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 3, chained: true))
        let first = try h.run("plan", "--detailed-exitcode")
        #expect(first.status == 2, "\(first.err)")
        #expect(first.out.contains("Plan: 3 to add, 0 to change, 0 to destroy."))
        #expect(first.out.contains("(known after apply)") || first.out.contains("disk://item.i0"))

        let apply = try h.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply.err)")
        #expect(apply.out.contains("Apply complete! 3 applied, 0 destroyed."))
        #expect(apply.err.contains("item.i0: Creation complete after"))
        #expect(h.objects() == ["item.i0", "item.i1", "item.i2"])

        let clean = try h.run("plan", "--detailed-exitcode")
        #expect(clean.status == 0, "\(clean.out)\(clean.err)")
        #expect(clean.out.contains("No changes."))

        try h.write("main.yaml", diskSpec(count: 2, label: "two", chained: true))
        let changed = try h.run("plan", "--detailed-exitcode")
        #expect(changed.status == 2)
        #expect(changed.out.contains("~ label: \"one\" → \"two\""))
        #expect(changed.out.contains("- item.i2 will be destroyed (not in the spec)"))
        #expect(changed.out.contains("Plan: 0 to add, 2 to change, 1 to destroy."))
        #expect(try h.run("apply", "--auto-approve").status == 0)
        #expect(h.objects() == ["item.i0", "item.i1"])
        #expect(try h.run("output", "first").out == "disk://item.i0\n")

        let destroy = try h.run("destroy", "--auto-approve")
        #expect(destroy.status == 0, "\(destroy.err)")
        #expect(h.objects().isEmpty)
        #expect(try h.stateAddresses() == [""] || (try h.stateAddresses()).isEmpty)
    }

    @Test func badSpecNamesFileLineAndColumnAndExitsOne() throws {
        let h = try CLIHarness()
        try h.write("main.yaml", "mlinfra: 1\nproject: e2e\nproviders:\n  disk: { dir: objects }\nresources:\n  item.a:\n    size: 1\n    lable: x\n")
        let r = try h.run("plan")
        #expect(r.status == 1)
        #expect(r.err.contains("main.yaml:8:5"), "\(r.err)")
        #expect(r.err.contains("Did you mean `label`?"))
        let json = try h.run("validate", "--format", "json")
        #expect(json.status == 1)
        #expect(json.out.contains("\"valid\": false"))
    }

    @Test func applyWithoutTerminalNeedsApproval() throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        let r = try h.run("apply")
        #expect(r.status == 1)
        #expect(r.err.contains("--auto-approve"))
        #expect(h.objects().isEmpty)
    }

    @Test func savedPlanAppliesOnceAndStalePlansAreRefused() throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2))
        #expect(try h.run("plan", "--out", "p1.plan").status == 0)
        #expect(try h.run("plan", "--out", "p2.plan").status == 0)
        let shown = try h.run("show", "p1.plan", "--format", "json")
        #expect(shown.out.contains("\"resource_changes\""))
        let applied = try h.run("apply", "p1.plan")
        #expect(applied.status == 0, "\(applied.err)")
        #expect(h.objects().count == 2)
        let stale = try h.run("apply", "p2.plan")
        #expect(stale.status == 1)
        #expect(stale.err.contains("the state changed since the plan was made (serial 0, now 1)"), "\(stale.err)")

        try h.write("main.yaml", diskSpec(count: 2, label: "two"))
        #expect(try h.run("plan", "--out", "p3.plan").status == 0)
        try h.write("main.yaml", diskSpec(count: 2, label: "three"))
        let edited = try h.run("apply", "p3.plan")
        #expect(edited.status == 1)
        #expect(edited.err.contains("the spec or the variable values changed"), "\(edited.err)")
    }

    @Test func jsonPlanHasTerraformShape() throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        let r = try h.run("plan", "--format", "json")
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

    @Test func markdownPlanFlagsDestroysFirst() throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2))
        #expect(try h.run("apply", "--auto-approve").status == 0)
        try h.write("main.yaml", diskSpec(count: 1, label: "x"))
        let r = try h.run("plan", "--format", "markdown", "--detailed-exitcode")
        #expect(r.status == 2)
        let destroyRow = try #require(r.out.range(of: "| ⚠️ | `item.i1` | 🗑️ destroy"))
        let updateRow = try #require(r.out.range(of: "`item.i0` | 🔄 update in-place"))
        #expect(destroyRow.lowerBound < updateRow.lowerBound)
        #expect(r.out.contains("```diff"))
    }

    @Test func stateCommandsAndGraph() throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2, chained: true))
        #expect(try h.run("apply", "--auto-approve").status == 0)
        #expect(try h.run("graph").out.contains("\"item.i1\" -> \"item.i0\""))
        #expect(try h.run("graph", "--format", "mermaid").out.contains("n1 --> n0") || (try h.run("graph", "--format", "mermaid")).out.contains("-->"))
        #expect(try h.run("state", "show", "item.i1").out.contains("size = 1"))
        #expect(try h.run("state", "rm", "item.i1").status == 0)
        #expect(try h.stateAddresses() == ["item.i0"])
        #expect(h.objects().count == 2)
        let mv = try h.run("state", "mv", "item.i0", "item.zero")
        #expect(mv.status == 0, "\(mv.err)")
        #expect(try h.stateAddresses() == ["item.zero"])
    }
}
