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

/// A small strict JSON reader for request bodies (RFC 8259): objects, arrays, strings with every
/// escape, numbers (integers without fraction or exponent that fit 64 bits stay integers), true,
/// false, null. Nesting deeper than 64 levels is refused rather than recursed into.
///
/// It produces the engines' `JSONValue` but reads the bytes itself rather than through
/// `JSONValue.parse` (Foundation's decoder): the feature server parses every request body that
/// misses the `ScannedRequest` fast path here, without copies (docs/benchmarks.md).
struct JSONReader {
    let p: UnsafeRawBufferPointer
    var i = 0
    var depth = 0

    init(_ bytes: UnsafeRawBufferPointer) { p = bytes }

    /// The whole body as one value; nil when it is not exactly one JSON value.
    mutating func document() -> JSONValue? {
        guard let v = value() else { return nil }
        skipSpace()
        return i == p.count ? v : nil
    }

    @inline(__always) mutating func skipSpace() {
        while i < p.count, p[i] == 0x20 || p[i] == 0x0A || p[i] == 0x0D || p[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ text: StaticString) -> Bool {
        let n = text.utf8CodeUnitCount
        guard i + n <= p.count else { return false }
        for k in 0..<n where p[i + k] != text.utf8Start[k] { return false }
        i += n
        return true
    }

    mutating func value() -> JSONValue? {
        skipSpace()
        guard i < p.count else { return nil }
        switch p[i] {
        case 0x7B:  // {
            guard depth < 64 else { return nil }
            depth += 1
            defer { depth -= 1 }
            i += 1
            var dict: [String: JSONValue] = [:]
            skipSpace()
            if i < p.count, p[i] == 0x7D { i += 1; return .object(dict) }
            while true {
                skipSpace()
                guard i < p.count, p[i] == 0x22, let key = string() else { return nil }
                skipSpace()
                guard i < p.count, p[i] == 0x3A else { return nil }
                i += 1
                guard let v = value() else { return nil }
                dict[key] = v
                skipSpace()
                guard i < p.count else { return nil }
                if p[i] == 0x2C { i += 1; continue }
                if p[i] == 0x7D { i += 1; return .object(dict) }
                return nil
            }
        case 0x5B:  // [
            guard depth < 64 else { return nil }
            depth += 1
            defer { depth -= 1 }
            i += 1
            var items: [JSONValue] = []
            skipSpace()
            if i < p.count, p[i] == 0x5D { i += 1; return .array(items) }
            while true {
                guard let v = value() else { return nil }
                items.append(v)
                skipSpace()
                guard i < p.count else { return nil }
                if p[i] == 0x2C { i += 1; continue }
                if p[i] == 0x5D { i += 1; return .array(items) }
                return nil
            }
        case 0x22:
            return string().map { .string($0) }
        case 0x74: return literal("true") ? .bool(true) : nil
        case 0x66: return literal("false") ? .bool(false) : nil
        case 0x6E: return literal("null") ? .null : nil
        default:
            return number()
        }
    }

    mutating func number() -> JSONValue? {
        let start = i
        var integral = true
        scan: while i < p.count {
            switch p[i] {
            case 0x30...0x39, 0x2D: i += 1
            case 0x2E, 0x65, 0x45, 0x2B: integral = false; i += 1
            default: break scan
            }
        }
        let span = UnsafeRawBufferPointer(rebasing: p[start..<i])
        guard !span.isEmpty else { return nil }
        let digits = span.assumingMemoryBound(to: UInt8.self)
        guard JSONText.isNumber(digits.baseAddress!, digits.count) else { return nil }
        let text = String(decoding: span, as: UTF8.self)
        if integral, let v = Int(text) { return .int(v) }
        return Double(text).map { .double($0) }
    }

    /// A string starting at the opening quote.
    mutating func string() -> String? {
        i += 1
        let start = i
        // Fast path: no escapes.
        while i < p.count, p[i] != 0x22, p[i] != 0x5C, p[i] >= 0x20 { i += 1 }
        guard i < p.count else { return nil }
        if p[i] == 0x22 {
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
            i += 1
            return s
        }
        var out = Array(UnsafeRawBufferPointer(rebasing: p[start..<i]))
        while i < p.count {
            let c = p[i]
            if c == 0x22 { i += 1; return String(decoding: out, as: UTF8.self) }
            guard c >= 0x20 else { return nil }
            if c != 0x5C { out.append(c); i += 1; continue }
            i += 1
            guard i < p.count else { return nil }
            let e = p[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75:
                guard var scalar = hex4() else { return nil }
                if scalar >= 0xD800, scalar < 0xDC00 {
                    guard i + 1 < p.count, p[i] == 0x5C, p[i + 1] == 0x75 else { return nil }
                    i += 2
                    guard let low = hex4(), low >= 0xDC00, low < 0xE000 else { return nil }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if scalar >= 0xDC00, scalar < 0xE000 {
                    return nil
                }
                guard let u = Unicode.Scalar(scalar) else { return nil }
                out.append(contentsOf: String(Character(u)).utf8)
            default: return nil
            }
        }
        return nil
    }

    mutating func hex4() -> UInt32? {
        guard i + 4 <= p.count else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = p[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: return nil
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }
}
