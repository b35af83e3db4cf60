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
}
