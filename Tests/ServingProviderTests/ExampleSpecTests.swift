import Foundation
import NIOCore
import Testing

@testable import ModelServing
import ServingProvider

/// `specs/fraud-detection/` as its README walks through it: generate the data, apply, load the
/// online store, predict by entity (production and the canary both answer), run the drift
/// monitor on the captured traffic, promote v2 with the one-line diff, destroy.
@Suite(.serialized) struct ExampleSpecTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test(.enabled(if: TestBinary.path != nil), .timeLimit(.minutes(3)))
    func fraudDetectionAppliesServesMonitorsPromotesAndDestroys() async throws {
        let dir = temporaryDirectory()
        let source = Self.repository.appendingPathComponent("specs/fraud-detection")
        for name in ["main.yaml", "generate.py", "models"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        let cli = CLI(binary: TestBinary.path!, directory: dir)
        let port = freePort()
        let vars = ["--var", "port=\(port)", "--var", "alert_token=example-token-0123"]
        let client = HTTPClientPool()
        defer { _ = try? Process.run(URL(fileURLWithPath: TestBinary.path!), arguments: ["agent", "--stop", "--data-dir", dir.appendingPathComponent(".mlinfra").path]).waitUntilExit() }

        let generate = Process()
        generate.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        generate.arguments = ["python3", dir.appendingPathComponent("generate.py").path, "--customers", "200"]
        try generate.run()
        generate.waitUntilExit()
        #expect(generate.terminationStatus == 0)

        let apply = try await cli.run(["apply", "--auto-approve"] + vars)
        #expect(apply.status == 0 && apply.out.contains("Apply complete! 11 applied"), "\(apply.out)\(apply.err)")
        guard apply.status == 0 else { return }
        let materialize = try await cli.run("features", "materialize", "--store", "fraud", "0", "now")
        #expect(materialize.status == 0 && materialize.out.contains("200 entities"), "\(materialize.out)\(materialize.err)")

        var versions: Set<String> = []
        for i in 0..<60 {
            let ids = [i % 200 + 1, (i + 7) % 200 + 1]
            let reply = try await client.execute(port: port, path: "/predict", body: ByteBuffer(string: #"{"entities": {"customer_id": \#(ids)}}"#), timeout: 10)
            #expect(reply.status == 200, "\(String(buffer: reply.body))")
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any])
            let predictions = try #require(answer["predictions"] as? [Double])
            #expect(predictions.count == 2 && predictions.allSatisfy { $0 > 0 && $0 < 1 }, "\(answer)")
            #expect((answer["feature_statuses"] as? [String: [String]])?["account_age_days"] == ["PRESENT", "PRESENT"], "\(answer)")
            if let version = answer["version"] as? String { versions.insert(version) }
        }
        #expect(versions.contains("fraud_detector/1"), "\(versions)")
        // What a script does before a monitor run: wait until the captured rows are in the store
        // (the writer's 250 ms interval stretches on a machine whose CPUs are all busy).
        var captured = 0
        for _ in 0..<100 where captured == 0 {
            let metrics = try await client.execute(port: port, method: .GET, path: "/metrics", timeout: 10)
            captured = String(buffer: metrics.body).split(separator: "\n")
                .first { $0.hasPrefix("mlinfra_router_capture_written_total{") }
                .flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
            if captured == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(captured > 0, "no captured row reached the store within 10 s")

        let drift = try await cli.run("monitors", "run", "fraud_drift", "--now", "--format", "json")
        #expect(drift.status == 0, "\(drift.out)\(drift.err)")
        let run = try #require(try JSONSerialization.jsonObject(with: Data(drift.out.utf8)) as? [String: Any], "\(drift.out)")
        let report = try #require(run["report"] as? [String: Any])
        #expect((report["current_rows"] as? Int ?? 0) > 0 && run["feature_count"] as? Int == 2, "\(drift.out)")

        // The promotion: one line.
        let spec = dir.appendingPathComponent("main.yaml")
        let text = try String(contentsOf: spec, encoding: .utf8)
        try text.replacingOccurrences(of: "version: ${model_version.v1.version}", with: "version: ${model_version.v2.version}")
            .write(to: spec, atomically: true, encoding: .utf8)
        let plan = try await cli.run(["plan", "--detailed-exitcode"] + vars)
        #expect(plan.status == 2 && plan.out.contains("model_alias.production"), "\(plan.out)\(plan.err)")
        // The plan says what the promotion means for serving, in the terminal and in the PR comment.
        #expect(plan.out.contains("endpoint.fraud will serve fraud_detector v2 (was v1), canary models:/fraud_detector/2 at 10 %"), "\(plan.out)")
        let comment = try await cli.run(["plan", "--format", "markdown"] + vars)
        #expect(comment.out.contains("#### What this plan changes for serving") && comment.out.contains("| | v1 | v2 |"), "\(comment.out)")
        let promote = try await cli.run(["apply", "--auto-approve"] + vars)
        #expect(promote.status == 0, "\(promote.out)\(promote.err)")
        let status = try await cli.run("endpoints", "status", "fraud", "--format", "json")
        #expect(status.out.contains("fraud_detector/2"), "\(status.out)")

        let destroy = try await cli.run(["destroy", "--auto-approve"] + vars)
        #expect(destroy.status == 0 && destroy.out.contains("11 destroyed"), "\(destroy.out)\(destroy.err)")
        // Nothing is left for the agent: destroy stops it, and says what stays on disk.
        #expect(destroy.out.contains("Stopped the serving agent (pid ") && destroy.out.contains("Left in place: "), "\(destroy.out)")
        #expect(AgentProcess(dataDirectory: dir.appendingPathComponent(".mlinfra")).runningPID() == nil)
    }

    /// `specs/rag-search/` as its README walks through it: generate, apply, upsert the embeddings,
    /// retrieve with and without a filter, re-rank through the endpoint, see the plan of an index
    /// change, destroy.
    @Test(.enabled(if: TestBinary.path != nil), .timeLimit(.minutes(3)))
    func ragSearchAppliesRetrievesReRanksAndDestroys() async throws {
        let dir = temporaryDirectory()
        let source = Self.repository.appendingPathComponent("specs/rag-search")
        for name in ["main.yaml", "generate.py", "embed.py", "models"] {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: dir.appendingPathComponent(name))
        }
        let cli = CLI(binary: TestBinary.path!, directory: dir)
        let port = freePort()
        let vars = ["--var", "port=\(port)"]
        defer { _ = try? Process.run(URL(fileURLWithPath: TestBinary.path!), arguments: ["agent", "--stop", "--data-dir", dir.appendingPathComponent(".mlinfra").path]).waitUntilExit() }
        func python(_ args: [String]) throws -> String {
            let p = Process()
            let out = Pipe()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["python3"] + args
            p.currentDirectoryURL = dir
            p.standardOutput = out
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "python3 \(args)")
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try python(["generate.py", "--passages", "300"])

        let apply = try await cli.run(["apply", "--auto-approve"] + vars)
        #expect(apply.status == 0 && apply.out.contains("Apply complete! 7 applied"), "\(apply.out)\(apply.err)")
        guard apply.status == 0 else { return }
        let upsert = try await cli.run("vectors", "upsert", "passages", "--file", "data/passages.jsonl")
        #expect(upsert.status == 0 && upsert.out.contains("300 in all"), "\(upsert.out)\(upsert.err)")

        let query = try python(["embed.py", "how do I get a refund for a damaged parcel"])
        func matches(_ extra: [String]) async throws -> [[String: Any]] {
            let r = try await cli.run(["vectors", "query", "passages", "--vector", query, "--k", "5", "--format", "json"] + extra)
            #expect(r.status == 0, "\(r.out)\(r.err)")
            let answer = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.out)")
            return try #require(answer["matches"] as? [[String: Any]])
        }
        let nearest = try await matches([])
        let topics = nearest.compactMap { ($0["metadata"] as? [String: Any])?["topic"] as? String }
        #expect(nearest.count == 5 && topics.filter { $0 == "returns" }.count >= 3, "the refund question retrieves returns passages: \(topics)")
        let filtered = try await matches(["--where", #"{"topic": "returns", "year": {"$gte": 2024}}"#])
        #expect(filtered.count == 5, "a selective filter still returns k")
        for m in filtered {
            let metadata = try #require(m["metadata"] as? [String: Any])
            #expect(metadata["topic"] as? String == "returns" && (metadata["year"] as? Int ?? 0) >= 2024, "\(metadata)")
        }

        // Re-rank the candidates through the endpoint: similarity, age, length.
        let rows = filtered.map { m -> [Double] in
            let metadata = m["metadata"] as? [String: Any] ?? [:]
            return [1 - (m["distance"] as? Double ?? 1), Double((2026 - (metadata["year"] as? Int ?? 2026)) * 365), Double(metadata["words"] as? Int ?? 0)]
        }
        let body = try JSONSerialization.data(withJSONObject: ["instances": rows])
        let reply = try await HTTPClientPool().execute(port: port, path: "/predict", body: ByteBuffer(bytes: Array(body)), timeout: 10)
        #expect(reply.status == 200, "\(String(buffer: reply.body))")
        let scores = try #require((try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any])?["predictions"] as? [Double])
        #expect(scores.count == 5 && scores.allSatisfy { $0 > 0 && $0 < 1 }, "\(scores)")

        // An index change rebuilds in place; a dimension change warns of the records it drops.
        let spec = dir.appendingPathComponent("main.yaml")
        let text = try String(contentsOf: spec, encoding: .utf8)
        try text.replacingOccurrences(of: "m: 16", with: "m: 32").write(to: spec, atomically: true, encoding: .utf8)
        let rebuild = try await cli.run(["plan"] + vars)
        #expect(rebuild.out.contains("will rebuild its index in place (300 records kept)"), "\(rebuild.out)\(rebuild.err)")
        try text.replacingOccurrences(of: "dimension: 64", with: "dimension: 128").write(to: spec, atomically: true, encoding: .utf8)
        let replace = try await cli.run(["plan", "--format", "markdown"] + vars)
        #expect(replace.out.contains("its 300 records will be dropped"), "\(replace.out)\(replace.err)")
        try text.write(to: spec, atomically: true, encoding: .utf8)

        let destroy = try await cli.run(["destroy", "--auto-approve"] + vars)
        #expect(destroy.status == 0 && destroy.out.contains("7 destroyed"), "\(destroy.out)\(destroy.err)")
        #expect(AgentProcess(dataDirectory: dir.appendingPathComponent(".mlinfra")).runningPID() == nil)
    }
}
