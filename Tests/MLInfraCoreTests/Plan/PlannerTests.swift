import Foundation
import Testing
@testable import MLInfraCore

@Suite struct PlannerTests {
    let twoThings = specHead + """
        resources:
          thing.a: { size: 1, kind: small, label: first }
          group.g: { members: ["${thing.a.url}"], owner: "${thing.a}" }
        outputs:
          url: ${thing.a.url}
        """

    @Test func firstPlanCreatesEverythingWithUnknowns() async throws {
        let h = Harness()
        let plan = try await h.plan(twoThings)
        #expect(plan.counts.add == 2)
        #expect(plan.changes.map(\.action) == [.create, .create])
        let g = try #require(plan.change("group.g"))
        #expect(g.after?["members"] == .unknown || g.after?["members"] == .list([.unknown]))
        #expect(plan.outputs.first?.after == .unknown)
        #expect(plan.hasChanges)
    }

    @Test func applyThenPlanHasNoChanges() async throws {
        let h = Harness()
        let result = try await h.apply(twoThings)
        #expect(result.ok, "\(result.diagnostics)")
        #expect(h.provider.callLog == ["create thing.a", "create group.g"])
        let state = try await h.state()
        #expect(state.serial >= 1)
        #expect(state.resource("group.g")?.inputs["members"] == .list([.string("mem://obj-1")]))
        #expect(state.outputs["url"]?.value == .string("mem://obj-1"))
        let again = try await h.plan(twoThings)
        #expect(!again.hasChanges, "\(again.resourceChanges.map { "\($0.address) \($0.action) \($0.changed)" })")
    }

    @Test func changedAttributeIsAnInPlaceUpdate() async throws {
        let h = Harness()
        try await h.apply(twoThings)
        let plan = try await h.plan(twoThings.replacingOccurrences(of: "label: first", with: "label: second"))
        let a = try #require(plan.change("thing.a"))
        #expect(a.action == .update)
        #expect(a.changed == ["label"])
        #expect(plan.change("group.g")?.action == .noop)
        #expect(plan.counts.change == 1)
    }

    @Test func forceNewAttributeReplacesAndSaysWhy() async throws {
        let h = Harness()
        try await h.apply(twoThings)
        let plan = try await h.plan(twoThings.replacingOccurrences(of: "kind: small", with: "kind: large"))
        let a = try #require(plan.change("thing.a"))
        #expect(a.action == .replace)
        #expect(a.reason == .cannotUpdate(["kind"]))
        #expect(a.after?["url"] == .unknown)
        // The group refers to the replaced thing's url: it must update too.
        #expect(plan.change("group.g")?.action == .update)
        let result = try await h.apply(twoThings.replacingOccurrences(of: "kind: small", with: "kind: large"))
        #expect(result.ok, "\(result.diagnostics) \(result.failed) \(result.skipped) \(result.succeeded)")
        #expect(result.succeeded.count == 3, "\(result.succeeded) \(result.state.resources.map { "\($0.address) \($0.inputs)" })")
        #expect(h.provider.callLog.suffix(3) == ["delete thing.a", "create thing.a", "update group.g"])
    }

    @Test func createBeforeDestroyCreatesFirst() async throws {
        let h = Harness()
        let spec = specHead + "resources:\n  thing.a:\n    size: 1\n    kind: small\n    lifecycle: { create_before_destroy: true }\n"
        try await h.apply(spec)
        let result = try await h.apply(spec.replacingOccurrences(of: "kind: small", with: "kind: large"))
        #expect(result.ok)
        #expect(h.provider.callLog.suffix(2) == ["create thing.a", "delete thing.a"])
        #expect(try await h.state().resource("thing.a")?.inputs["kind"] == .string("large"))
    }

    @Test func driftIsReportedAndCorrected() async throws {
        let h = Harness()
        try await h.apply(twoThings)
        let id = try #require(try await h.state().resource("thing.a")?.id)
        var changed = try #require(h.provider.object(id))
        changed["label"] = .string("edited by hand")
        h.provider.setObject(id, changed)
        let plan = try await h.plan(twoThings)
        #expect(plan.drift.map(\.address.description) == ["thing.a"])
        #expect(plan.drift.first?.changed == ["label"])
        #expect(plan.change("thing.a")?.action == .update)
        #expect(plan.change("thing.a")?.before?["label"] == .string("edited by hand"))
    }

    @Test func objectDeletedOutsideIsRecreated() async throws {
        let h = Harness()
        try await h.apply(twoThings)
        let id = try #require(try await h.state().resource("thing.a")?.id)
        h.provider.setObject(id, nil)
        let plan = try await h.plan(twoThings)
        #expect(plan.drift.first?.kind == .delete)
        #expect(plan.change("thing.a")?.action == .create)
        #expect(plan.change("thing.a")?.reason == .deletedOutside)
    }

    @Test func refreshFalseDoesNotAskProviders() async throws {
        let h = Harness()
        try await h.apply(twoThings)
        let id = try #require(try await h.state().resource("thing.a")?.id)
        h.provider.setObject(id, nil)
        let plan = try await h.plan(twoThings, options: PlanOptions(refresh: false))
        #expect(plan.drift.isEmpty)
        #expect(!plan.hasChanges)
    }

    @Test func refreshOnlyPlansNoResourceChanges() async throws {
        let h = Harness()
        try await h.apply(twoThings)
        let id = try #require(try await h.state().resource("thing.a")?.id)
        var changed = try #require(h.provider.object(id))
        changed["size"] = .int(99)
        h.provider.setObject(id, changed)
        let plan = try await h.plan(twoThings, options: PlanOptions(mode: .refreshOnly))
        #expect(plan.resourceChanges.isEmpty)
        #expect(plan.drift.count == 1)
        #expect(plan.hasChanges)
    }

    @Test func removedResourceIsDeletedAndPreventDestroyStopsIt() async throws {
        let h = Harness()
        let spec = specHead + "resources:\n  thing.a: { size: 1 }\n  thing.b: { size: 2, lifecycle: { prevent_destroy: true } }\n"
        try await h.apply(spec)
        let plan = try await h.plan(specHead + "resources:\n  thing.b: { size: 2, lifecycle: { prevent_destroy: true } }\n")
        #expect(plan.change("thing.a")?.action == .delete)
        #expect(plan.change("thing.a")?.reason == .notInSpec)
        do {
            _ = try await h.plan(spec.replacingOccurrences(of: "thing.b: { size: 2,", with: "thing.b: { size: 2, kind: x,"),
                                 options: PlanOptions(replace: ["thing.b"]))
            Issue.record("a plan destroying a prevent_destroy resource must fail")
        } catch let error as DiagnosticsError {
            #expect(error.diagnostics.errors.first?.summary.contains("prevent_destroy") == true)
            #expect(error.diagnostics.errors.first?.summary.contains("thing.b") == true)
        }
    }

    @Test func replaceFlagForcesReplacement() async throws {
        let h = Harness()
        try await h.apply(twoThings)
        let plan = try await h.plan(twoThings, options: PlanOptions(replace: ["thing.a"]))
        #expect(plan.change("thing.a")?.action == .replace)
        #expect(plan.change("thing.a")?.reason == .requested)
    }

    @Test func targetLimitsThePlanToItsDependencies() async throws {
        let h = Harness()
        let spec = twoThings + "\n  thing.other: { size: 5 }\n"
        let fixed = spec.replacingOccurrences(of: "outputs:\n  url: ${thing.a.url}\n\n  thing.other: { size: 5 }\n", with: "  thing.other: { size: 5 }\noutputs:\n  url: ${thing.a.url}\n")
        let plan = try await h.plan(fixed, options: PlanOptions(targets: ["group.g"]))
        #expect(Set(plan.resourceChanges.map(\.address.description)) == ["thing.a", "group.g"])
    }

    @Test func destroyDeletesDependentsFirst() async throws {
        let h = Harness()
        try await h.apply(twoThings)
        let result = try await h.apply(twoThings, options: PlanOptions(mode: .destroy))
        #expect(result.ok)
        #expect(h.provider.callLog.suffix(2) == ["delete group.g", "delete thing.a"])
        #expect(try await h.state().count == 0)
        #expect(h.provider.count == 0)
    }

    @Test func halfwayCreateIsTaintedThenReplaced() async throws {
        let h = Harness()
        h.provider.failHalfway = ["thing.a"]
        let result = try await h.apply(twoThings)
        #expect(!result.ok)
        #expect(try await h.state().resource("thing.a")?.status == .tainted)
        #expect(try await h.state().resource("group.g") == nil)
        h.provider.failHalfway = []
        let plan = try await h.plan(twoThings)
        #expect(plan.change("thing.a")?.action == .replace)
        #expect(plan.change("thing.a")?.reason == .tainted)
        #expect(try await h.apply(twoThings).ok)
        #expect(try await h.state().resource("thing.a")?.status == .ready)
    }

    @Test func failureSkipsDependentsAndContinueOnErrorRunsTheRest() async throws {
        let spec = specHead + "resources:\n  thing.a: { size: 1 }\n  group.g: { owner: \"${thing.a}\" }\n  thing.b: { size: 2 }\n  group.h: { owner: \"${thing.b}\" }\n"
        let h = Harness()
        h.provider.failApply = ["thing.a"]
        let result = try await h.apply(spec, continueOnError: true)
        #expect(result.failed == [.apply("thing.a")])
        #expect(result.skipped == [.apply("group.g")])
        #expect(Set(result.succeeded) == [.apply("thing.b"), .apply("group.h")])
        #expect(try await h.state().resource("group.h") != nil)
    }

    @Test func secretsNeverReachTheStateFile() async throws {
        let h = Harness()
        let spec = specHead + "variables:\n  token: { type: string, sensitive: true }\nresources:\n  thing.a: { size: 1, label: \"${var.token}\", secret: s3cr3t-value }\noutputs:\n  tok: ${var.token}\n"
        let result = try await h.apply(spec, vars: ["token=hunter2-token"])
        #expect(result.ok, "\(result.diagnostics)")
        let text = try String(contentsOfFile: h.statePath, encoding: .utf8)
        #expect(!text.contains("hunter2-token"))
        #expect(!text.contains("s3cr3t-value"))
        #expect(text.contains("hmac-sha256:"))
        let again = try await h.plan(spec, vars: ["token=hunter2-token"])
        #expect(!again.hasChanges, "\(again.resourceChanges.map { "\($0.address) \($0.changed)" })")
        let changed = try await h.plan(spec, vars: ["token=other"])
        #expect(changed.change("thing.a")?.changed == ["label"])
    }

    @Test func forEachInstancesApplyAndShrink() async throws {
        let h = Harness()
        let spec = specHead + "variables:\n  names: { type: list, default: [x, y, z] }\nresources:\n  thing.t: { for_each: \"${var.names}\", size: 1, label: \"${each.key}\" }\n"
        try await h.apply(spec)
        #expect(try await h.state().count == 3)
        let plan = try await h.plan(spec, vars: ["names=[x, z]"])
        #expect(plan.resourceChanges.map(\.address.description) == ["thing.t[\"y\"]"])
        #expect(plan.change("thing.t[\"y\"]")?.action == .delete)
    }

    @Test func ignoreChangesKeepsTheRecordedValue() async throws {
        let h = Harness()
        let spec = specHead + "resources:\n  thing.a: { size: 1, label: one, lifecycle: { ignore_changes: [label] } }\n"
        try await h.apply(spec)
        let plan = try await h.plan(spec.replacingOccurrences(of: "label: one", with: "label: two"))
        #expect(!plan.hasChanges)
    }
}
