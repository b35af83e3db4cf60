import Foundation
import Testing

/// Renderer golden files: a fixed spec and state in, the human, JSON and Markdown plans out.
/// Run with MLINFRA_UPDATE_GOLDEN=1 to rewrite them; review the diff before committing.
@Suite struct GoldenPlanTests {
    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("golden")

    static let before = """
        mlinfra: 1
        project: golden
        variables:
          token: { type: string, sensitive: true, default: s3cr3t }
        providers:
          disk: { dir: objects }
        resources:
          item.keep: { size: 1, label: same }
          item.change: { size: 2, label: old, tags: { team: ml } }
          item.swap: { size: 3, kind: small }
          item.gone: { size: 4, lifecycle: { create_before_destroy: false } }
          item.secret: { size: 5, secret: "${var.token}" }
        outputs:
          change_url: ${item.change.url}
        """

    static let after = """
        mlinfra: 1
        project: golden
        variables:
          token: { type: string, sensitive: true, default: n3w-s3cr3t }
        providers:
          disk: { dir: objects }
        resources:
          item.keep: { size: 1, label: same }
          item.change: { size: 2, label: new, tags: { team: ml, tier: gold } }
          item.swap: { size: 3, kind: large }
          item.secret: { size: 5, secret: "${var.token}" }
          item.fresh: { size: 6, ref: "${item.keep.url}" }
        outputs:
          change_url: ${item.change.url}
          fresh_url: ${item.fresh.url}
        """

    /// Removes what differs from run to run (the state's random lineage).
    static func normalise(_ text: String) -> String {
        text.replacing(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, with: "LINEAGE")
    }

    @Test(arguments: [("human", "plan.txt"), ("json", "plan.json"), ("markdown", "plan.md")])
    func planRendersAsTheGoldenFile(format: String, file: String) async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", Self.before)
        let apply = try await h.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply.err)")
        try h.write("main.yaml", Self.after)
        let plan = try await h.run("plan", "--format", format)
        #expect(plan.status == 0, "\(plan.err)")
        let output = Self.normalise(plan.out)
        #expect(!output.contains("s3cr3t"))
        let golden = Self.goldenDirectory.appendingPathComponent(file)
        if ProcessInfo.processInfo.environment["MLINFRA_UPDATE_GOLDEN"] == "1" {
            try output.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(output == expected, "plan --format \(format) differs from \(file); rerun with MLINFRA_UPDATE_GOLDEN=1 and review the diff")
    }
}
