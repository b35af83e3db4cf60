import Foundation
import Testing
@testable import MLInfraCore

/// After every apply, a provider's result must match the plan it made (Terraform's
/// "provider produced an inconsistent result after apply").
@Suite struct InconsistentResultTests {

    @Test func providerResultThatDiffersFromThePlanIsAnErrorAndTaints() async throws {
        let h = Harness()
        h.provider.misreport["thing.a"] = ["label": "other"]
        let result = try await h.apply(oneThing)
        #expect(!result.ok)
        let messages = result.diagnostics.items.map(\.summary)
        #expect(
            messages.contains(
                "Provider \"test\" produced an inconsistent result after apply: thing.a: attribute \"label\" was \"first\" in the plan, but \"other\" after apply"),
            "\(messages)")
        #expect(result.diagnostics.items.contains { $0.detail.contains("marked tainted and will be replaced on the next apply") })
        #expect(try await h.state().resource("thing.a")?.status == .tainted)

        h.provider.misreport = [:]
        let next = try await h.plan(oneThing)
        #expect(next.change("thing.a")?.action == .replace)
        #expect(next.change("thing.a")?.reason == .tainted)
        let replaced = try await h.apply(oneThing)
        #expect(replaced.ok, "\(replaced.diagnostics)")
        #expect(try await h.state().resource("thing.a")?.status == .ready)
    }

    @Test func computedAttributePlannedKnownMustComeBackTheSame() async throws {
        let h = Harness()
        #expect(try await h.apply(oneThing).ok)
        h.provider.misreport["thing.a"] = ["url": "mem://elsewhere"]
        let result = try await h.apply(relabelled)
        #expect(!result.ok)
        let messages = result.diagnostics.items.map(\.summary)
        #expect(messages.contains { $0.hasSuffix("attribute \"url\" was \"mem://obj-1\" in the plan, but \"mem://elsewhere\" after apply") }, "\(messages)")
        #expect(try await h.state().resource("thing.a")?.status == .tainted)
    }

    @Test func unknownComputedAttributesMayTakeAnyValue() async throws {
        let h = Harness()
        let spec = specHead + "resources:\n  thing.a: { size: 1 }\n  group.g: { members: [\"${thing.a.url}\"], owner: \"${thing.a}\" }\n"
        let plan = try await h.plan(spec)
        #expect(plan.change("thing.a")?.after?["url"] == .unknown)
        let result = try await h.apply(spec)
        #expect(result.ok, "\(result.diagnostics)")
        #expect(try await h.state().resources.allSatisfy { $0.status == .ready })
    }

    @Test func inconsistentSecretIsNamedButNeverShown() async throws {
        let h = Harness()
        h.provider.misreport["thing.a"] = ["secret": "leaked-other-value"]
        let result = try await h.apply(oneThing)
        #expect(!result.ok)
        let text = result.diagnostics.items.map { $0.summary + $0.detail }.joined(separator: "\n")
        #expect(text.contains("attribute \"secret\" was (sensitive) in the plan, but another (sensitive) after apply"), "\(text)")
        #expect(!text.contains("s3cr3t-value") && !text.contains("leaked-other-value"))
    }
}
