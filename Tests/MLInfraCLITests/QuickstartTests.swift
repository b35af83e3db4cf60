import Foundation
import Testing

/// The README's quickstart through the real binary: the registry spec in `specs/quickstart`,
/// planned, applied, promoted with a one-line diff, and audited.
///
/// Needs `RegistryProvider()` among the `local` members and `ModelsCommand` among the
/// subcommands of the binary the harness runs.
@Suite(.serialized) struct QuickstartTests {
    /// `specs/quickstart` of this checkout.
    static var quickstart: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("specs/quickstart")
    }

    /// Copies the quickstart spec and its model files into the harness directory.
    func copyQuickstart(into h: CLIHarness) throws {
        let source = Self.quickstart
        try h.write("main.yaml", String(contentsOf: source.appendingPathComponent("main.yaml"), encoding: .utf8))
        for name in try FileManager.default.contentsOfDirectory(atPath: source.appendingPathComponent("models").path) {
            try h.write("models/\(name)", String(contentsOf: source.appendingPathComponent("models/\(name)"), encoding: .utf8))
        }
    }

    @Test func promotionIsOneInPlaceUpdateAndBothMovesAreAudited() async throws {
        let h = try CLIHarness()
        try copyQuickstart(into: h)

        let first = try await h.run("plan", "--detailed-exitcode")
        #expect(first.status == 2, "\(first.out)\(first.err)")
        #expect(first.out.contains("Plan: 5 to add, 0 to change, 0 to destroy."), "\(first.out)")

        let apply = try await h.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        let show = try await h.run("models", "show", "fraud_detector@production")
        #expect(show.status == 0, "\(show.err)")
        #expect(show.out.contains("fraud_detector version 1"), "\(show.out)")

        let clean = try await h.run("plan", "--detailed-exitcode")
        #expect(clean.status == 0, "\(clean.out)\(clean.err)")
        #expect(clean.out.contains("No changes."))

        // The promotion: one line of the spec.
        let spec = try #require(h.read("main.yaml"))
        let promoted = spec.replacingOccurrences(
            of: "version: ${model_version.fraud_v1.version}", with: "version: ${model_version.fraud_v2.version}")
        #expect(promoted != spec)
        try h.write("main.yaml", promoted)

        let promotion = try await h.run("plan", "--detailed-exitcode")
        #expect(promotion.status == 2, "\(promotion.out)\(promotion.err)")
        #expect(promotion.out.contains("model_alias.fraud_production"), "\(promotion.out)")
        #expect(promotion.out.contains("version: 1 → 2"), "\(promotion.out)")
        #expect(promotion.out.contains("Plan: 0 to add, 1 to change, 0 to destroy."), "\(promotion.out)")

        let promote = try await h.run("apply", "--auto-approve")
        #expect(promote.status == 0, "\(promote.out)\(promote.err)")
        #expect(try await h.run("plan", "--detailed-exitcode").status == 0)

        let history = try await h.run("models", "history", "fraud_detector")
        #expect(history.status == 0, "\(history.err)")
        #expect(history.out.contains("alias production → 1"), "\(history.out)")
        #expect(history.out.contains("alias production: 1 → 2"), "\(history.out)")
        let moves = history.out.split(separator: "\n").filter { $0.contains("alias production") }
        #expect(moves.count == 2)
        #expect(moves.allSatisfy { $0.contains("(apply") }, "\(moves)")

        // The alias is protected: the imperative command refuses and says how to do it instead.
        let refused = try await h.run("models", "set-alias", "fraud_detector", "production", "1")
        #expect(refused.status == 1)
        #expect(refused.err.contains("mlinfra apply"), "\(refused.err)")
        #expect(try await h.run("models", "show", "fraud_detector@production").out.contains("fraud_detector version 2"))
    }

    @Test func newArtifactContentPlansAReplaceOfThatVersionOnly() async throws {
        let h = try CLIHarness()
        try copyQuickstart(into: h)
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        try h.write("models/fraud-v2.json", #"{"format": "linear-json", "version": 1, "weights": [0.1, 0.2, 0.3], "intercept": 0, "link": "logistic"}"#)
        let plan = try await h.run("plan", "--detailed-exitcode")
        #expect(plan.status == 2, "\(plan.out)\(plan.err)")
        #expect(plan.out.contains("model_version.fraud_v2"), "\(plan.out)")
        #expect(plan.out.contains("Plan: 1 to add, 0 to change, 1 to destroy."), "\(plan.out)")
    }

    @Test func savedPlanIsRefusedWhenAnArtifactChangedAfterReview() async throws {
        let h = try CLIHarness()
        try copyQuickstart(into: h)
        let plan = try await h.run("plan", "--out", "reviewed.plan")
        #expect(plan.status == 0, "\(plan.err)")
        // The spec is unchanged, so the input hash is too; only the file it names has new content.
        try h.write("models/fraud-v2.json", (h.read("models/fraud-v2.json") ?? "") + "\n")
        let refused = try await h.run("apply", "reviewed.plan")
        #expect(refused.status == 1)
        #expect(refused.err.contains("the saved plan reviewed.plan is stale"), "\(refused.err)")
        #expect(refused.err.contains("`model_version.fraud_v2`: attribute `sha256` was \""), "\(refused.err)")
        #expect(refused.err.contains("in the saved plan, but a fresh plan makes it"), "\(refused.err)")
        #expect(refused.err.contains("Nothing was applied."), "\(refused.err)")
        #expect(try await h.stateAddresses().filter { !$0.isEmpty }.isEmpty)

        #expect(try await h.run("plan", "--out", "again.plan").status == 0)
        let applied = try await h.run("apply", "again.plan")
        #expect(applied.status == 0, "\(applied.err)")
    }

    @Test func deletingAVersionAnAliasPointsToIsAPlanErrorUnlessThePlanMovesTheAlias() async throws {
        let h = try CLIHarness()
        try copyQuickstart(into: h)
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        // An alias set outside the spec (the training side) also points at version 1.
        #expect(try await h.run("models", "set-alias", "fraud_detector", "staging", "1").status == 0)

        // Drop version 1 from the spec and promote version 2 in the same change.
        let spec = try #require(h.read("main.yaml"))
        var lines = spec.components(separatedBy: "\n")
        let start = try #require(lines.firstIndex(of: "  model_version.fraud_v1:"))
        lines.removeSubrange(start..<(start + 6))
        let edited = lines.joined(separator: "\n")
            .replacingOccurrences(of: "    depends_on: [model_version.fraud_v1]   # registered after v1, so it gets the next number\n", with: "")
            .replacingOccurrences(of: "version: ${model_version.fraud_v1.version}", with: "version: ${model_version.fraud_v2.version}")
        #expect(!edited.contains("model_version.fraud_v1"), "\(edited)")
        try h.write("main.yaml", edited)

        let refused = try await h.run("plan", "--detailed-exitcode")
        #expect(refused.status == 1, "\(refused.out)\(refused.err)")
        #expect(refused.err.contains("`model_version.fraud_v1` would be deleted, but alias fraud_detector@staging (not managed by this spec) still points to it"), "\(refused.err)")
        #expect(refused.err.contains("Move or remove alias fraud_detector@staging outside this spec first"), "\(refused.err)")
        // The managed alias moves off version 1 in this plan, so it is not named.
        #expect(!refused.err.contains("fraud_detector@production"), "\(refused.err)")

        // Once staging has moved, the plan deletes version 1 after the promotion.
        #expect(try await h.run("models", "set-alias", "fraud_detector", "staging", "2").status == 0)
        let plan = try await h.run("plan", "--detailed-exitcode")
        #expect(plan.status == 2, "\(plan.out)\(plan.err)")
        #expect(plan.out.contains("Plan: 0 to add, 1 to change, 1 to destroy."), "\(plan.out)")
        let apply = try await h.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        #expect(try await h.run("models", "show", "fraud_detector@production").out.contains("fraud_detector version 2"))
        #expect(try await h.run("plan", "--detailed-exitcode").status == 0)

        // Deleting the version production points to, with the alias left on it, is refused by name.
        let keepAlias = try #require(h.read("main.yaml")).replacingOccurrences(
            of: "version: ${model_version.fraud_v2.version}", with: "version: 2")
        var rest = keepAlias.components(separatedBy: "\n")
        let v2 = try #require(rest.firstIndex(of: "  model_version.fraud_v2:"))
        rest.removeSubrange(v2..<(v2 + 5))
        try h.write("main.yaml", rest.joined(separator: "\n"))
        let held = try await h.run("plan", "--detailed-exitcode")
        #expect(held.status == 1, "\(held.out)\(held.err)")
        #expect(held.err.contains("`model_version.fraud_v2` would be deleted, but alias fraud_detector@production (`model_alias.fraud_production` in this spec) still points to it"), "\(held.err)")
        #expect(held.err.contains("Change `version` of `model_alias.fraud_production` in this change"), "\(held.err)")

        // Destroying everything deletes the managed alias with its version; an alias set outside
        // the spec must be removed first, with the command the refusal points to.
        #expect(try await h.run("models", "set-alias", "fraud_detector", "staging", "2").status == 0)
        let blocked = try await h.run("destroy", "--auto-approve")
        #expect(blocked.status == 1, "\(blocked.out)\(blocked.err)")
        #expect(blocked.err.contains("alias fraud_detector@staging (not managed by this spec) still points to it"), "\(blocked.err)")
        #expect(try await h.run("models", "delete-alias", "fraud_detector", "staging").status == 0)
        let destroy = try await h.run("destroy", "--auto-approve")
        #expect(destroy.status == 0, "\(destroy.out)\(destroy.err)")
    }

    @Test func engineCommandsFindTheSpecsDataDirectory() async throws {
        let h = try CLIHarness()
        try copyQuickstart(into: h)
        try h.write("main.yaml", try #require(h.read("main.yaml")).replacingOccurrences(
            of: "local: { data_dir: .mlinfra }", with: "local: { data_dir: var/engines }"))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        #expect(FileManager.default.fileExists(atPath: h.directory.appendingPathComponent("var/engines/registry").path))
        // No --data-dir: the commands read providers.local.data_dir from the spec here.
        let show = try await h.run("models", "show", "fraud_detector@production")
        #expect(show.status == 0, "\(show.err)")
        #expect(show.out.contains("fraud_detector version 1"), "\(show.out)")
        let flag = try await h.run("models", "list", "--data-dir", "nowhere")
        #expect(!flag.out.contains("fraud_detector"), "\(flag.out)")
    }
}
