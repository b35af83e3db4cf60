import Foundation
import Testing

/// `MLINFRA_LOG=debug` tells what a command did and how long each step took (provider calls,
/// the planner's decisions, the state store), to stderr or `MLINFRA_LOG_PATH`, and never a
/// secret; `plan --json-stream` streams the plan as `terraform plan -json` does.
@Suite struct DebugLogTests {
    static let secret = "hunter2-debug-canary-5c1e"
    static let spec = """
        mlinfra: 1
        project: e2e
        variables:
          token: { type: string, sensitive: true }
        providers:
          disk: { dir: objects, latency: 0s }
        resources:
          item.a: { size: 1, label: "${var.token}" }
          item.b: { size: 2, label: b }

        """

    @Test func debugLogNamesEveryProviderCallAndDecisionAndNoSecret() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", Self.spec)
        let log = h.directory.appendingPathComponent("debug.log").path
        let env = ["MLINFRA_VAR_token": Self.secret, "MLINFRA_LOG": "debug", "MLINFRA_LOG_PATH": log]
        let apply = try await h.run(["apply", "--auto-approve"], env: env)
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        let text = try String(contentsOfFile: log, encoding: .utf8)
        for line in [
            "provider disk: validate item.a", "provider disk: plan item.a", "provider disk: apply create item.a",
            "provider disk: apply create item.b", "planned item.a: create (not in state)", "state: lock", "state: read local state",
            "state: commit the journal", "plan: 2 changes",
        ] {
            #expect(text.contains(line), "the log lacks \(line): \(text)")
        }
        #expect(text.split(separator: "\n").allSatisfy { $0.contains(" debug mlinfra: ") || $0.contains(" info ") }, "\(text)")
        #expect(!text.contains(Self.secret) && !apply.out.contains(Self.secret) && !apply.err.contains(Self.secret))
        // The log went to the file only, which is the user's alone.
        #expect(!apply.err.contains("debug mlinfra"))
        let mode = try FileManager.default.attributesOfItem(atPath: log)[.posixPermissions] as? Int
        #expect(mode == 0o600, "log file mode \(String(mode ?? 0, radix: 8))")

        // A second plan: the update's reason names the attribute, not its value.
        try h.write("main.yaml", Self.spec.replacingOccurrences(of: "label: b", with: "label: changed-label-value"))
        let plan = try await h.run(["plan"], env: ["MLINFRA_VAR_token": Self.secret, "MLINFRA_LOG": "debug"])
        #expect(plan.err.contains("planned item.b: update (changed: label)"), "\(plan.err)")
        #expect(plan.err.contains("planned item.a: no-op"), "\(plan.err)")
        #expect(!plan.err.split(separator: "\n").contains { $0.contains("debug mlinfra") && $0.contains("changed-label-value") })
    }

    @Test func withoutTheVariableNothingIsLoggedAndABadLevelIsRefused() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        let quiet = try await h.run("plan")
        #expect(quiet.status == 0 && !quiet.err.contains("debug mlinfra"), "\(quiet.err)")
        let bad = try await h.run(["plan"], env: ["MLINFRA_LOG": "loud"])
        #expect(bad.status == 1 && bad.err.contains("MLINFRA_LOG is `loud`") && bad.err.contains("trace, debug"), "\(bad.err)")
        let unwritable = try await h.run(["plan"], env: ["MLINFRA_LOG": "debug", "MLINFRA_LOG_PATH": "/nonexistent/dir/log"])
        #expect(unwritable.status == 1 && unwritable.err.contains("MLINFRA_LOG_PATH"), "\(unwritable.err)")
    }

    @Test func planJSONStreamReportsRefreshesDriftChangesAndTheSummary() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 3))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        // One object removed behind mlinfra's back: drift, then a create.
        try FileManager.default.removeItem(at: h.directory.appendingPathComponent("objects/\(try #require(h.objects().sorted().first)).json"))
        let r = try await h.run("plan", "--json-stream", "--detailed-exitcode")
        #expect(r.status == 2, "\(r.out)\(r.err)")
        let events = try JSONEventsTests.events(r.out)
        let types = events.map { $0["type"] as? String ?? "" }
        #expect(types.first == "version" && types.last == "change_summary", "\(types)")
        #expect(types.filter { $0 == "refresh_start" }.count == 3 && types.filter { $0 == "refresh_complete" }.count == 3, "\(types)")
        let drift = events.filter { $0["type"] as? String == "resource_drift" }
        #expect(drift.count == 1 && ((drift.first?["change"] as? [String: Any])?["action"] as? String) == "delete", "\(drift)")
        let planned = events.filter { $0["type"] as? String == "planned_change" }.compactMap { $0["change"] as? [String: Any] }
        #expect(planned.count == 1 && planned.first?["action"] as? String == "create", "\(planned)")
        #expect((events.last?["changes"] as? [String: Any])?["add"] as? Int == 1)
        // Each refresh completes after it starts.
        for address in ["item.i0", "item.i1", "item.i2"] {
            let start = try #require(events.firstIndex { $0["type"] as? String == "refresh_start" && JSONEventsTests.address($0) == address })
            let done = try #require(events.firstIndex { $0["type"] as? String == "refresh_complete" && JSONEventsTests.address($0) == address })
            #expect(start < done)
        }
        let both = try await h.run("plan", "--json-stream", "--format", "json")
        #expect(both.status != 0 && both.err.contains("leave out --format"), "\(both.err)")
    }
}
