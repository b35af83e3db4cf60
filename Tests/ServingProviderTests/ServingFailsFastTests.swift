import Foundation
import Testing

@testable import ServingProvider

/// An endpoint whose model the agent refuses (here an MLflow folder with no xgboost flavor, which
/// passes the plan: it is a registered version) fails its apply as soon as the agent reports so,
/// naming why, instead of waiting out `ready_timeout`: waiting longer would change nothing.
@Suite(.serialized) struct ServingFailsFastTests {
    @Test(.enabled(if: TestBinary.path != nil), .timeLimit(.minutes(3)))
    func aModelTheAgentRefusesFailsTheApplyAtOnce() async throws {
        let scratch = CLIEndToEndTests.AgentScratch()
        defer { scratch.cleanUp() }
        let folder = scratch.dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("not a model".utf8).write(to: folder.appendingPathComponent("model.pkl"))
        try """
            flavors:
              python_function:
                loader_module: mlflow.sklearn
                model_path: model.pkl
                python_version: 3.11.7
              sklearn:
                pickled_model: model.pkl
                serialization_format: cloudpickle
                sklearn_version: 1.9.1
            mlflow_version: 3.17.2

            """.write(to: folder.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        let spec = scratch.spec(project: "fail-fast", model: "fraud", version: #"{ model: "${model.fraud}", artifact: model }"#)
            .replacingOccurrences(of: "ready_timeout: 60s", with: "ready_timeout: 120s")
        #expect(spec.contains("ready_timeout: 120s"), "\(spec)")
        let started = ContinuousClock.now
        let apply = try await scratch.apply(spec)
        let took = ContinuousClock.now - started
        #expect(apply.status == 1)
        let output = apply.out + apply.err
        #expect(output.contains("endpoint fraud cannot be served as applied"), "\(output)")
        #expect(output.contains("xgboost"), "the reason names the flavor it needs: \(output)")
        #expect(!output.contains("is not ready after"), "\(output)")
        #expect(took < .seconds(60), "apply took \(took) of a 120 s ready_timeout")
    }
}
