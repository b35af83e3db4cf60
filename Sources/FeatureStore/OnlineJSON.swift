import Foundation

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

    /// Any JSON value, decoded strictly (a number is never taken for a bool).
    enum AnyJSON: Decodable {
        case null
        case bool(Bool)
        case int(Int64)
        case double(Double)
        case string(String)
        case array([AnyJSON])
        case object([String: AnyJSON])

        init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() {
                self = .null
            } else if let b = try? c.decode(Bool.self) {
                self = .bool(b)
            } else if let i = try? c.decode(Int64.self) {
                self = .int(i)
            } else if let d = try? c.decode(Double.self) {
                self = .double(d)
            } else if let s = try? c.decode(String.self) {
                self = .string(s)
            } else if let a = try? c.decode([AnyJSON].self) {
                self = .array(a)
            } else {
                self = .object(try c.decode([String: AnyJSON].self))
            }
        }
    }

    /// Parses a request body; errors name the field at fault.
    public static func parseRequest(_ data: Data) throws -> Request {
        let dict: [String: AnyJSON]
        do {
            dict = try JSONDecoder().decode([String: AnyJSON].self, from: data)
        } catch {
            throw FeatureStoreError.badRequest(field: "body", message: "expected a JSON object with \"features\" or \"feature_service\" and \"entities\"")
        }
        let known: Set<String> = ["features", "feature_service", "entities", "full_feature_names"]
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
                case .int(let i): return .int(i)
                case .double(let d): return .double(d)
                case .string(let s): return .string(s)
                case .bool(let b): return .bool(b)
                default:
                    throw FeatureStoreError.badRequest(field: "entities.\(name)", message: "entity values must be numbers or strings")
                }
            }
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
        var out = "{\"metadata\":{\"feature_names\":["
        out += response.featureNames.map(JSONText.quote).joined(separator: ",")
        out += "]},\"results\":["
        for (i, col) in response.columns.enumerated() {
            if i > 0 { out += "," }
            out += "{\"values\":["
            out += col.values.map(\.jsonText).joined(separator: ",")
            out += "],\"statuses\":["
            out += col.statuses.map { "\"\($0.rawValue)\"" }.joined(separator: ",")
            out += "],\"event_timestamps\":["
            out += col.eventTimestamps.map { "\"\(Timestamp.format($0))\"" }.joined(separator: ",")
            out += "]}"
        }
        return out + "]}"
    }

    /// The body of a 400 answer: `{"error": {"field": …, "message": …}}`.
    public static func error(field: String, message: String) -> String {
        "{\"error\":{\"field\":\(JSONText.quote(field)),\"message\":\(JSONText.quote(message))}}"
    }

    /// Handles one request body: the HTTP status and the JSON to answer with.
    public static func handle(_ body: Data, store: LocalFeatureStore) -> (status: Int, body: String) {
        do {
            let req = try parseRequest(body)
            let resp = try store.onlineFeatures(
                features: req.features, service: req.featureService, entities: req.entities, fullFeatureNames: req.fullFeatureNames)
            return (200, encode(resp))
        } catch let error as FeatureStoreError {
            switch error {
            case .badRequest(let field, let message):
                return (400, self.error(field: field, message: message))
            case .unknownObject:
                return (400, self.error(field: "features", message: error.description))
            case .storage:
                return (500, self.error(field: "store", message: error.description))
            default:
                return (400, self.error(field: "body", message: error.description))
            }
        } catch {
            return (500, self.error(field: "store", message: "\(error)"))
        }
    }
}
