import Foundation
import Testing

/// `apply --json` and `destroy --json` write one JSON event per line on stdout, in the shape of
/// `terraform apply -json`: nothing else goes to stdout, every line parses, and the events tell
/// the whole run (planned changes, each operation's start and end, the summary, the outputs).
@Suite struct JSONEventsTests {
    static func events(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON line: \(line)")
        }
    }

    @Test func applyAndDestroyStreamOneEventPerLine() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 3, chained: true))
        let apply = try await h.run("apply", "--json", "--auto-approve")
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        let events = try Self.events(apply.out)
        let types = events.map { $0["type"] as? String ?? "" }
        #expect(types.first == "version" && types.last == "outputs", "\(types)")
        #expect(types.filter { $0 == "planned_change" }.count == 3 && types.filter { $0 == "apply_start" }.count == 3)
        #expect(types.filter { $0 == "apply_complete" }.count == 3, "\(types)")
        for event in events {
            #expect(event["@level"] is String && event["@message"] is String && event["@timestamp"] is String && event["@module"] as? String == "mlinfra")
        }
        // Dependencies first: i0 completes before i1 starts.
        let i0Done = try #require(events.firstIndex { $0["type"] as? String == "apply_complete" && Self.address($0) == "item.i0" })
        let i1Start = try #require(events.firstIndex { $0["type"] as? String == "apply_start" && Self.address($0) == "item.i1" })
        #expect(i0Done < i1Start)
        let summaries = events.filter { $0["type"] as? String == "change_summary" }.compactMap { $0["changes"] as? [String: Any] }
        #expect(summaries.map { $0["operation"] as? String } == ["plan", "apply"], "\(summaries)")
        #expect(summaries.last?["add"] as? Int == 3 && summaries.last?["remove"] as? Int == 0)
        let outputs = try #require(events.last?["outputs"] as? [String: Any])
        #expect((outputs["first"] as? [String: Any])?["sensitive"] as? Bool == false)

        let raw = try await h.run("output", "--raw", "first")
        #expect(raw.status == 0 && !raw.out.isEmpty && !raw.out.hasSuffix("\n") && !raw.out.hasPrefix("\""), "\(raw.out)\(raw.err)")

        let again = try Self.events(try await h.run("apply", "--json", "--auto-approve").out)
        #expect((again.last?["changes"] as? [String: Any])?["add"] as? Int == 0, "nothing to do: \(again)")

        let destroy = try await h.run("destroy", "--json", "--auto-approve")
        #expect(destroy.status == 0, "\(destroy.out)\(destroy.err)")
        let destroyed = try Self.events(destroy.out)
        #expect(destroyed.filter { $0["type"] as? String == "apply_complete" }.count == 3)
        let last = destroyed.last { $0["type"] as? String == "change_summary" }?["changes"] as? [String: Any]
        #expect(last?["operation"] as? String == "destroy" && last?["remove"] as? Int == 3, "\(destroyed)")
    }

    @Test func jsonWithoutApprovalIsRefused() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        let r = try await h.run("apply", "--json")
        #expect(r.status == 1 && r.err.contains("--json needs --auto-approve or a saved plan"), "\(r.out)\(r.err)")
    }

    @Test func versionPrintsTheBuildAndItsProviders() async throws {
        let h = try CLIHarness()
        let text = try await h.run("version")
        #expect(text.status == 0 && text.out.hasPrefix("mlinfra ") && text.out.contains("+ provider local "), "\(text.out)")
        let json = try await h.run("version", "--json")
        let document = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any], "\(json.out)")
        #expect(document["mlinfra_version"] is String && (document["platform"] as? String)?.hasPrefix("linux_") == true)
        #expect((document["provider_selections"] as? [String: Any])?["local"] is String, "\(document)")
    }

    /// An operation that takes a while says so on stderr, every interval (10 s unless told).
    @Test func aLongOperationSaysItIsStillRunning() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1, latency: "1500ms"))
        let r = try await h.run(["apply", "--auto-approve"], env: ["MLINFRA_PROGRESS_INTERVAL": "0.4"])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(r.err.contains("item.i0: Still creating… [") && r.err.contains(" elapsed]"), "\(r.err)")
        let done = try #require(r.err.range(of: "item.i0: Creation complete"))
        #expect(!r.err[done.upperBound...].contains("Still creating"), "a finished operation still ticks: \(r.err)")
    }

    static func address(_ event: [String: Any]) -> String? {
        ((event["hook"] as? [String: Any])?["resource"] as? [String: Any])?["addr"] as? String
    }
}

/// The plan's serving summary shows two versions' tags side by side; a tag built from a secret
/// is "(sensitive)" there too, in the terminal and in the PR comment.
@Suite struct PlanInsightsSecretTests {
    @Test func aPromotionShowsNoSecretInTheVersionComparison() async throws {
        let secret = "INSIGHT-c4n4ry-s3cret"
        let h = try CLIHarness()
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for v in ["v1", "v2"] {
            try h.write("models/fraud-\(v).json", String(contentsOf: repository.appendingPathComponent("specs/quickstart/models/fraud-\(v).json"), encoding: .utf8))
        }
        func spec(_ production: String) -> String {
            """
            mlinfra: 1
            project: insights
            variables:
              owner: { type: string, sensitive: true }
            providers:
              local: { data_dir: .mlinfra }
            resources:
              registry.main: {}
              model.fraud: { registry: "${registry.main}" }
              model_version.v1: { model: "${model.fraud}", artifact: models/fraud-v1.json, format: linear-json, tags: { owner: "${var.owner}", dataset: q1 } }
              model_version.v2: { model: "${model.fraud}", artifact: models/fraud-v2.json, format: linear-json, tags: { owner: "${var.owner}", dataset: q2 }, depends_on: [model_version.v1] }
              model_alias.prod: { model: "${model.fraud}", alias: production, version: "${model_version.\(production).version}" }

            """
        }
        let env = ["MLINFRA_VAR_owner": secret]
        try h.write("main.yaml", spec("v1"))
        let apply = try await h.run(["apply", "--auto-approve"], env: env)
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        try h.write("main.yaml", spec("v2"))
        let plan = try await h.run(["plan", "--no-color"], env: env)
        let comment = try await h.run(["plan", "--format", "markdown"], env: env)
        #expect(plan.out.contains("model_alias.prod moves fraud@production from v1 to v2"), "\(plan.out)")
        #expect(plan.out.contains("tags.dataset: q1 → q2"), "\(plan.out)")
        for r in [plan, comment] { #expect(!(r.out + r.err).contains(secret), "\(r.out)") }
        #expect(plan.out.contains("tags.owner: (sensitive) → (sensitive)"), "\(plan.out)")
    }
}
