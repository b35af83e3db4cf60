import Foundation
import MLInfraJSON
import Prometheus

/// The replica's request logic, apart from HTTP: parses a body, runs the model, writes the answer.
public final class ReplicaHandler: Sendable {
    public let runtime: any ModelRuntime
    /// The model's name (`fraud`) as OIP paths name it; the endpoint's name is accepted too.
    public let modelName: String
    public let endpointName: String
    /// The version id (`fraud/3`).
    public let version: String
    public let metrics = RequestMetrics(prefix: "mlinfra_replica")
    /// Where `entities` requests read their features; nil when the endpoint names no feature view or service.
    public let features: (any EntityFeatureSource)?
    /// `"model":"…","version":"…"` of every `/predict` answer, escaped once.
    private let identity: String

    public init(runtime: any ModelRuntime, modelName: String, endpointName: String, version: String, features: (any EntityFeatureSource)? = nil) {
        self.runtime = runtime
        self.modelName = modelName
        self.endpointName = endpointName
        self.version = version
        self.features = features
        identity = "\"model\":\"\(Self.escape(modelName))\",\"version\":\"\(Self.escape(version))\""
    }

    /// An HTTP answer: status and JSON body, and for the binary tensor extension the tensors'
    /// bytes that follow the JSON (whose length goes in `Inference-Header-Content-Length`).
    public struct Answer: Sendable {
        public var status: Int
        public var body: String
        public var binary: Data?
        public init(status: Int, body: String, binary: Data? = nil) {
            self.status = status
            self.body = body
            self.binary = binary
        }
    }

    /// `POST /predict`
    public func predict(_ body: Data) -> Answer {
        timed {
            switch try InferenceRequest.parsePredict(body, featureNames: runtime.featureNames) {
            case .entities(let entities):
                guard let features else {
                    throw RequestError(field: "entities", message: "this endpoint has no feature view; send {\"instances\": [[…]]} with \(runtime.featureCount) features per row, or give the endpoint `features:`")
                }
                return try entityAnswer(features, entities)
            case .instances(let matrix):
                let p = runtime.predict(matrix)
                var out = "{\"predictions\":"
                out += Self.render(p)
                out += "," + identity + "}"
                return Answer(status: 200, body: out)
            }
        }
    }

    /// The `/predict` answer for `entities`: the rows read from `features`, the predictions, and
    /// each feature's status per row. Generic so the statuses are read as the source returns them.
    private func entityAnswer<Source: EntityFeatureSource>(_ features: Source, _ entities: [String: [String]]) throws(RequestError) -> Answer {
        let (matrix, statuses) = try features.rows(entities)
        let p = runtime.predict(matrix)
        var out = "{\"predictions\":"
        out += Self.render(p)
        out += "," + identity
        // The rows the model saw (null: missing), and each feature's online status per row.
        out += ",\"instances\":["
        for r in 0..<matrix.rows {
            if r > 0 { out += "," }
            out += "[" + Self.numbers(matrix.values[(r * matrix.columns)..<((r + 1) * matrix.columns)]) + "]"
        }
        out += "],\"feature_statuses\":{"
        for (c, name) in runtime.featureNames.enumerated() {
            if c > 0 { out += "," }
            out += "\"\(Self.escape(name))\":[" + statuses[c].map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]"
        }
        return Answer(status: 200, body: out + "}}")
    }

    /// `POST /v2/models/{name}/infer` (Open Inference Protocol). `inferenceHeader` is the value of
    /// `Inference-Header-Content-Length` when the body carries binary tensors.
    public func infer(model: String, _ body: Data, inferenceHeader: String? = nil) -> Answer {
        timed {
            guard model == modelName || model == endpointName else {
                throw RequestError(status: 404, field: "model_name", message: "no model \"\(model)\" here; this endpoint serves \"\(modelName)\"")
            }
            let headerLength = try InferenceBinary.headerLength(inferenceHeader, bodySize: body.count)
            let request = try InferenceRequest.parseInfer(body, headerLength: headerLength, featureNames: runtime.featureNames)
            let p = runtime.predict(request.input)
            let shape = p.width == 1 ? "[\(p.rows)]" : "[\(p.rows),\(p.width)]"
            var out = "{\"model_name\":\"\(Self.escape(modelName))\",\"model_version\":\"\(Self.escape(version))\""
            if let id = request.id { out += ",\"id\":\"\(Self.escape(id))\"" }
            let name = request.outputName ?? outputName
            out += ",\"outputs\":[{\"name\":\"\(Self.escape(name))\",\"shape\":\(shape),\"datatype\":\"FP32\","
            if request.binaryOutput {
                out += "\"parameters\":{\"binary_data_size\":\(p.values.count * 4)}}]}"
                return Answer(status: 200, body: out, binary: InferenceBinary.bytes(p.values))
            }
            out += "\"data\":["
            out += Self.numbers(p.values[...])
            out += "]}]}"
            return Answer(status: 200, body: out)
        }
    }

    /// The name of the model's one output tensor.
    var outputName: String { runtime.outputNames.count == 1 ? runtime.outputNames[0] : "probabilities" }

    /// The output tensor's shape, `-1` for the batch.
    var outputShape: [Int] { runtime.outputNames.count == 1 ? [-1] : [-1, runtime.outputNames.count] }

    /// `GET /v2/models/{name}`: OIP model metadata, with the feature names as a parameter.
    public func metadata() -> Answer {
        let object: [String: Any] = [
            "name": modelName,
            "versions": [version],
            "platform": runtime.format.rawValue,
            "inputs": [["name": "input-0", "datatype": "FP32", "shape": [-1, runtime.featureCount]]],
            "outputs": [["name": outputName, "datatype": "FP32", "shape": outputShape]],
            "parameters": ["feature_names": runtime.featureNames, "output_names": runtime.outputNames, "endpoint": endpointName],
        ]
        return Self.jsonAnswer(object)
    }

    /// `GET /v2/models/{name}/config`: the model's configuration as Triton gives it (which
    /// tritonclient's `get_model_config` reads): inputs and outputs with Triton's `TYPE_` datatypes.
    /// `max_batch_size` is 0 because the batch is in the shapes' first dimension.
    public func config() -> Answer {
        let object: [String: Any] = [
            "name": modelName,
            "platform": runtime.format.rawValue,
            "backend": "mlinfra",
            "max_batch_size": 0,
            "input": [["name": "input-0", "data_type": "TYPE_FP32", "dims": [-1, runtime.featureCount]]],
            "output": [["name": outputName, "data_type": "TYPE_FP32", "dims": outputShape]],
            "parameters": ["feature_names": ["string_value": runtime.featureNames.joined(separator: ",")]],
        ]
        return Self.jsonAnswer(object)
    }

    static func jsonAnswer(_ object: [String: Any]) -> Answer {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Answer(status: 200, body: String(decoding: data, as: UTF8.self))
    }

    /// `/metrics`: requests, errors and latency, and which model this replica serves.
    public func prometheus() -> String {
        metrics.exposition { now in
            now.makeGauge(descriptor: .init("mlinfra_replica_model_info", help: "The model this replica serves."),
                          labels: [("model", modelName), ("version", version), ("format", runtime.format.rawValue)]).set(to: 1)
        }
    }

    private func timed(_ body: () throws -> Answer) -> Answer {
        let start = DispatchTime.now().uptimeNanoseconds
        metrics.enter()
        let answer: Answer
        do {
            answer = try body()
        } catch let error as RequestError {
            answer = Answer(status: error.status, body: error.json)
        } catch {
            answer = Answer(status: 500, body: RequestError(status: 500, field: "body", message: "\(error)").json)
        }
        metrics.leave()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        metrics.observe(version: version, seconds: seconds, failed: answer.status >= 500)
        return answer
    }

    static func render(_ p: Predictions) -> String {
        if p.width == 1 { return "[" + numbers(p.values[...]) + "]" }
        var out = "["
        for r in 0..<p.rows {
            if r > 0 { out += "," }
            out += "[" + numbers(p.row(r)) + "]"
        }
        return out + "]"
    }

    static func numbers(_ values: ArraySlice<Float>) -> String {
        var out = ""
        out.reserveCapacity(values.count * 12)
        var first = true
        for v in values {
            if !first { out += "," }
            first = false
            out += v.isFinite ? "\(Double(v))" : "null"
        }
        return out
    }

    /// `s` escaped for use between JSON quotes.
    static func escape(_ s: String) -> String {
        var out = ""
        JSONValue.quote(s, into: &out)
        return String(out.dropFirst().dropLast())
    }
}
