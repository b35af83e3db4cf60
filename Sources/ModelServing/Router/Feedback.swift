import CaptureStorage
import Foundation
import MLInfraJSON

/// Ground truth posted to an endpoint's `POST /feedback`, parsed and checked; no I/O.
///
/// ```json
/// {"request_id": "9f2c…-17", "label": 1}
/// {"labels": [{"request_id": "9f2c…-17", "label": 1},
///             {"entity": {"customer_id": 1001}, "time": "2026-12-01T10:00:00Z", "label": 0}]}
/// ```
///
/// `request_id` is the `x-mlinfra-request-id` the endpoint answered with (`<id>#<i>` for
/// instance i of a request with several); `entity` + `time` (ISO 8601 or Unix seconds) name
/// the entity's latest prediction at or before that time. `label` is a number (0/1 for a
/// classifier, the true value for a regressor).
public enum Feedback {
    public static func parse(_ body: Data, endpoint: String, received: Double) throws(RequestError) -> [LabelRecord] {
        let object = try InferenceRequest.parseObject(body)
        if let list = object["labels"] {
            guard case .array(let items) = list, !items.isEmpty else {
                throw RequestError(field: "labels", message: "must be a non-empty list of {\"request_id\": …, \"label\": …}")
            }
            var out = [LabelRecord]()
            for (i, item) in items.enumerated() {
                guard case .object(let o) = item else { throw RequestError(field: "labels[\(i)]", message: "must be an object") }
                out.append(try label(o, field: "labels[\(i)]", endpoint: endpoint, received: received))
            }
            return out
        }
        return [try label(object, field: nil, endpoint: endpoint, received: received)]
    }

    static func label(_ o: [String: JSONValue], field: String?, endpoint: String, received: Double) throws(RequestError) -> LabelRecord {
        func name(_ key: String) -> String { field.map { "\($0).\(key)" } ?? key }
        let value: Double
        switch o["label"] {
        case .int(let n)?: value = Double(n)
        case .double(let n)? where n.isFinite: value = n
        case .bool(let b)?: value = b ? 1 : 0  // true and false count as 1 and 0
        default: throw RequestError(field: name("label"), message: "must be a number (0 or 1 for a classifier)")
        }
        if let r = o["request_id"] {
            guard case .string(let id) = r, !id.isEmpty, id.count <= 200 else {
                throw RequestError(field: name("request_id"), message: "must be the x-mlinfra-request-id the endpoint answered with")
            }
            return LabelRecord(endpoint: endpoint, requestID: id, label: value, received: received)
        }
        guard let e = o["entity"] else {
            throw RequestError(field: name("request_id"), message: "missing; give request_id, or entity and time")
        }
        guard case .object(let keys) = e, !keys.isEmpty else {
            throw RequestError(field: name("entity"), message: "must be an object of join key → value, e.g. {\"customer_id\": 1001}")
        }
        var strings = [String: String]()
        for (k, v) in keys {
            guard let text = InferenceRequest.keyText(v) else { throw RequestError(field: name("entity.\(k)"), message: "must be a string or a number") }
            strings[k] = text
        }
        let time: Double?
        switch o["time"] {
        case .int(let t)?: time = Double(t)
        case .double(let t)? where t.isFinite: time = t
        case .string(let t)?: time = ISO8601DateFormatter().date(from: t)?.timeIntervalSince1970
        default: time = nil
        }
        guard let time else {
            throw RequestError(field: name("time"), message: "must be when the prediction was made: ISO 8601 (2026-12-01T10:00:00Z) or Unix seconds")
        }
        return LabelRecord(endpoint: endpoint, entity: CaptureRecord.entityKey(strings), time: time, label: value, received: received)
    }
}
