import Foundation
import ModelRegistry
import ModelRegistryTesting
import Testing

/// MLflow tracking kept by the registry engine: every test runs on both storages.
@Suite struct TrackingTests {
    @Test(arguments: RegistryBackend.allCases) func experimentsStartAfterTheDefaultAndNamesAreUnique(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        #expect(try f.registry.experiment(id: 0)?.name == "Default")
        let e = try f.registry.createExperiment("fraud", tags: ["team": "risk"])
        #expect(e.id == 1 && e.artifactLocation == "mlflow-artifacts:/1" && e.tags == ["team": "risk"])
        #expect(throws: RegistryError.self) { try f.registry.createExperiment("fraud") }
        try f.registry.updateExperiment(e.id, name: "fraud-v2", deleted: true)
        let reopened = try f.reopen()
        #expect(try reopened.experiment(named: "fraud-v2")?.deleted == true)
        #expect(try reopened.experiment(named: "fraud") == nil)
        #expect(try reopened.updateExperiment(e.id, deleted: false).deleted == false)
        #expect(throws: RegistryError.self) { try f.registry.updateExperiment(0, deleted: true) }
        #expect(try f.registry.experiments().map(\.id) == [0, 1])
    }

    @Test(arguments: RegistryBackend.allCases) func runsKeepParamsTagsAndEveryMetricPoint(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let e = try f.registry.createExperiment("fraud")
        let run = try f.registry.createRun(experimentID: e.id, name: "train", userID: "ana", startTime: 1000)
        #expect(run.status == "RUNNING" && run.artifactURI == "mlflow-artifacts:/1/\(run.id)/artifacts" && run.tags["mlflow.runName"] == "train")
        try f.registry.logBatch(
            run: run.id, metrics: [MetricPoint(key: "loss", value: 0.9, timestamp: 1, step: 0), MetricPoint(key: "loss", value: 0.4, timestamp: 2, step: 2)],
            params: ["C": "0.5"], tags: ["team": "risk"])
        try f.registry.logBatch(run: run.id, metrics: [MetricPoint(key: "loss", value: 0.6, timestamp: 3, step: 1)], params: ["C": "0.5"])
        // The same point logged again is kept once (MLflow's log_model does this).
        try f.registry.logBatch(run: run.id, metrics: [MetricPoint(key: "loss", value: 0.4, timestamp: 2, step: 2)])
        // A param keeps its first value.
        #expect(throws: RegistryError.self) { try f.registry.logBatch(run: run.id, params: ["C": "1.0"]) }
        #expect(throws: RegistryError.self) { try f.registry.logBatch(run: run.id, metrics: [MetricPoint(key: "x", value: .nan, timestamp: 1, step: 0)]) }
        try f.registry.updateRun(run.id, status: "FINISHED", endTime: 5000)
        #expect(throws: RegistryError.self) { try f.registry.updateRun(run.id, status: "DONE") }

        let got = try #require(try f.reopen().run(run.id))
        #expect(got.params == ["C": "0.5"] && got.tags["team"] == "risk")
        #expect(got.status == "FINISHED" && got.endTime == 5000 && got.startTime == 1000)
        // The latest point is the one of the highest step, not the last logged.
        #expect(got.latestMetrics == [MetricPoint(key: "loss", value: 0.4, timestamp: 2, step: 2)])
        #expect(try f.registry.metricHistory(run: run.id, key: "loss").map(\.value) == [0.9, 0.4, 0.6])

        try f.registry.updateRun(run.id, deleted: true)
        #expect(throws: RegistryError.self) { try f.registry.logBatch(run: run.id, tags: ["a": "b"]) }
        #expect(try f.registry.runs(inExperiments: [e.id]).map(\.deleted) == [true])
        #expect(try f.registry.runs(inExperiments: [0]).isEmpty)
    }

    @Test(arguments: RegistryBackend.allCases) func aLoggedModelsFilesBecomeADirectoryVersion(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let run = try f.registry.createRun(experimentID: 0, name: nil, userID: "ana", startTime: nil)
        let model = try f.registry.createLoggedModel(experimentID: 0, name: "model", sourceRunID: run.id)
        #expect(model.status == "LOGGED_MODEL_PENDING" && model.artifactLocation == "mlflow-artifacts:/0/models/\(model.id)/artifacts")
        let prefix = "0/models/\(model.id)/artifacts"
        let files = ["MLmodel": "flavors: {}\n", "model.pkl": "weights", "sub/extra.txt": "more"]
        for (name, text) in files {
            try f.registry.storeTrackedArtifact("\(prefix)/\(name)", file: try f.artifact(text))
        }
        // A sibling folder whose name starts the same is not under the prefix.
        try f.registry.storeTrackedArtifact(prefix + "-other/x", file: try f.artifact("not mine"))
        #expect(try f.registry.trackedArtifacts(under: prefix).map(\.path) == files.keys.sorted().map { "\(prefix)/\($0)" })
        #expect(throws: RegistryError.self) { try f.registry.storeTrackedArtifact("0/../etc/passwd", file: try f.artifact("x")) }
        try f.registry.updateLoggedModel(model.id, status: "LOGGED_MODEL_READY", settingTags: ["k": "v"])
        try f.registry.logOutputs(run: run.id, models: [model.id])
        #expect(try f.registry.run(run.id)?.outputs == [model.id])
        #expect(try f.registry.loggedModel(model.id)?.tags == ["k": "v"])

        try f.registry.createModel("churn", context: .command())
        let version = try f.registry.registerTracked(
            model: "churn", prefix: prefix, source: "models:/\(model.id)", format: "mlflow", runID: run.id, context: .command())
        #expect(version.kind == .directory && version.source == "models:/\(model.id)" && version.lineage.runID == run.id)
        let out = f.root.appendingPathComponent("exported")
        try f.registry.exportArtifact(try f.registry.resolve("models:/churn/1"), to: out)
        for (name, text) in files {
            #expect(try String(contentsOf: out.appendingPathComponent(name), encoding: .utf8) == text)
        }
        #expect(try f.registry.files(of: version).map(\.path) == files.keys.sorted())
        // The same files registered from a local folder give the same sha256.
        #expect(try ModelRegistry.sha256(ofArtifact: out) == version.sha256)
    }

    @Test(arguments: RegistryBackend.allCases) func renamingAModelMovesItsVersionsAndAliases(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.register("fraud", "a")
        try f.register("fraud", "b")
        try f.registry.setAlias("fraud", "production", version: 2, context: .command())
        try f.registry.updateModel("fraud", protectedAliases: ["champion"], context: applyContext)
        try f.registry.renameModel("fraud", to: "fraud-detector", context: .command())
        #expect(try f.registry.model("fraud") == nil)
        let renamed = try #require(try f.reopen().model("fraud-detector"))
        #expect(renamed.aliases == ["production": 2] && renamed.protectedAliases == ["champion"] && renamed.lastVersion == 2)
        #expect(try f.registry.resolve("models:/fraud-detector@production").version == 2)
        #expect(try f.register("fraud-detector", "c").version == 3)
        try f.register("other", "x")
        #expect(throws: RegistryError.self) { try f.registry.renameModel("other", to: "fraud-detector", context: .command()) }
        #expect(try f.registry.history(of: "fraud-detector").contains { $0.action == "model.rename" })
    }
}
