import FeatureStore
import Foundation
import MLInfraTesting
import ServingProvider
import Testing

@testable import ModelServing

/// `POST /predict` with `{"entities": …}`: features read from a materialized online store, in the
/// model's feature order, with missing, null, not-found and too-old values as missing values.
@Suite struct EntityPredictTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// A feature store `shop` under `<dir>/features/shop`: entity customer (customer_id), views
    /// `stats_a` (f0…f2) and `stats_b` (f3…f5, ttl one day), and a service `fraud` listing all six
    /// out of order. Customers 1…n get the fixture's input rows (nil → empty cell, a stored null);
    /// customer 1000 has only a stats_b row two days old; nobody else exists.
    final class Store: @unchecked Sendable {
        // @unchecked Sendable: set once in init.
        let directory: URL
        let inputs: [[Double?]]
        let binding: FeatureBinding

        init(rows: Int, online: OnlineStoreSetting = .sqlite) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("entity-predict-\(UUID().uuidString)")
            let storeDir = directory.appendingPathComponent("features/shop")
            try FileManager.default.createDirectory(at: storeDir, withIntermediateDirectories: true)
            let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: EntityPredictTests.fixtures.appendingPathComponent("binary.cases.json"))) as! [String: Any]
            inputs = (cases["inputs"] as! [[Any]]).prefix(rows).map { row in row.map { ($0 as? NSNumber)?.doubleValue } }
            let now = Int64(Date().timeIntervalSince1970)
            func cell(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
            var a = "customer_id,event_timestamp,f0,f1,f2\n"
            var b = "customer_id,event_timestamp,f3,f4,f5\n"
            for (i, row) in inputs.enumerated() {
                a += "\(i + 1),\(now - 3600),\(cell(row[0])),\(cell(row[1])),\(cell(row[2]))\n"
                b += "\(i + 1),\(now - 3600),\(cell(row[3])),\(cell(row[4])),\(cell(row[5]))\n"
            }
            b += "1000,\(now - 2 * 86_400),1,1,1\n"
            try a.write(to: directory.appendingPathComponent("a.csv"), atomically: true, encoding: .utf8)
            try b.write(to: directory.appendingPathComponent("b.csv"), atomically: true, encoding: .utf8)
            let store = try LocalFeatureStore(directory: storeDir.path, online: online)
            try store.apply(Entity(name: "customer", joinKeys: ["customer_id"]))
            let floats = { (names: [String]) in names.map { Feature(name: $0, type: .float64) } }
            try store.apply(FeatureView(name: "stats_a", entities: ["customer"], source: .csv(directory.appendingPathComponent("a.csv").path),
                                        features: floats(["f0", "f1", "f2"]), ttlSeconds: 0))
            try store.apply(FeatureView(name: "stats_b", entities: ["customer"], source: .csv(directory.appendingPathComponent("b.csv").path),
                                        features: floats(["f3", "f4", "f5"]), ttlSeconds: 86_400))
            try store.apply(FeatureService(name: "fraud", features: ["stats_b:f5", "stats_a:f0", "stats_b:f3", "stats_a:f2", "stats_a:f1", "stats_b:f4"]
                .map { FeatureReference(parsing: $0)! }))
            _ = try store.materialize(start: 0, end: (now + 60) * 1_000_000)
            binding = try FeatureBinding.resolve("shop/fraud", featuresDirectory: directory.appendingPathComponent("features"))
        }

        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    static func model() throws -> XGBoostModel {
        try XGBoostModel(json: Data(contentsOf: fixtures.appendingPathComponent("binary.model.json")), source: "binary")
    }

    static func object(_ answer: ReplicaHandler.Answer) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
    }

    /// On the Redis online store too: the replica's lookup opens the store as `apply` saved it.
    @Test(arguments: ["sqlite", "redis"]) func entityRowsPredictLikeTheSameInstancesSentByHand(_ kind: String) async throws {
        let online: OnlineStoreSetting = kind == "sqlite"
            ? .sqlite : .redis(try RedisURL(parsing: try await RedisTestServer.shared().url()), namespace: "serving-" + UUID().uuidString)
        let store = try Store(rows: 8, online: online)
        let model = try Self.model()
        let handler = ReplicaHandler(runtime: model, modelName: "fraud", endpointName: "ep", version: "fraud/1",
                                     features: try FeatureLookup(binding: store.binding, featureNames: model.featureNames))
        // Customers 1…8, an unknown one (9) and one whose stats_b row is older than the ttl (1000).
        let ids = Array(1...8) + [9, 1000]
        let answer = handler.predict(Data(#"{"entities": {"customer_id": \#(ids)}}"#.utf8))
        #expect(answer.status == 200, "\(answer.body)")
        let viaEntities = try Self.object(answer)

        // The same rows by hand: the fixture rows, then all-missing, then f0…f2 missing and f3…f5 too old (missing).
        var rows: [[Double?]] = store.inputs
        rows.append(Array(repeating: nil, count: 6))
        rows.append(Array(repeating: nil, count: 6))
        let instances = rows.map { "[" + $0.map { $0.map { "\($0)" } ?? "null" }.joined(separator: ",") + "]" }.joined(separator: ",")
        let byHand = try Self.object(handler.predict(Data(#"{"instances": [\#(instances)]}"#.utf8)))
        let predicted = try #require(viaEntities["predictions"] as? [Double])
        #expect(predicted == byHand["predictions"] as? [Double])
        #expect(predicted.count == ids.count)

        // And XGBoost's own predictions for the fixture rows.
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.fixtures.appendingPathComponent("binary.cases.json"))) as! [String: Any]
        let expected = (cases["prediction"] as! [[Double]]).prefix(8).map { $0[0] }
        for (p, e) in zip(predicted, expected) { #expect(abs(p - e) < 1e-6) }

        // The rows the model saw, and each feature's online status per row.
        let seen = try #require(viaEntities["instances"] as? [[Any]])
        #expect(seen.count == ids.count)
        #expect(seen[8].allSatisfy { $0 is NSNull })
        let statuses = try #require(viaEntities["feature_statuses"] as? [String: [String]])
        #expect(Set(statuses.keys) == Set(model.featureNames))
        #expect(statuses["f0"]?[8] == "NOT_FOUND")
        #expect(statuses["f0"]?[9] == "NOT_FOUND")
        #expect(statuses["f3"]?[9] == "OUTSIDE_MAX_AGE")
        let firstNull = try #require(store.inputs[0].firstIndex { $0 == nil })
        #expect(statuses["f\(firstNull)"]?[0] == "NULL_VALUE")
        #expect(statuses["f1"]?[0] == "PRESENT")
    }

    @Test func aViewServesItsOwnFeaturesInTheModelsOrder() throws {
        let store = try Store(rows: 3)
        // A linear model over two of stats_a's features, in the reverse of the view's order.
        let model = LinearModel(weights: [1, 1000], intercept: 0, link: .identity, featureNames: ["f2", "f0"])
        let binding = try FeatureBinding.resolve("shop/stats_a", featuresDirectory: store.directory.appendingPathComponent("features"))
        let handler = ReplicaHandler(runtime: model, modelName: "lin", endpointName: "ep", version: "lin/1",
                                     features: try FeatureLookup(binding: binding, featureNames: model.featureNames))
        let object = try Self.object(handler.predict(Data(#"{"entities": {"customer_id": ["2"]}}"#.utf8)))
        let row = store.inputs[1]
        let expected = Double(Float(row[2] ?? 0)) + 1000 * Double(Float(row[0] ?? 0))
        let got = try #require((object["predictions"] as? [Double])?.first)
        #expect(abs(got - expected) < 1e-3 * max(1, abs(expected)))
        #expect((object["instances"] as? [[Double]])?.first?.count == 2)
    }

    @Test(arguments: [
        (#"{"entities": {"customer": [1]}}"#, "entities.customer"),
        (#"{"entities": {"customer_id": [1], "merchant_id": [2]}}"#, "entities.merchant_id"),
        (#"{"entities": {"customer_id": ["abc"]}}"#, "entities.customer_id"),
        (#"{"entities": {"customer_id": [true]}}"#, "entities.customer_id[0]"),
        (#"{"entities": {"customer_id": [[1]]}}"#, "entities.customer_id[0]"),
        (#"{"entities": {"customer_id": []}}"#, "entities"),
        (#"{"entities": {}}"#, "entities"),
        (#"{"entities": [1, 2]}"#, "entities"),
    ])
    func badEntityRequestsNameTheField(body: String, field: String) throws {
        let store = try Store(rows: 2)
        let model = try Self.model()
        let handler = ReplicaHandler(runtime: model, modelName: "fraud", endpointName: "ep", version: "fraud/1",
                                     features: try FeatureLookup(binding: store.binding, featureNames: model.featureNames))
        let answer = handler.predict(Data(body.utf8))
        #expect(answer.status == 400, "\(answer.body)")
        let error = try Self.object(answer)["error"] as? [String: Any]
        #expect(error?["field"] as? String == field, "\(answer.body)")
    }

    @Test func aBindingThatCannotServeTheModelIsRefusedAtStart() throws {
        let store = try Store(rows: 1)
        let features = store.directory.appendingPathComponent("features")
        #expect(throws: FeatureBindingError.self) { try FeatureBinding.resolve("nostore/fraud", featuresDirectory: features) }
        #expect(throws: FeatureBindingError.self) { try FeatureBinding.resolve("fraud", featuresDirectory: features) }
        let missing = #expect(throws: FeatureBindingError.self) {
            try FeatureLookup(binding: store.binding, featureNames: ["f0", "age"])
        }
        #expect(missing?.message.contains("age") == true)
        let unknown = #expect(throws: FeatureBindingError.self) {
            try FeatureLookup(binding: FeatureBinding(storeDirectory: store.binding.storeDirectory, store: "shop", name: "nope"), featureNames: ["f0"])
        }
        #expect(unknown?.message.contains("service fraud") == true)
        #expect(EndpointConfig(name: "ep", model: "m@a", features: "just-a-name", port: 8080).problems().map(\.field) == ["features"])
    }

    @Test func captureRecordsTheRowsBuiltFromTheStore() throws {
        let store = try Store(rows: 2)
        let model = try Self.model()
        let handler = ReplicaHandler(runtime: model, modelName: "fraud", endpointName: "ep", version: "fraud/1",
                                     features: try FeatureLookup(binding: store.binding, featureNames: model.featureNames))
        let request = Data(#"{"entities": {"customer_id": [2, 77]}}"#.utf8)
        let answer = handler.predict(request)
        #expect(answer.status == 200)
        let records = CaptureWriter.records(.init(endpoint: "ep", version: "fraud/1", time: 0, kind: .predict, request: request,
                                                  response: Data(answer.body.utf8), latencyMs: 1, featureNames: model.featureNames,
                                                  outputNames: model.outputNames))
        #expect(records.count == 2)
        let unknown = try #require(try JSONSerialization.jsonObject(with: Data(records[1].inputs.utf8)) as? [String: Any])
        #expect(unknown.count == 6 && unknown.values.allSatisfy { $0 is NSNull })
    }
}

/// A replica that cannot start says why on its standard output; the launcher reports that reason.
@Suite struct ReplicaStartErrorTests {
    @Test func theReplicasOwnErrorBecomesTheLaunchError() async throws {
        // A stand-in replica: prints the error line the `endpoints replica` command prints, then fails.
        let launcher = ProcessReplicaLauncher(
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", #"echo '{"error": "features: shop/fraud does not provide the model'"'"'s feature(s) age"}'; exit 1"#, "sh"],
            startTimeout: 20)
        let model = ResolvedModel(name: "m", version: "m/1", format: .linearJSON, path: "/nonexistent", sha256: "00")
        let error = await #expect(throws: ReplicaLaunchError.self) {
            _ = try await launcher.launch(ReplicaSpec(endpoint: "ep", model: model))
        }
        #expect(error?.message == "features: shop/fraud does not provide the model's feature(s) age")
        let args = ProcessReplicaLauncher.replicaArguments(
            ReplicaSpec(endpoint: "ep", model: model, features: FeatureBinding(storeDirectory: "/d/features/shop", store: "shop", name: "fraud")), parent: 1)
        #expect(args.suffix(4) == ["--features", "shop/fraud", "--features-dir", "/d/features/shop"])
    }
}
