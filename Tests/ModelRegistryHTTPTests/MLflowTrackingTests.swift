import Foundation
import HTTPTesting
import MLInfraHTTP
import ModelRegistry
import ModelRegistryHTTP
import ModelRegistryTesting
import Testing

/// MLflow's own client runs a typical training script against the registry server, with only
/// `MLFLOW_TRACKING_URI` (and a token) set: tracking, the artifact proxy, logged models,
/// registration from runs and pyfunc loading through an alias.
@Suite struct MLflowTrackingTests {
    /// On SQLite with the server requiring a token (`MLFLOW_TRACKING_TOKEN`), and plain on PostgreSQL.
    @Test(arguments: [(RegistryBackend.sqlite, true), (.postgres, false)])
    func trainingScriptTracksRegistersAndLoadsThroughAnAlias(backend: RegistryBackend, withToken: Bool) async throws {
        let python = try PeerPython.require(["mlflow", "sklearn"])
        let f = try await RegistryFixture.make(backend)
        var policy = ServerPolicy(server: "registry")
        var environment = ["GIT_PYTHON_REFRESH": "quiet", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"]
        if withToken {
            let tokens = AccessTokens(file: f.root.appendingPathComponent("tokens.json"))
            environment["MLFLOW_TRACKING_TOKEN"] = try tokens.create(name: "trainer", scopes: ["registry:write"]).1
            policy.tokens = tokens
        }
        let server = RegistryHTTPServer(registry: f.registry, policy: policy)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let serving = Task { try await server.run(port: 0) { continuation.yield($0) } }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        environment["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:\(port)"

        let output = try await Task.detached {
            try PeerPython.run(python, script: Self.script, arguments: [withToken ? "token" : "open"], environment: environment)
        }.value
        let lastLine = try #require(output.split(separator: UInt8(ascii: "\n")).last, "the script printed nothing")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(lastLine)) as? [String: Any])

        // The script's own checks passed; what it did is in the registry's storage.
        #expect(report["predictions_equal"] as? Bool == true)
        #expect(report["downloaded"] as? [String] == [
            "MLmodel", "conda.yaml", "input_example.json", "model.skops", "python_env.yaml", "registered_model_meta",
            "requirements.txt", "serving_input_example.json",
        ])
        #expect(report["found"] as? [String] == ["2"])
        let runID = try #require(report["run_id"] as? String)
        let run = try #require(try f.registry.run(runID))
        #expect(run.status == "FINISHED" && run.endTime != nil)
        #expect(run.params == ["C": "0.5", "max_iter": "200"])
        #expect(try f.registry.metricHistory(run: runID, key: "loss").map(\.value) == [1.0, 0.5, 1.0 / 3.0])
        #expect(try f.registry.experiment(named: "fraud-training") != nil)
        #expect(try f.registry.model("fraud") == nil)
        let versions = try f.registry.versions(of: "fraud-detector")
        #expect(versions.map(\.version) == [1, 2])
        #expect(versions.allSatisfy { $0.kind == .directory && $0.lineage.runID == runID })
        #expect(try f.registry.resolve("models:/fraud-detector@production").version == 1)
    }

    static let script = #"""
        import json, os, sys
        import numpy as np
        import requests
        import mlflow
        from mlflow import MlflowClient
        from sklearn.datasets import make_classification
        from sklearn.linear_model import LogisticRegression

        # A typical training script: nothing in it knows about mlinfra.
        X, y = make_classification(n_samples=200, n_features=5, random_state=0)
        mlflow.set_experiment("fraud-training")
        params = {"C": 0.5, "max_iter": 200}
        with mlflow.start_run(run_name="train") as run:
            model = LogisticRegression(**params).fit(X, y)
            mlflow.log_params(params)
            mlflow.log_metrics({"accuracy": float(model.score(X, y))})
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.set_tag("team", "risk")
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name="fraud", input_example=X[:2])
        client = MlflowClient()
        client.set_registered_model_alias("fraud", "production", info.registered_model_version)
        loaded = mlflow.pyfunc.load_model("models:/fraud@production")
        predictions_equal = bool(np.array_equal(loaded.predict(X), model.predict(X)))

        # The rest of the standard flow.
        v2 = mlflow.register_model(f"runs:/{run.info.run_id}/model", "fraud")
        assert str(v2.version) == "2", v2
        downloaded = mlflow.artifacts.download_artifacts("models:/fraud/1")
        client.rename_registered_model("fraud", "fraud-detector")
        found = client.search_model_versions("name IN ('fraud-detector', 'other') and version_number > 1")
        fetched = client.get_run(run.info.run_id)
        assert fetched.data.params == {"C": "0.5", "max_iter": "200"}, fetched.data.params
        assert fetched.data.metrics["loss"] == 1.0 / 3, fetched.data.metrics
        assert fetched.data.tags["team"] == "risk"
        assert [m.value for m in client.get_metric_history(run.info.run_id, "loss")] == [1.0, 0.5, 1.0 / 3]
        runs = mlflow.search_runs(experiment_names=["fraud-training"], filter_string="metrics.accuracy > 0.5 and params.C = '0.5'", output_format="list")
        assert [r.info.run_id for r in runs] == [run.info.run_id], runs
        assert mlflow.search_runs(experiment_names=["fraud-training"], filter_string="metrics.accuracy > 2", output_format="list") == []
        assert np.array_equal(mlflow.pyfunc.load_model("models:/fraud-detector/2").predict(X), model.predict(X))

        # A bad filter is refused in MLflow's error shape, naming the field.
        uri = os.environ["MLFLOW_TRACKING_URI"]
        headers = {"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]} if sys.argv[1] == "token" else {}
        bad = requests.get(uri + "/api/2.0/mlflow/model-versions/search", params={"filter": "version_number >"}, headers=headers)
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE" and bad.json()["field"] == "filter", bad.text
        if sys.argv[1] == "token":
            # Without its token the tracking API and the artifact proxy refuse.
            assert requests.post(uri + "/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}).status_code == 401
            assert requests.put(uri + "/api/2.0/mlflow-artifacts/artifacts/0/x/artifacts/f.txt", data=b"x").status_code == 401

        print(json.dumps({
            "predictions_equal": predictions_equal,
            "downloaded": sorted(os.listdir(downloaded)),
            "found": [str(v.version) for v in found],
            "run_id": run.info.run_id,
        }))
        """#
}
