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

    /// A binary-extension body: the JSON header, then `bytes`; returns it and the header's length.
    func binaryBody(datatype: String, shape: [Int], bytes: [UInt8], extra: String = "") -> (Data, String) {
        let header = #"{"inputs": [{"name": "x", "shape": \#(shape), "datatype": "\#(datatype)", "parameters": {"binary_data_size": \#(bytes.count)}}]\#(extra)}"#
        return (Data(header.utf8) + Data(bytes), String(header.utf8.count))
    }

    func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    }

    @Test(arguments: TensorDatatype.allCases.filter { $0 != .bytes })
    func everyNumericDatatypeReadsTheSameInJSONAndBinary(datatype: TensorDatatype) throws {
        // Rows [1, 0, 1] and [0, 1, 1]: predictions 4 and 5, whatever the datatype.
        let values: [Int] = [1, 0, 1, 0, 1, 1]
        let bytes: [UInt8]
        switch datatype {
        case .bool, .uint8: bytes = values.map(UInt8.init)
        case .int8: bytes = littleEndian(values.map(Int8.init))
        case .uint16: bytes = littleEndian(values.map(UInt16.init))
        case .int16: bytes = littleEndian(values.map(Int16.init))
        case .uint32: bytes = littleEndian(values.map(UInt32.init))
        case .int32: bytes = littleEndian(values.map(Int32.init))
        case .uint64: bytes = littleEndian(values.map(UInt64.init))
        case .int64: bytes = littleEndian(values.map(Int64.init))
        case .fp16: bytes = littleEndian(values.map { Float16(Float($0)).bitPattern })
        case .fp32: bytes = littleEndian(values.map { Float($0).bitPattern })
        case .fp64: bytes = littleEndian(values.map { Double($0).bitPattern })
        case .bytes: bytes = []
        }
        let (body, length) = binaryBody(datatype: datatype.rawValue, shape: [2, 3], bytes: bytes)
        let binary = handler.infer(model: "lin", body, inferenceHeader: length)
        #expect(binary.status == 200, "\(binary.body)")
        #expect(binary.body.contains(#""data":[4.0,5.0]"#), "\(binary.body)")
        let data = datatype == .bool ? "[true, false, true, false, true, true]" : "\(values)"
        let json = handler.infer(model: "lin", Data(#"{"inputs": [{"name": "x", "shape": [2, 3], "datatype": "\#(datatype.rawValue)", "data": \#(data)}]}"#.utf8))
        #expect(json.status == 200 && json.body == binary.body, "\(json.body)")
    }

    @Test func binaryOutputIsRawLittleEndianFloatsAfterTheHeader() throws {
        let (body, length) = binaryBody(datatype: "FP32", shape: [2, 3], bytes: littleEndian([1, 1, 1, 0, 0, 1].map { Float($0).bitPattern }),
                                        extra: #", "outputs": [{"name": "prediction", "parameters": {"binary_data": true}}]"#)
        let answer = handler.infer(model: "lin", body, inferenceHeader: length)
        #expect(answer.status == 200)
        #expect(answer.body.contains(#""parameters":{"binary_data_size":8}"#) && !answer.body.contains("\"data\""), "\(answer.body)")
        let raw = try #require(answer.binary)
        let floats = stride(from: 0, to: raw.count, by: 4).map { i in
            Float(bitPattern: raw[raw.startIndex + i..<raw.startIndex + i + 4].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        }
        #expect(floats == [6, 3])
        // binary_data_output on the request asks the same for every output.
        let all = handler.infer(model: "lin", Data(#"{"inputs": [{"shape": [3], "datatype": "FP64", "data": [1, 1, 1]}], "parameters": {"binary_data_output": true}}"#.utf8))
        #expect(all.status == 200 && all.binary?.count == 4, "\(all.body)")
    }

    @Test(arguments: [
        ("FP32", [2, 3], 20, nil as String?, "inputs[0].parameters.binary_data_size"),  // 20 bytes for 6 floats
        ("FP32", [2, 3], 24, "9999", "Inference-Header-Content-Length"),  // past the body
        ("FP32", [2, 3], 24, "twelve", "Inference-Header-Content-Length"),
        ("INT64", [2, 3], 24, nil, "inputs[0].parameters.binary_data_size"),  // 6 INT64 take 48 bytes
        ("BYTES", [2, 3], 24, nil, "inputs[0].datatype"),
        ("FP128", [2, 3], 24, nil, "inputs[0].datatype"),
    ] as [(String, [Int], Int, String?, String)])
    func badBinaryBodiesNameTheField(datatype: String, shape: [Int], size: Int, header: String?, field: String) {
        let (body, length) = binaryBody(datatype: datatype, shape: shape, bytes: [UInt8](repeating: 0, count: size))
        let e = error(handler.infer(model: "lin", body, inferenceHeader: header ?? length))  // nil: the JSON header's real length
        #expect(e.status == 400)
        #expect(e.field == field)
    }

    @Test func binaryDataWithoutTheHeaderAndBadJSONValuesNameTheField() {
        let (body, _) = binaryBody(datatype: "FP32", shape: [1, 3], bytes: [UInt8](repeating: 0, count: 12))
        #expect(error(handler.infer(model: "lin", body)).field == "body")  // not JSON without the header
        let header = #"{"inputs": [{"shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}}]}"#
        #expect(error(handler.infer(model: "lin", Data(header.utf8))).field == "inputs[0].parameters.binary_data_size")
        #expect(error(handler.infer(model: "lin", Data(#"{"inputs": [{"shape": [3], "datatype": "INT8", "data": [1, 300, 0]}]}"#.utf8))).field == "inputs[0].data[1]")
        #expect(error(handler.infer(model: "lin", Data(#"{"inputs": [{"shape": [3], "datatype": "INT32", "data": [1, 2.5, 0]}]}"#.utf8))).field == "inputs[0].data[1]")
        #expect(error(handler.infer(model: "lin", Data(#"{"inputs": [{"shape": [3], "datatype": "BOOL", "data": [true, 1, false]}]}"#.utf8))).field == "inputs[0].data[1]")
        let huge = binaryBody(datatype: "FP64", shape: [1, 3], bytes: littleEndian([1.0, 1e300, 0].map { $0.bitPattern }))
        #expect(error(handler.infer(model: "lin", huge.0, inferenceHeader: huge.1)).field == "inputs[0].data[1]")
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
