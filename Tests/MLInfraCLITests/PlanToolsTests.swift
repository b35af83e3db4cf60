import Foundation
import Testing

/// The JSON plan read by the Terraform plan tools teams already run in CI, unmodified:
/// terraform-compliance (BDD features) and checkov (custom policies), from the venv `.ci/run`
/// makes (`MLINFRA_TEST_PLAN_TOOLS`, its `bin` directory).
@Suite struct PlanToolsTests {
    static let spec = """
        mlinfra: 1
        project: tools
        providers:
          disk: { dir: objects }
        resources:
          item.good: { size: 1, label: ok, tags: { team: ml } }
          item.bad: { size: 2, label: untagged }

        """

    static func tools() throws -> String {
        // MLINFRA_TEST_PLAN_TOOLS, else the venv .ci/run makes.
        let candidates = [ProcessInfo.processInfo.environment["MLINFRA_TEST_PLAN_TOOLS"], "/tmp/mlinfra-ci-plan-tools/bin"].compactMap { $0 }
        for dir in candidates where !dir.isEmpty
            && FileManager.default.isExecutableFile(atPath: dir + "/terraform-compliance") && FileManager.default.isExecutableFile(atPath: dir + "/checkov")
        {
            return dir
        }
        throw ToolsMissing()
    }

    struct ToolsMissing: Error, CustomStringConvertible {
        var description: String {
            "terraform-compliance and checkov are not installed: run .ci/run once, or `python3 -m venv /tmp/plan-tools && "
                + "/tmp/plan-tools/bin/pip install -r .ci/requirements-plan-tools.txt` and set MLINFRA_TEST_PLAN_TOOLS=/tmp/plan-tools/bin"
        }
    }

    static func run(_ tool: String, _ args: [String], in dir: URL) throws -> (status: Int32, out: String) {
        let p = Process()
        let out = Pipe()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = args
        p.currentDirectoryURL = dir
        p.standardOutput = out
        p.standardError = out
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = "1"
        env["BC_SKIP_MAPPING"] = "TRUE"  // checkov: no call home for its policy mapping
        env["CHECKOV_RUN_SCA_PACKAGE_SCAN_V2"] = "false"
        p.environment = env
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(.timeLimit(.minutes(4))) func terraformComplianceAndCheckovJudgeAnMlinfraPlanAsATerraformOne() async throws {
        let bin = try Self.tools()
        let h = try CLIHarness()
        try h.write("main.yaml", Self.spec)
        let plan = try await h.run("plan", "--format", "json", "--out", "plan.bin")
        #expect(plan.status == 0 && plan.out.split(separator: "\n").count == 1, "one JSON document on one line: \(plan.err)")
        try h.write("plan.json", plan.out)
        let shown = try await h.run("show", "plan.bin", "--format", "json")
        try h.write("shown.json", shown.out)

        try FileManager.default.createDirectory(at: h.directory.appendingPathComponent("features"), withIntermediateDirectories: true)
        try h.write("features/items.feature", """
            Feature: Items are tagged and sized
              Scenario: every item has a size
                Given I have item defined
                Then it must contain size

              Scenario: every item has a team tag
                Given I have item defined
                Then it must contain tags
                And it must contain team

            """)
        for file in ["plan.json", "shown.json"] {
            let r = try Self.run(bin + "/terraform-compliance", ["-p", file, "-f", "features", "--no-ansi"], in: h.directory)
            #expect(r.status != 0, "a failing scenario fails the run: \(r.out)")
            #expect(r.out.contains("2 scenarios (1 passed, 1 failed)"), "\(file): \(r.out)")
            #expect(r.out.contains("item.bad (item) does not have tags property"), "\(r.out)")
            #expect(!r.out.contains("item.good (item) does not have"), "\(r.out)")
        }
        // Only the passing scenario: the run passes.
        try h.write("features/items.feature", "Feature: sized\n  Scenario: every item has a size\n    Given I have item defined\n    Then it must contain size\n")
        let passing = try Self.run(bin + "/terraform-compliance", ["-p", "plan.json", "-f", "features", "--no-ansi"], in: h.directory)
        #expect(passing.status == 0 && passing.out.contains("1 scenarios (1 passed)"), "\(passing.out)")

        try FileManager.default.createDirectory(at: h.directory.appendingPathComponent("policies"), withIntermediateDirectories: true)
        try h.write("policies/team_tag.yaml", """
            metadata:
              id: "CKV2_MLINFRA_1"
              name: "Items carry a team tag"
              category: "GENERAL_SECURITY"
            definition:
              cond_type: "attribute"
              resource_types: ["item"]
              attribute: "tags.team"
              operator: "exists"

            """)
        let checkov = try Self.run(
            bin + "/checkov", ["-f", "plan.json", "--framework", "terraform_plan", "--external-checks-dir", "policies", "--check", "CKV2_MLINFRA_1", "-o", "json"],
            in: h.directory)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(checkov.out.utf8)) as? [String: Any], "\(checkov.out)")
        let results = try #require(report["results"] as? [String: Any])
        let passed = (results["passed_checks"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? String }
        let failed = (results["failed_checks"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? String }
        #expect(passed == ["item.good"] && failed == ["item.bad"], "passed \(passed), failed \(failed)")
        #expect(checkov.status != 0, "a failed check fails checkov")
    }
}
