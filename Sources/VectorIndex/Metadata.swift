import Foundation

/// One metadata value of a record: string, int, float, bool, or a list of strings.
public enum MetadataValue: Sendable, Hashable, Codable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case float(Double)
    case bool(Bool)
    case strings([String])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? c.decode(Int.self) {
            self = .int(i)
        } else if let d = try? c.decode(Double.self) {
            self = .float(d)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let l = try? c.decode([String].self) {
            self = .strings(l)
        } else {
            throw DecodingError.dataCorruptedError(
                in: c, debugDescription: "a metadata value must be a string, number, bool or list of strings")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .float(let d): try c.encode(d)
        case .bool(let b): try c.encode(b)
        case .strings(let l): try c.encode(l)
        }
    }

    var number: Double? {
        switch self {
        case .int(let i): Double(i)
        case .float(let d): d
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .int(let i): String(i)
        case .float(let d): String(d)
        case .bool(let b): String(b)
        case .strings(let l): "[" + l.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        }
    }

    /// Equality as filters see it: an int and a float compare by value.
    func matches(_ other: MetadataValue) -> Bool {
        switch (self, other) {
        case (.string(let a), .string(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.strings(let list), .string(let s)): list.contains(s)
        default:
            if let a = number, let b = other.number { a == b } else { false }
        }
    }
}

/// A record: id, vector, metadata, and an optional document.
public struct VectorRecord: Sendable, Hashable, Codable {
    public var id: String
    public var vector: [Float]
    public var metadata: [String: MetadataValue]
    public var document: String?

    public init(id: String, vector: [Float], metadata: [String: MetadataValue] = [:], document: String? = nil) {
        self.id = id
        self.vector = vector
        self.metadata = metadata
        self.document = document
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        vector = try c.decode([Float].self, forKey: .vector)
        metadata = try c.decodeIfPresent([String: MetadataValue].self, forKey: .metadata) ?? [:]
        document = try c.decodeIfPresent(String.self, forKey: .document)
    }
}

/// One result of a k-NN query.
public struct QueryMatch: Sendable, Hashable, Codable {
    public var id: String
    public var distance: Float
    public var metadata: [String: MetadataValue]
    public var document: String?

    public init(id: String, distance: Float, metadata: [String: MetadataValue], document: String?) {
        self.id = id
        self.distance = distance
        self.metadata = metadata
        self.document = document
    }
}

/// How a query was answered, for callers that want to know (and for tests).
public enum QueryStrategy: String, Sendable, Hashable, Codable {
    /// HNSW graph search.
    case hnsw
    /// A scan of every record (exact collection, or no filter benefit from the graph).
    case exact
    /// A scan of only the records matching a selective filter.
    case filteredExact = "filtered_exact"
    /// pgvector's IVFFlat index.
    case ivfflat
    /// A filtered search in which pgvector (0.8 or later) continued its index scan until enough
    /// rows passed the filter (`hnsw.iterative_scan`, `ivfflat.iterative_scan`).
    case iterativeScan = "iterative_scan"
}

public struct QueryResult: Sendable, Hashable, Codable {
    public var matches: [QueryMatch]
    public var strategy: QueryStrategy
    /// How many records the filter matched (all live records when there is no filter).
    public var candidates: Int
}
