import Foundation
import Testing

/// Renderer golden files: a fixed spec and state in, the human, JSON and Markdown plans out.
/// Run with MLINFRA_UPDATE_GOLDEN=1 to rewrite them; review the diff before committing.
@Suite struct GoldenPlanTests {
    static let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("golden")

    /// The head of the specs that use only the `disk` provider, up to their resources.
    static let head = "mlinfra: 1\nproject: golden\nproviders:\n  disk: { dir: objects }\nresources:\n"

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

    /// Removes what differs from run to run (the state's random lineage, the JSON plan's timestamp); a JSON plan
    /// (one line, as tools read it) is laid out with sorted keys, one value per line, so its golden file reviews well.
    static func normalise(_ text: String) -> String {
        var text = text.replacing(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/, with: "LINEAGE")
            .replacing(/"timestamp":"[0-9T:\-Z]+"/, with: "\"timestamp\":\"TIMESTAMP\"")
        if text.hasPrefix("{"), let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        {
            text = String(decoding: pretty, as: UTF8.self) + "\n"
        }
        return text
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

    /// Compares `output` with the golden file `name`, rewriting it under MLINFRA_UPDATE_GOLDEN=1.
    static func expectGolden(_ output: String, _ name: String) throws {
        let golden = goldenDirectory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["MLINFRA_UPDATE_GOLDEN"] == "1" {
            try output.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(output == expected, "\(name) differs; rerun with MLINFRA_UPDATE_GOLDEN=1 and review the diff")
    }

    /// Module addresses, a move into a module, an import into one and a forget, in every format.
    @Test(arguments: [("human", "modules.txt"), ("json", "modules.json"), ("markdown", "modules.md")])
    func modulesMovesImportsAndForgetsRenderAsTheGoldenFile(format: String, file: String) async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", """
            \(Self.head)  item.keep: { size: 1 }
              item.old: { size: 2, label: moving }
              item.gone: { size: 3 }
              item.ext: { size: 4, label: adopted }
            """)
        let apply = try await h.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply.err)")
        let ext = try await h.run("state", "show", "item.ext")
        let id = try #require(ext.out.split(separator: "\n").first { $0.contains("id") && !$0.contains("_id") }?
            .split(separator: "=").last?.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"")), "\(ext.out)")
        #expect(try await h.run("state", "rm", "item.ext").status == 0)
        try h.write("mod/main.yaml", """
            variables:
              label: { type: string }
            resources:
              item.moved: { size: 2, label: "${var.label}" }
              item.adopted: { size: 4, label: adopted }
              item.fresh: { size: 5, ref: "${item.moved.url}" }
            import:
              - { to: item.adopted, id: "\(id)" }
            outputs:
              url: ${item.fresh.url}
            """)
        try h.write("main.yaml", """
            \(Self.head)  item.keep: { size: 1 }
            modules:
              m: { source: ./mod, inputs: { label: moving } }
            moved:
              - { from: item.old, to: module.m.item.moved }
            removed:
              - { from: item.gone }
            outputs:
              fresh_url: ${module.m.url}
            """)
        let plan = try await h.run("plan", "--format", format)
        #expect(plan.status == 0, "\(plan.err)")
        try Self.expectGolden(Self.normalise(plan.out.replacingOccurrences(of: id, with: "EXT_ID")), file)
    }

    /// A replace that drops records: the provider's warning is in every format, first in the comment.
    @Test func aReplaceThatDropsRecordsWarnsInEveryFormat() async throws {
        let h = try CLIHarness()
        let spec = """
            mlinfra: 1
            project: golden
            resources:
              vector_store.main: {}
              vector_collection.docs: { store: main, dimension: 3 }
              vector_collection.notes: { store: main, dimension: 2, hnsw: { m: 16 } }

            """
        try h.write("main.yaml", spec)
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        try h.write("docs.jsonl", #"{"id": "a", "vector": [1, 0, 0]}"# + "\n" + #"{"id": "b", "vector": [0, 1, 0]}"# + "\n")
        let upsert = try await h.run("vectors", "upsert", "docs", "--file", h.directory.appendingPathComponent("docs.jsonl").path)
        #expect(upsert.status == 0, "\(upsert.out)\(upsert.err)")
        try h.write("main.yaml", spec.replacingOccurrences(of: "dimension: 3", with: "dimension: 4")
            .replacingOccurrences(of: "m: 16", with: "m: 32"))
        for (format, file) in [("human", "replace-drops-records.txt"), ("json", "replace-drops-records.json"), ("markdown", "replace-drops-records.md")] {
            let plan = try await h.run("plan", "--format", format, "--no-color")
            #expect(plan.status == 0, "\(plan.err)")
            #expect(plan.out.contains("its 2 records will be dropped"), "\(format): \(plan.out)")
            try Self.expectGolden(Self.normalise(plan.out).replacingOccurrences(of: h.directory.path, with: "SPEC_DIR"), file)
        }
        // Ranked first in the comment: the data loss before the in-place rebuild.
        let md = try await h.run("plan", "--format", "markdown")
        let caution = try #require(md.out.range(of: "> [!CAUTION]"))
        #expect(md.out.range(of: "<details>")!.lowerBound > caution.lowerBound)
        #expect(md.out.range(of: "`vector_collection.docs`")!.lowerBound < md.out.range(of: "`vector_collection.notes`")!.lowerBound)
    }

    /// A promotion: the alias moves and the endpoint behind it will roll out. Every format says so
    /// first, with the two versions' lineage and tags (where the metrics are kept) side by side, and
    /// shows the endpoint's update; apply returns once the endpoint serves the new version.
    @Test func aPromotionSaysWhatTheEndpointWillServeInEveryFormat() async throws {
        let h = try CLIHarness()
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for v in ["v1", "v2"] {
            try h.write("models/fraud-\(v).json", String(contentsOf: repository.appendingPathComponent("specs/quickstart/models/fraud-\(v).json"), encoding: .utf8))
        }
        let spec = """
            mlinfra: 1
            project: golden
            variables:
              port: { type: number }
            providers:
              local: { data_dir: .mlinfra }
            resources:
              registry.main: {}
              model.fraud_detector: { registry: "${registry.main}", protected_aliases: [production] }
              model_version.v1: { model: "${model.fraud_detector}", artifact: models/fraud-v1.json, format: linear-json, dataset: fraud_2024_q1, tags: { auc: "0.912", owner: risk } }
              model_version.v2: { model: "${model.fraud_detector}", artifact: models/fraud-v2.json, format: linear-json, dataset: fraud_2024_q2, tags: { auc: "0.934", owner: risk }, depends_on: [model_version.v1] }
              model_alias.production: { model: "${model.fraud_detector}", alias: production, version: "${model_version.v1.version}" }
              endpoint.fraud:
                model: ${model_alias.production.uri}
                port: ${var.port}
                traffic: { canary: "${model_version.v2.uri}", percent: 10 }

            """
        let port = try ValidateFindsMistakesTests.freePort()
        let env = ["MLINFRA_VAR_port": String(port)]
        try h.write("main.yaml", spec)
        defer { _ = try? h.process(["agent", "--stop"]).0.run() }
        let apply = try await h.run(["apply", "--auto-approve"], env: env)
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        guard apply.status == 0 else { return }
        try h.write("main.yaml", spec.replacingOccurrences(of: "version: \"${model_version.v1.version}\"", with: "version: \"${model_version.v2.version}\""))
        for (format, file) in [("human", "promotion.txt"), ("json", "promotion.json"), ("markdown", "promotion.md")] {
            let plan = try await h.run(["plan", "--format", format, "--no-color"], env: env)
            #expect(plan.status == 0, "\(plan.err)")
            #expect(plan.out.contains("endpoint.fraud will serve fraud_detector v2 (was v1), canary models:/fraud_detector/2 at 10 %"), "\(format): \(plan.out)")
            // The JSON view keeps values as they are: the runner's paths and the free port are this run's.
            let text = Self.normalise(plan.out).replacingOccurrences(of: h.directory.path, with: "SPEC_DIR")
                .replacingOccurrences(of: "(?<![0-9a-f])\(port)(?![0-9a-f])", with: "PORT", options: .regularExpression)  // not inside a hash
            try Self.expectGolden(text, file)
        }
        // Apply waits for the rollout: once it returns, the main share is v2 and the next plan has nothing to do.
        let promote = try await h.run(["apply", "--auto-approve"], env: env)
        #expect(promote.status == 0 && (promote.out + promote.err).contains("endpoint.fraud: Modifications complete"), "\(promote.out)\(promote.err)")
        let status = try await h.run(["endpoints", "status", "fraud", "--format", "json"], env: env)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(status.out.utf8)) as? [String: Any], "\(status.out)")
        let versions = (document["status"] as? [String: Any])?["versions"] as? [[String: Any]] ?? []
        #expect(versions.first { $0["role"] as? String == "primary" }?["version"] as? String == "fraud_detector/2", "\(status.out)")
        #expect(try await h.run(["plan", "--detailed-exitcode"], env: env).status == 0)
        let destroy = try await h.run(["destroy", "--auto-approve"], env: env)
        #expect(destroy.status == 0, "\(destroy.out)\(destroy.err)")
    }

    /// A plan over the comment limit keeps its summary and the risky changes, and says what it cut;
    /// `show PLANFILE` prints exactly what `plan` printed.
    @Test func anOverLongCommentKeepsTheRiskyChangesAndSaysWhatWasCut() async throws {
        let h = try CLIHarness()
        var before = Self.head
        for i in 0..<6 { before += "  item.old\(i): { size: \(i), label: \"an old item with a label long enough to fill the comment\" }\n" }
        try h.write("main.yaml", before)
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        var after = Self.head
        for i in 0..<3 { after += "  item.old\(i): { size: \(i), label: \"a changed label `with backticks ```` inside` for the update\" }\n" }
        for i in 0..<40 { after += "  item.new\(i): { size: \(i), label: \"a new item with a label long enough to fill the comment\" }\n" }
        try h.write("main.yaml", after)
        let plan = try await h.run("plan", "--format", "markdown", "--comment-limit", "4000", "--out", "plan.bin")
        #expect(plan.status == 0, "\(plan.err)")
        #expect(plan.out.utf8.count <= 4000, "\(plan.out.utf8.count) characters")
        #expect(plan.out.contains("**Plan: 40 to add, 3 to change, 3 to destroy.**"))
        #expect(plan.out.contains("Left out to stay under the 4000-character comment limit"), "\(plan.out)")
        for i in 0..<3 { #expect(plan.out.contains("<code>item.old\(i + 3)</code> — 🗑️ destroy"), "a destroy was cut") }
        // Backticks in a value are shown as they are, inside a longer fence.
        #expect(plan.out.contains("`with backticks ```` inside`") && plan.out.contains("`````diff"), "\(plan.out)")
        try Self.expectGolden(Self.normalise(plan.out), "over-long.md")

        let shown = try await h.run("show", "plan.bin", "--format", "markdown")
        #expect(shown.status == 0 && shown.out == plan.out, "show differs from plan:\n\(shown.out)")
        let human = try await h.run("plan", "--no-color")
        let shownHuman = try await h.run("show", "plan.bin")
        #expect(shownHuman.status == 0 && shownHuman.out == human.out, "show differs from plan:\n\(shownHuman.out)\n---\n\(human.out)")
    }

    /// A secret written as a literal inside a nested block (`alert.token`) is in no plan format,
    /// the JSON plan's `configuration` included.
    @Test func aNestedLiteralSecretIsInNoPlanFormat() async throws {
        let h = try CLIHarness()
        let secret = "nested-literal-token-93kq"
        try h.write("ref.csv", "x\n1\n2\n3\n")
        try h.write("cur.csv", "x\n1\n2\n4\n")
        try h.write("main.yaml", """
            mlinfra: 1
            project: golden
            resources:
              monitor.quality:
                dataset: cur.csv
                reference: ref.csv
                alert: { webhook: "http://127.0.0.1:9/hook", token: "\(secret)" }

            """)
        for format in ["human", "json", "markdown"] {
            let plan = try await h.run("plan", "--format", format)
            #expect(plan.status == 0, "\(plan.err)")
            #expect(!plan.out.contains(secret) && !plan.err.contains(secret), "\(format) shows the secret")
        }
        let json = try await h.run("plan", "--format", "json")
        #expect(json.out.contains("\"webhook\":\"http://127.0.0.1:9/hook\""), "the rest of the block is still shown: \(json.out)")
    }
}
