import Foundation
import MLInfraJSON

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
            guard case .object(let map) = entities, !map.isEmpty else {
                throw RequestError(field: "entities", message: "must be an object of join key → list of values, e.g. {\"customer_id\": [1001]}")
            }
            var out: [String: [String]] = [:]
            var count: Int?
            for (key, value) in map {
                let values: [JSONValue]
                if case .array(let list) = value { values = list } else { values = [value] }
                var keys: [String] = []
                for (i, v) in values.enumerated() {
                    guard let text = keyText(v) else { throw RequestError(field: "entities.\(key)[\(i)]", message: "must be a string or a number") }
                    keys.append(text)
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
        guard case .array(let rows) = instances, !rows.isEmpty else {
            throw RequestError(field: "instances", message: "must be a non-empty list of rows")
        }
        return .instances(try matrix(rows, field: "instances", featureNames: featureNames))
    }

    /// A string or number as an entity key's text (a number as written, e.g. 1001); nil for anything else.
    static func keyText(_ v: JSONValue) -> String? {
        switch v {
        case .string(let s): s
        case .int, .double: wholeNumber(v).map { String($0) } ?? v.stringValue
        default: nil
        }
    }

    /// Turns rows (lists or objects) into a matrix, checking the width and every value.
    static func matrix(_ rows: [JSONValue], field: String, featureNames: [String]) throws(RequestError) -> FeatureMatrix {
        let width = featureNames.count
        var values: [Float] = []
        values.reserveCapacity(rows.count * width)
        for (r, row) in rows.enumerated() {
            switch row {
            case .array(let list):
                guard list.count == width else {
                    throw RequestError(field: "\(field)[\(r)]", message: "has \(list.count) values, the model takes \(width) (\(preview(featureNames)))")
                }
                for (c, v) in list.enumerated() { values.append(try number(v, field: "\(field)[\(r)][\(c)]")) }
            case .object(let object):
                for key in object.keys where !featureNames.contains(key) {
                    throw RequestError(field: "\(field)[\(r)].\(key)", message: "is not a feature of the model (\(preview(featureNames)))")
                }
                for name in featureNames {
                    values.append(try object[name].map { v throws(RequestError) in try number(v, field: "\(field)[\(r)].\(name)") } ?? .nan)
                }
            default:
                throw RequestError(field: "\(field)[\(r)]", message: "must be a list of \(width) numbers or an object keyed by feature name")
            }
        }
        return FeatureMatrix(rows: rows.count, columns: width, values: values)
    }

    @inline(__always)
    static func number(_ v: JSONValue, field: String) throws(RequestError) -> Float {
        let value: Float
        switch v {
        case .null: return .nan
        case .int(let i): value = Float(i)
        case .double(let d): value = Float(d)
        default: throw RequestError(field: field, message: "must be a number or null")
        }
        // A finite JSON number past Float's range would reach the model as infinity and give a
        // NaN prediction: refused, naming the field.
        guard value.isFinite else {
            throw RequestError(field: field, message: "is \(v.text), outside the range of the model's 32-bit floats (±3.4e38)")
        }
        return value
    }

    /// A JSON number that is a whole number (`2` or `2.0`), as an `Int`.
    static func wholeNumber(_ v: JSONValue?) -> Int? {
        switch v {
        case .int(let i)?: i
        case .double(let d)? where d.rounded() == d && abs(d) < 1e15: Int(d)
        default: nil
        }
    }

    /// The body as a JSON object, read by `JSONReader` (this is every inference request's path).
    static func parseObject(_ body: Data) throws(RequestError) -> [String: JSONValue] {
        guard !body.isEmpty else { throw RequestError(field: "body", message: "empty; send a JSON object") }
        guard let parsed = JSONValue.read(body) else { throw RequestError(field: "body", message: "not valid JSON") }
        guard case .object(let object) = parsed else { throw RequestError(field: "body", message: "must be a JSON object") }
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
        guard case .array(let inputs)? = object["inputs"], case .object(let first)? = inputs.first else {
            throw RequestError(field: "inputs", message: "must be a list with one tensor {\"name\", \"shape\", \"datatype\", \"data\"}")
        }
        guard inputs.count == 1 else {
            throw RequestError(field: "inputs", message: "has \(inputs.count) tensors; send one tensor of shape [rows, \(featureNames.count)]")
        }
        guard case .array(let shapeValues)? = first["shape"], case let shape = shapeValues.compactMap({ wholeNumber($0) }),
            shape.count == shapeValues.count, !shape.isEmpty, shape.count <= 2
        else {
            throw RequestError(field: "inputs[0].shape", message: "must be [rows, \(featureNames.count)] or [\(featureNames.count)]")
        }
        let datatypeName: String
        if case .string(let s)? = first["datatype"] { datatypeName = s } else { datatypeName = "FP32" }
        guard let datatype = TensorDatatype(rawValue: datatypeName) else {
            throw RequestError(field: "inputs[0].datatype", message: "\"\(datatypeName)\" is not a datatype of the protocol; send one of \(TensorDatatype.numericList)")
        }
        guard datatype != .bytes else {
            let name: String
            if case .string(let s)? = first["name"] { name = " (\"\(s)\")" } else { name = "" }
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
        if let size = first["parameters"]?["binary_data_size"] {
            values = try binaryValues(body, headerLength: headerLength, size: size, datatype: datatype, count: rows * width)
        } else {
            values = try jsonValues(first["data"], datatype: datatype, rows: rows, width: width)
        }
        var outputName: String?
        var binaryOutput = false
        if case .bool(let b)? = object["parameters"]?["binary_data_output"] { binaryOutput = b }
        if case .array(let outputs)? = object["outputs"], case .object(let o)? = outputs.first {
            if case .string(let s)? = o["name"] { outputName = s }
            if case .bool(let binary)? = o["parameters"]?["binary_data"] { binaryOutput = binary }
        }
        let id: String?
        if case .string(let s)? = object["id"] { id = s } else { id = nil }
        return InferRequest(id: id, input: FeatureMatrix(rows: rows, columns: width, values: values),
                            outputName: outputName, binaryOutput: binaryOutput)
    }

    /// The values of a JSON `data` list (flat, or nested by row). BOOL takes true/false; integer
    /// datatypes take whole numbers in their range; the rest, numbers (or null: missing).
    static func jsonValues(_ data: JSONValue?, datatype: TensorDatatype, rows: Int, width: Int) throws(RequestError) -> [Float] {
        guard case .array(let data)? = data else {
            throw RequestError(field: "inputs[0].data", message: "must be a list of numbers, or give parameters.binary_data_size and send the tensor as binary")
        }
        let flat: [JSONValue]
        if case .array? = data.first {
            flat = data.flatMap { v -> [JSONValue] in if case .array(let row) = v { row } else { [v] } }
        } else {
            flat = data
        }
        guard flat.count == rows * width else {
            throw RequestError(field: "inputs[0].data", message: "has \(flat.count) values for shape [\(rows), \(width)]")
        }
        var values: [Float] = []
        values.reserveCapacity(flat.count)
        if datatype == .bool {
            for (i, v) in flat.enumerated() {
                guard case .bool(let b) = v else {
                    throw RequestError(field: "inputs[0].data[\(i)]", message: "must be true or false (datatype BOOL)")
                }
                values.append(b ? 1 : 0)
            }
        } else if let range = datatype.integerRange {
            for (i, v) in flat.enumerated() {
                let d: Double
                switch v {
                case .int(let n): d = Double(n)
                case .double(let n): d = n
                default: d = .nan
                }
                guard range.contains(d), d.rounded() == d else {
                    throw RequestError(field: "inputs[0].data[\(i)]", message: "must be a whole number within \(datatype.rawValue)'s range")
                }
                values.append(Float(d))
            }
        } else {
            for (i, v) in flat.enumerated() { values.append(try number(v, field: "inputs[0].data[\(i)]")) }
        }
        return values
    }

    /// The values of a binary tensor: `size` bytes right after the JSON header.
    static func binaryValues(_ body: Data, headerLength: Int?, size: JSONValue, datatype: TensorDatatype, count: Int) throws(RequestError) -> [Float] {
        let field = "inputs[0].parameters.binary_data_size"
        guard let headerLength else {
            throw RequestError(field: field, message: "is given but the request has no \(InferenceBinary.headerName) header; "
                + "send the JSON header's size in bytes in that header, followed by the tensor's bytes")
        }
        guard let size = wholeNumber(size), let elementSize = datatype.elementSize, size == count * elementSize else {
            throw RequestError(field: field, message: "is \(size.text), and \(count) \(datatype.rawValue) values take \(count * (datatype.elementSize ?? 0)) bytes")
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
