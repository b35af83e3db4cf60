import Foundation
import Testing

@testable import ModelServing

/// Bad requests get 400 with a JSON error naming the field; good ones get predictions.
@Suite struct RequestTests {
    let handler = ReplicaHandler(
        runtime: LinearModel(weights: [1, 2, 3], intercept: 0, link: .identity, featureNames: ["a", "b", "c"]),
        modelName: "lin", endpointName: "ep", version: "lin/1")

    func error(_ answer: ReplicaHandler.Answer) -> (status: Int, field: String?) {
        let object = try? JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
        return (answer.status, (object?["error"] as? [String: Any])?["field"] as? String)
    }

    @Test func predictWithNullAsMissing() throws {
        let answer = handler.predict(Data(#"{"instances": [[1, 1, 1], [1, null, 2]]}"#.utf8))
        #expect(answer.status == 200)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        #expect(object["predictions"] as? [Double] == [6, 7])
        #expect(object["version"] as? String == "lin/1")
    }

    @Test func predictWithRowsKeyedByFeatureName() throws {
        let answer = handler.predict(Data(#"{"instances": [{"a": 1, "c": 1}]}"#.utf8))
        #expect(answer.status == 200)
        #expect(answer.body.contains("[4.0]"))
    }

    @Test(arguments: [
        (#"not json"#, "body"),
        (#"[1, 2]"#, "body"),
        (#"{}"#, "instances"),
        (#"{"instances": []}"#, "instances"),
        (#"{"instances": [[1, 2]]}"#, "instances[0]"),
        (#"{"instances": [[1, 2, 3], [1, "x", 3]]}"#, "instances[1][1]"),
        (#"{"instances": [[1, true, 3]]}"#, "instances[0][1]"),
        (#"{"instances": [{"a": 1, "zz": 2}]}"#, "instances[0].zz"),
        (#"{"instances": [7]}"#, "instances[0]"),
        (#"{"entities": {"customer_id": [1]}}"#, "entities"),
        (#"{"entities": []}"#, "entities"),
        (#"{"instances": [[1, 1e308, 3]]}"#, "instances[0][1]"),
        (#"{"instances": [[1, 2, -4e38]]}"#, "instances[0][2]"),
        (#"{"instances": [{"a": 1e39}]}"#, "instances[0].a"),
    ])
    func badPredictBodiesNameTheField(body: String, field: String) {
        let e = error(handler.predict(Data(body.utf8)))
        #expect(e.status == 400)
        #expect(e.field == field)
    }

    @Test func openInferenceProtocol() throws {
        let body = #"{"id": "r1", "inputs": [{"name": "input-0", "shape": [2, 3], "datatype": "FP32", "data": [1, 1, 1, 0, 0, 1]}]}"#
        let answer = handler.infer(model: "lin", Data(body.utf8))
        #expect(answer.status == 200)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any])
        #expect(object["id"] as? String == "r1")
        #expect(object["model_name"] as? String == "lin")
        let output = try #require((object["outputs"] as? [[String: Any]])?.first)
        #expect(output["shape"] as? [Int] == [2])
        #expect(output["data"] as? [Double] == [6, 3])
        // nested data and the endpoint's name work too
        let nested = #"{"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [[1, 2, 3]]}]}"#
        #expect(handler.infer(model: "ep", Data(nested.utf8)).status == 200)
    }

    @Test(arguments: [
        (#"{"inputs": []}"#, "inputs"),
        (#"{"inputs": [{"shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}"#, "inputs[0].shape"),
        (#"{"inputs": [{"shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3]}]}"#, "inputs[0].data"),
        (#"{"inputs": [{"shape": [1, 3], "datatype": "BYTES", "data": ["a", "b", "c"]}]}"#, "inputs[0].datatype"),
        (#"{"inputs": [{"shape": [1, 3], "datatype": "FP32", "data": [1, "b", 3]}]}"#, "inputs[0].data[1]"),
        (#"{"inputs": [{"datatype": "FP32", "data": [1, 2, 3]}]}"#, "inputs[0].shape"),
    ])
    func badInferBodiesNameTheField(body: String, field: String) {
        let e = error(handler.infer(model: "lin", Data(body.utf8)))
        #expect(e.status == 400)
        #expect(e.field == field)
    }

    @Test func unknownModelIs404() {
        let e = error(handler.infer(model: "other", Data(#"{"inputs": []}"#.utf8)))
        #expect(e.status == 404)
        #expect(e.field == "model_name")
    }

    @Test func metadataListsFeaturesAndMetricsCountRequests() throws {
        let meta = try #require(try JSONSerialization.jsonObject(with: Data(handler.metadata().body.utf8)) as? [String: Any])
        #expect((meta["parameters"] as? [String: Any])?["feature_names"] as? [String] == ["a", "b", "c"])
        _ = handler.predict(Data(#"{"instances": [[1, 1, 1]]}"#.utf8))
        _ = handler.predict(Data(#"{}"#.utf8))
        let text = handler.prometheus()
        #expect(text.contains(#"mlinfra_replica_requests_total{version="lin/1"} 2"#))
        #expect(text.contains("mlinfra_replica_request_duration_seconds_bucket"))
    }
}

@Suite struct ConfigTests {
    @Test func problemsNameTheirFields() {
        var c = EndpointConfig(name: "fraud", model: "fraud@prod", replicas: .init(min: 3, max: 2), port: 0)
        c.canary = .init(model: "fraud/4", percent: 150)
        c.captureSamplePercent = -1
        c.autoscaling.target = 0
        let fields = Set(c.problems().map(\.field))
        #expect(fields == ["replicas.max", "port", "traffic.percent", "capture.sample_percent", "autoscaling.target"])
        #expect(EndpointConfig(name: "ok", model: "m/1", port: 8080).problems().isEmpty)
    }
}
