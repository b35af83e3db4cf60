import MLInfraJSON
/// Turns JSON request bodies and JSONL lines into engine values, naming the
/// exact field at fault (`records[2].vector[5]`) when one is wrong.
public enum RequestDecoding {
    public static func vector(_ value: JSONValue?, field: String) throws -> [Float] {
        guard let value else { throw VectorError.invalidField(field, "is required: a list of numbers") }
        guard case .array(let items) = value else {
            throw VectorError.invalidField(field, "must be a list of numbers, got \(value.kindName)")
        }
        return try items.enumerated().map { i, item in
            switch item {
            case .int(let n): return Float(n)
            case .double(let d): return Float(d)
            default: throw VectorError.invalidField("\(field)[\(i)]", "must be a number, got \(item.kindName)")
            }
        }
    }

    public static func metadata(_ value: JSONValue?, field: String) throws -> [String: MetadataValue] {
        guard let value, value != .null else { return [:] }
        guard case .object(let entries) = value else {
            throw VectorError.invalidField(field, "must be an object of string, number, bool or list-of-string values")
        }
        var out: [String: MetadataValue] = [:]
        for (key, item) in entries {
            let here = "\(field).\(key)"
            switch item {
            case .string(let s): out[key] = .string(s)
            case .int(let i): out[key] = .int(i)
            case .double(let d): out[key] = .float(d)
            case .bool(let b): out[key] = .bool(b)
            case .array(let list):
                out[key] = .strings(try list.enumerated().map { i, element in
                    guard case .string(let s) = element else {
                        throw VectorError.invalidField("\(here)[\(i)]", "lists in metadata hold strings only, got \(element.kindName)")
                    }
                    return s
                })
            default:
                throw VectorError.invalidField(here, "must be a string, number, bool or list of strings, got \(item.kindName)")
            }
        }
        return out
    }

    /// One `{"id", "vector", "metadata", "document"}` object.
    public static func record(_ value: JSONValue, field: String) throws -> VectorRecord {
        guard case .object(let o) = value else {
            throw VectorError.invalidField(field, "must be an object with id, vector, and optional metadata and document")
        }
        for key in o.keys where !["id", "vector", "metadata", "document", "embedding"].contains(key) {
            throw VectorError.invalidField("\(field).\(key)", "is not a record field; use id, vector, metadata, document")
        }
        guard case .string(let id)? = o["id"] else { throw VectorError.invalidField("\(field).id", "is required: a string") }
        let vector = try self.vector(o["vector"] ?? o["embedding"], field: "\(field).vector")
        let metadata = try self.metadata(o["metadata"], field: "\(field).metadata")
        var document: String?
        switch o["document"] {
        case nil, .null?: document = nil
        case .string(let s)?: document = s
        default: throw VectorError.invalidField("\(field).document", "must be a string")
        }
        return VectorRecord(id: id, vector: vector, metadata: metadata, document: document)
    }

    public static func strings(_ value: JSONValue?, field: String) throws -> [String] {
        guard case .array(let items)? = value else { throw VectorError.invalidField(field, "is required: a list of strings") }
        return try items.enumerated().map { i, item in
            guard case .string(let s) = item else { throw VectorError.invalidField("\(field)[\(i)]", "must be a string") }
            return s
        }
    }

    public static func int(_ value: JSONValue?, field: String, default fallback: Int?) throws -> Int? {
        switch value {
        case nil, .null?: return fallback
        case .int(let i)?: return i
        case .double(let d)? where d.rounded() == d && abs(d) < 1e15: return Int(d)
        default: throw VectorError.invalidField(field, "must be a whole number")
        }
    }
}
