import Foundation

/// A request the serving API refuses, naming the field at fault. Answered as HTTP 400 (or `status`).
public struct RequestError: Error, Sendable, CustomStringConvertible, Equatable {
    public var status: Int
    public var field: String
    public var message: String

    public init(status: Int = 400, field: String, message: String) {
        self.status = status
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }

    /// `{"error": {"field": …, "message": …}}`
    public var json: String {
        let body: [String: Any] = ["error": ["field": field, "message": message]]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// What a `/predict` body asks for.
public enum PredictInput: Sendable, Equatable {
    /// Feature rows given inline.
    case instances(FeatureMatrix)
    /// Entity keys whose features come from the feature store: join key → one value per row.
    case entities([String: [String]])
}

/// Parses and checks request bodies of the serving API. Pure functions, no I/O.
public enum InferenceRequest {
    /// `{"instances": [[…], …]}` (rows of numbers, `null` for missing, or objects keyed by feature name)
    /// or `{"entities": {"customer_id": [1, 2]}}`.
    public static func parsePredict(_ body: Data, featureNames: [String]) throws(RequestError) -> PredictInput {
        let object = try parseObject(body)
        if let entities = object["entities"] {
            guard let map = entities as? [String: Any], !map.isEmpty else {
                throw RequestError(field: "entities", message: "must be an object of join key → list of values, e.g. {\"customer_id\": [1001]}")
            }
            var out: [String: [String]] = [:]
            var count: Int?
            for (key, value) in map {
                let values = (value as? [Any]) ?? [value]
                var keys: [String] = []
                for (i, v) in values.enumerated() {
                    if let s = v as? String { keys.append(s) }
                    else if let n = v as? NSNumber, !isBool(n) { keys.append(n.stringValue) }
                    else { throw RequestError(field: "entities.\(key)[\(i)]", message: "must be a string or a number") }
                }
                if let count, count != keys.count {
                    throw RequestError(field: "entities.\(key)", message: "has \(keys.count) values, other keys have \(count)")
                }
                count = keys.count
                out[key] = keys
            }
            return .entities(out)
        }
        guard let instances = object["instances"] else {
            throw RequestError(field: "instances", message: "missing; send {\"instances\": [[…]]} with \(featureNames.count) features per row, or {\"entities\": {…}}")
        }
        guard let rows = instances as? [Any], !rows.isEmpty else {
            throw RequestError(field: "instances", message: "must be a non-empty list of rows")
        }
        return .instances(try matrix(rows, field: "instances", featureNames: featureNames))
    }

    /// Turns rows (lists or objects) into a matrix, checking the width and every value.
    static func matrix(_ rows: [Any], field: String, featureNames: [String]) throws(RequestError) -> FeatureMatrix {
        let width = featureNames.count
        var values: [Float] = []
        values.reserveCapacity(rows.count * width)
        for (r, row) in rows.enumerated() {
            if let list = row as? [Any] {
                guard list.count == width else {
                    throw RequestError(field: "\(field)[\(r)]", message: "has \(list.count) values, the model takes \(width) (\(preview(featureNames)))")
                }
                for (c, v) in list.enumerated() { values.append(try number(v, field: "\(field)[\(r)][\(c)]")) }
            } else if let object = row as? [String: Any] {
                for key in object.keys where !featureNames.contains(key) {
                    throw RequestError(field: "\(field)[\(r)].\(key)", message: "is not a feature of the model (\(preview(featureNames)))")
                }
                for name in featureNames {
                    values.append(try object[name].map { v throws(RequestError) in try number(v, field: "\(field)[\(r)].\(name)") } ?? .nan)
                }
            } else {
                throw RequestError(field: "\(field)[\(r)]", message: "must be a list of \(width) numbers or an object keyed by feature name")
            }
        }
        return FeatureMatrix(rows: rows.count, columns: width, values: values)
    }

    @inline(__always)
    static func number(_ v: Any, field: String) throws(RequestError) -> Float {
        if v is NSNull { return .nan }
        if let n = v as? NSNumber, !isBool(n) {
            let value = n.floatValue
            // A finite JSON number past Float's range would reach the model as infinity and give a
            // NaN prediction: refused, naming the field.
            guard value.isFinite else {
                throw RequestError(field: field, message: "is \(n), outside the range of the model's 32-bit floats (±3.4e38)")
            }
            return value
        }
        throw RequestError(field: field, message: "must be a number or null")
    }

    /// JSONSerialization gives booleans as NSNumber too (and `is Bool` holds for 0 and 1 on Linux);
    /// a boolean's objCType is "c".
    @inline(__always)
    static func isBool(_ n: NSNumber) -> Bool { n.objCType.pointee == 0x63 }

    static func parseObject(_ body: Data) throws(RequestError) -> [String: Any] {
        guard !body.isEmpty else { throw RequestError(field: "body", message: "empty; send a JSON object") }
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: body, options: [])
        } catch {
            throw RequestError(field: "body", message: "not valid JSON")
        }
        guard let object = parsed as? [String: Any] else { throw RequestError(field: "body", message: "must be a JSON object") }
        return object
    }

    static func preview(_ names: [String]) -> String {
        names.count <= 8 ? names.joined(separator: ", ") : names.prefix(8).joined(separator: ", ") + ", …"
    }

    /// An Open Inference Protocol request: one input tensor of shape `[rows, features]` (or
    /// `[features]`), its values in JSON `data` or, with the binary tensor extension, in the bytes
    /// after a JSON header of `headerLength` bytes (`parameters.binary_data_size` on the input).
    public static func parseInfer(_ body: Data, headerLength: Int? = nil, featureNames: [String]) throws(RequestError) -> InferRequest {
        let object = try parseObject(headerLength.map { body.prefix($0) } ?? body)
        guard let inputs = object["inputs"] as? [Any], let first = inputs.first as? [String: Any] else {
            throw RequestError(field: "inputs", message: "must be a list with one tensor {\"name\", \"shape\", \"datatype\", \"data\"}")
        }
        guard inputs.count == 1 else {
            throw RequestError(field: "inputs", message: "has \(inputs.count) tensors; send one tensor of shape [rows, \(featureNames.count)]")
        }
        guard let shapeAny = first["shape"] as? [Any], let shape = shapeAny as? [Int], !shape.isEmpty, shape.count <= 2 else {
            throw RequestError(field: "inputs[0].shape", message: "must be [rows, \(featureNames.count)] or [\(featureNames.count)]")
        }
        let datatypeName = (first["datatype"] as? String) ?? "FP32"
        guard let datatype = TensorDatatype(rawValue: datatypeName) else {
            throw RequestError(field: "inputs[0].datatype", message: "\"\(datatypeName)\" is not a datatype of the protocol; send one of \(TensorDatatype.numericList)")
        }
        guard datatype != .bytes else {
            let name = (first["name"] as? String).map { " (\"\($0)\")" } ?? ""
            throw RequestError(field: "inputs[0].datatype", message: "input\(name) is BYTES (strings), and the model takes \(featureNames.count) numbers per row; "
                + "send FP32 (or another of \(TensorDatatype.numericList))")
        }
        let rows = shape.count == 2 ? shape[0] : 1
        let width = shape.count == 2 ? shape[1] : shape[0]
        guard width == featureNames.count else {
            throw RequestError(field: "inputs[0].shape", message: "has \(width) features, the model takes \(featureNames.count) (\(preview(featureNames)))")
        }
        guard rows >= 1 else { throw RequestError(field: "inputs[0].shape", message: "must have at least one row") }
        let values: [Float]
        if let size = (first["parameters"] as? [String: Any])?["binary_data_size"] {
            values = try binaryValues(body, headerLength: headerLength, size: size, datatype: datatype, count: rows * width)
        } else {
            values = try jsonValues(first["data"], datatype: datatype, rows: rows, width: width)
        }
        let parameters = object["parameters"] as? [String: Any]
        var outputName: String?
        var binaryOutput = (parameters?["binary_data_output"] as? Bool) ?? false
        if let outputs = object["outputs"] as? [Any], let o = outputs.first as? [String: Any] {
            outputName = o["name"] as? String
            if let binary = (o["parameters"] as? [String: Any])?["binary_data"] as? Bool { binaryOutput = binary }
        }
        return InferRequest(id: object["id"] as? String, input: FeatureMatrix(rows: rows, columns: width, values: values),
                            outputName: outputName, binaryOutput: binaryOutput)
    }

    /// The values of a JSON `data` list (flat, or nested by row). BOOL takes true/false; integer
    /// datatypes take whole numbers in their range; the rest, numbers (or null: missing).
    static func jsonValues(_ data: Any?, datatype: TensorDatatype, rows: Int, width: Int) throws(RequestError) -> [Float] {
        guard let data = data as? [Any] else {
            throw RequestError(field: "inputs[0].data", message: "must be a list of numbers, or give parameters.binary_data_size and send the tensor as binary")
        }
        let flat: [Any] = data.first is [Any] ? data.flatMap { ($0 as? [Any]) ?? [$0] } : data
        guard flat.count == rows * width else {
            throw RequestError(field: "inputs[0].data", message: "has \(flat.count) values for shape [\(rows), \(width)]")
        }
        var values: [Float] = []
        values.reserveCapacity(flat.count)
        if datatype == .bool {
            for (i, v) in flat.enumerated() {
                guard let n = v as? NSNumber, isBool(n) else {
                    throw RequestError(field: "inputs[0].data[\(i)]", message: "must be true or false (datatype BOOL)")
                }
                values.append(n.boolValue ? 1 : 0)
            }
        } else if let range = datatype.integerRange {
            for (i, v) in flat.enumerated() {
                guard let n = v as? NSNumber, !isBool(n), range.contains(n.doubleValue), n.doubleValue.rounded() == n.doubleValue else {
                    throw RequestError(field: "inputs[0].data[\(i)]", message: "must be a whole number within \(datatype.rawValue)'s range")
                }
                values.append(n.floatValue)
            }
        } else {
            for (i, v) in flat.enumerated() { values.append(try number(v, field: "inputs[0].data[\(i)]")) }
        }
        return values
    }

    /// The values of a binary tensor: `size` bytes right after the JSON header.
    static func binaryValues(_ body: Data, headerLength: Int?, size: Any, datatype: TensorDatatype, count: Int) throws(RequestError) -> [Float] {
        let field = "inputs[0].parameters.binary_data_size"
        guard let headerLength else {
            throw RequestError(field: field, message: "is given but the request has no \(InferenceBinary.headerName) header; "
                + "send the JSON header's size in bytes in that header, followed by the tensor's bytes")
        }
        guard let size = size as? Int, let elementSize = datatype.elementSize, size == count * elementSize else {
            throw RequestError(field: field, message: "is \(size), and \(count) \(datatype.rawValue) values take \(count * (datatype.elementSize ?? 0)) bytes")
        }
        let binary = body.dropFirst(headerLength)
        guard binary.count == size else {
            throw RequestError(field: field, message: "is \(size), and the body holds \(binary.count) bytes after its \(headerLength)-byte JSON header")
        }
        var values: Result<[Float], RequestError> = .success([])
        binary.withUnsafeBytes { raw in
            values = Result { () throws(RequestError) in try datatype.floats(raw, count: count, field: "inputs[0].data") }
        }
        return try values.get()
    }
}
