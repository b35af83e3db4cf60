import Foundation
import HTTPTesting
import NIOCore
import Testing

@testable import ServingProvider

/// The whole path a team takes with MLflow: a training script logs an XGBoost model with
/// `registered_model_name` against `mlinfra models serve` as its tracking URI (unmodified, with only
/// `MLFLOW_TRACKING_URI` and `MLFLOW_TRACKING_TOKEN` set) and moves the `production` alias; an
/// endpoint of the spec serves `scorer@production` from the same registry, and its answers equal
/// the booster's own predictions.
@Suite(.serialized) struct MLflowToServingTests {
    static let script = #"""
        import json, sys
        import numpy as np, xgboost as xgb, mlflow, mlflow.xgboost
        from mlflow import MlflowClient
        rng = np.random.default_rng(7)
        names = ["a", "b", "c"]
        X = rng.normal(size=(400, 3)); y = (X[:, 0] + 0.5 * X[:, 1] - 0.25 * X[:, 2] > 0).astype(int)
        booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(X, label=y, feature_names=names), 12)
        mlflow.set_experiment("scoring")
        with mlflow.start_run():
            mlflow.log_param("max_depth", 3)
            mlflow.xgboost.log_model(booster, name="model", registered_model_name="scorer")
        MlflowClient().set_registered_model_alias("scorer", "production", "1")
        test = rng.normal(size=(6, 3))
        print(json.dumps({"x": test.tolist(), "p": booster.predict(xgb.DMatrix(test, feature_names=names)).tolist()}))
        """#

    @Test(.enabled(if: TestBinary.path != nil), .timeLimit(.minutes(4)))
    func aModelLoggedWithMLflowIsServedThroughItsAlias() async throws {
        let python = try PeerPython.require(["mlflow", "xgboost"])
        let scratch = CLIEndToEndTests.AgentScratch()
        defer { scratch.cleanUp() }
        let registry = "mlinfra: 1\nproject: mlflow-serving\nproviders:\n  local: { data_dir: .mlinfra }\nresources:\n  registry.main: {}\n"
        #expect(try await scratch.apply(registry).status == 0)
        let created = try await scratch.cli.run("tokens", "create", "trainer", "--scope", "registry:read", "--scope", "registry:write")
        let token = try #require(created.out.split(whereSeparator: \.isWhitespace).map(String.init).first { $0.count >= 32 }, "\(created.out)")

        // The tracking server; it prints its URL once it listens.
        let port = freePort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: TestBinary.path!)
        server.arguments = ["models", "serve", "--port", "\(port)"]
        server.currentDirectoryURL = scratch.dir
        let out = Pipe()
        server.standardOutput = out
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { server.terminate(); server.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)"
        var banner = ""
        while !banner.contains(url) {
            let chunk = out.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            banner += String(decoding: chunk, as: UTF8.self)
        }
        try #require(banner.contains(url), "models serve printed: \(banner)")

        let trained = try PeerPython.run(python, script: Self.script, arguments: [],
                                         environment: ["MLFLOW_TRACKING_URI": url, "MLFLOW_TRACKING_TOKEN": token])
        let lastLine = String(decoding: trained, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        struct Trained: Decodable { var x: [[Double]]; var p: [Double] }
        let expected = try JSONDecoder().decode(Trained.self, from: Data(lastLine.utf8))

        let apply = try await scratch.apply(registry + """
              endpoint.scorer: { model: "scorer@production", port: \(scratch.port), ready_timeout: 60s }

            """)
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        guard apply.status == 0 else { return }
        let rows = expected.x.map { "[" + $0.map { "\($0)" }.joined(separator: ",") + "]" }.joined(separator: ",")
        let reply = try await scratch.client.execute(port: scratch.port, path: "/predict", body: ByteBuffer(string: #"{"instances": [\#(rows)]}"#), timeout: 10)
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any], "\(String(buffer: reply.body))")
        let got = answer["predictions"] as? [Double] ?? []
        #expect(answer["version"] as? String == "scorer/1", "\(answer)")
        #expect(got.count == expected.p.count && zip(got, expected.p).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(got) vs \(expected.p)")
    }
}
