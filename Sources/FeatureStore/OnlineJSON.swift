import Foundation
import MLInfraJSON

/// Feast's `/get-online-features` JSON: the request body and the response, so Feast HTTP
/// clients work unchanged.
///
/// Request: `{"features": ["view:f", …] | "feature_service": "name", "entities": {"key": [v, …]},
/// "full_feature_names": false}`. Response: `{"metadata": {"feature_names": [keys…, features…]},
/// "results": [{"values": […], "statuses": […], "event_timestamps": […]}, …]}`, one result per
/// name, one entry per entity; join-key columns come first with status PRESENT and the epoch as time.
public enum OnlineJSON {
    public struct Request: Sendable {
        public var features: [FeatureReference]?
        public var featureService: String?
        public var entities: EntityKeys
        public var fullFeatureNames: Bool
    }

    /// Parses a request body; errors name the field at fault.
    public static func parseRequest(_ data: Data) throws -> Request {
        try data.withUnsafeBytes { try parseRequest($0) }
    }

    /// Parses a request body from raw bytes (the server's path: no copies, no Foundation decoder).
    static func parseRequest(_ bytes: UnsafeRawBufferPointer) throws -> Request {
        var reader = JSONReader(bytes)
        guard let top = reader.document(), case .object(let dict) = top else {
            throw FeatureStoreError.badRequest(field: "body", message: "expected a JSON object with \"features\" or \"feature_service\" and \"entities\"")
        }
        let known: Set<String> = ["features", "feature_service", "entities", "full_feature_names", "include_feature_view_version_metadata"]
        for key in dict.keys.sorted() where !known.contains(key) {
            throw FeatureStoreError.badRequest(field: key, message: "unknown field; expected one of \(known.sorted().joined(separator: ", "))")
        }
        var features: [FeatureReference]?
        switch dict["features"] {
        case nil, .null?: break
        case .array(let items)?:
            let names: [String] = try items.map {
                guard case .string(let s) = $0 else {
                    throw FeatureStoreError.badRequest(field: "features", message: "expected a list of \"view:feature\" strings")
                }
                return s
            }
            features = try FeatureReference.parseList(names)
        default:
            throw FeatureStoreError.badRequest(field: "features", message: "expected a list of \"view:feature\" strings")
        }
        var service: String?
        switch dict["feature_service"] {
        case nil, .null?: break
        case .string(let s)?: service = s
        default: throw FeatureStoreError.badRequest(field: "feature_service", message: "expected a string")
        }
        if (features == nil) == (service == nil) {
            throw FeatureStoreError.badRequest(field: "features", message: "give either \"features\" or \"feature_service\", not both or neither")
        }
        guard case .object(let rawEntities)? = dict["entities"], !rawEntities.isEmpty else {
            throw FeatureStoreError.badRequest(field: "entities", message: "expected an object of join key → list of values")
        }
        var columns: [String: [FeatureValue]] = [:]
        for (name, raw) in rawEntities {
            guard case .array(let list) = raw else {
                throw FeatureStoreError.badRequest(field: "entities.\(name)", message: "expected a list of values")
            }
            columns[name] = try list.map { item -> FeatureValue in
                switch item {
                case .null: return .null
                case .int(let i): return .int(Int64(i))
                case .double(let d): return .double(d)
                case .string(let s): return .string(s)
                case .bool(let b): return .bool(b)
                default:
                    throw FeatureStoreError.badRequest(field: "entities.\(name)", message: "entity values must be numbers or strings")
                }
            }
        }
        switch dict["include_feature_view_version_metadata"] {
        case nil, .null?, .bool(false)?: break
        case .bool(true)?:
            throw FeatureStoreError.badRequest(
                field: "include_feature_view_version_metadata", message: "this server keeps no feature view versions; send false or leave it out")
        default: throw FeatureStoreError.badRequest(field: "include_feature_view_version_metadata", message: "expected true or false")
        }
        var full = false
        switch dict["full_feature_names"] {
        case nil, .null?: break
        case .bool(let b)?: full = b
        default: throw FeatureStoreError.badRequest(field: "full_feature_names", message: "expected true or false")
        }
        return Request(
            features: features, featureService: service,
            entities: EntityKeys(names: rawEntities.keys.sorted(), columns: columns), fullFeatureNames: full)
    }

    /// The response body.
    public static func encode(_ response: OnlineResponse) -> String {
        var out: [UInt8] = []
        encode(response, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    private static func append(_ status: FeatureStatus, to out: inout [UInt8]) {
        let text: StaticString
        switch status {
        case .present: text = "\"PRESENT\""
        // Feast (0.67's `feast serve` and its SDK) answer PRESENT for a stored null; so does this wire.
        case .nullValue: text = "\"PRESENT\""
        case .notFound: text = "\"NOT_FOUND\""
        case .outsideMaxAge: text = "\"OUTSIDE_MAX_AGE\""
        }
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
    private static let epochText = Array("\"1970-01-01T00:00:00Z\"".utf8)

    /// Writes the response body as bytes, straight from the response's arrays. `planNames`, when
    /// given, is the features' part of `feature_names` already encoded (`OnlinePlan.encodedNames`).
    static func encode(_ response: OnlineResponse, planNames: [UInt8]? = nil, into out: inout [UInt8]) {
        let n = response.rowCount
        let keys = response.keyValues.count
        out.reserveCapacity(out.count + 64 + response.featureNames.count * (80 + n * 48))
        out.append(static: #"{"metadata":{"feature_names":["#)
        for (i, name) in response.featureNames.enumerated() {
            if let planNames, i == keys {
                if i > 0 { out.append(0x2C) }
                out.append(contentsOf: planNames)
                break
            }
            if i > 0 { out.append(0x2C) }
            JSONText.quote(name, into: &out)
        }
        out.append(static: #"]},"results":["#)
        for c in 0..<response.featureNames.count {
            if c > 0 { out.append(0x2C) }
            out.append(static: #"{"values":["#)
            if c < keys {
                for (r, v) in response.keyValues[c].enumerated() {
                    if r > 0 { out.append(0x2C) }
                    v.writeJSON(into: &out)
                }
                out.append(static: #"],"statuses":["#)
                for r in 0..<n {
                    if r > 0 { out.append(0x2C) }
                    append(.present, to: &out)
                }
                out.append(static: #"],"event_timestamps":["#)
                for r in 0..<n {
                    if r > 0 { out.append(0x2C) }
                    out.append(contentsOf: epochText)
                }
            } else {
                let base = (c - keys) * n
                for r in 0..<n {
                    if r > 0 { out.append(0x2C) }
                    response.values[base + r].writeJSON(into: &out)
                }
                out.append(static: #"],"statuses":["#)
                for r in 0..<n {
                    if r > 0 { out.append(0x2C) }
                    append(response.statuses[base + r], to: &out)
                }
                out.append(static: #"],"event_timestamps":["#)
                for r in 0..<n {
                    if r > 0 { out.append(0x2C) }
                    out.append(0x22)
                    Timestamp.write(response.eventTimestamps[base + r], into: &out)
                    out.append(0x22)
                }
            }
            out.append(static: "]}")
        }
        out.append(static: "]}")
    }

    /// The body of a 400 answer: `{"error": {"field": …, "message": …}}`.
    public static func error(field: String, message: String) -> String {
        "{\"error\":{\"field\":\(JSONText.quote(field)),\"message\":\(JSONText.quote(message))}}"
    }

    /// Handles one request body: the HTTP status and the JSON to answer with.
    public static func handle(_ body: Data, store: LocalFeatureStore) -> (status: Int, body: String) {
        let (status, bytes) = body.withUnsafeBytes { handle(bytes: $0, store: store) }
        return (status, String(decoding: bytes, as: UTF8.self))
    }

    /// Handles one request body given as bytes; answers with the JSON bytes. The common request
    /// takes the fast path (`ScannedRequest`); the rest, and every error, the full parser.
    static func handle(bytes body: UnsafeRawBufferPointer, store: LocalFeatureStore) -> (status: Int, body: [UInt8]) {
        if let scanned = ScannedRequest.scan(body), let out = try? store.onlineJSON(scanned, body: body) {
            return (200, out)
        }
        return handleFully(bytes: body, store: store)
    }

    /// `handle` through the full parser only.
    static func handleFully(bytes body: UnsafeRawBufferPointer, store: LocalFeatureStore) -> (status: Int, body: [UInt8]) {
        do {
            let req = try parseRequest(body)
            let resp = try store.onlineFeatures(
                features: req.features, service: req.featureService, entities: req.entities, fullFeatureNames: req.fullFeatureNames)
            var out: [UInt8] = []
            encode(resp, into: &out)
            return (200, out)
        } catch let error as FeatureStoreError {
            switch error {
            case .badRequest(let field, let message):
                return (400, Array(self.error(field: field, message: message).utf8))
            case .unknownObject:
                return (400, Array(self.error(field: "features", message: error.description).utf8))
            case .storage:
                return (500, Array(self.error(field: "store", message: error.description).utf8))
            default:
                return (400, Array(self.error(field: "body", message: error.description).utf8))
            }
        } catch {
            return (500, Array(self.error(field: "store", message: "\(error)").utf8))
        }
    }
}
