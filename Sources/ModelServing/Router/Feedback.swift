import CaptureStorage
import Foundation

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
            guard let items = list as? [Any], !items.isEmpty else {
                throw RequestError(field: "labels", message: "must be a non-empty list of {\"request_id\": …, \"label\": …}")
            }
            var out = [LabelRecord]()
            for (i, item) in items.enumerated() {
                guard let o = item as? [String: Any] else { throw RequestError(field: "labels[\(i)]", message: "must be an object") }
                out.append(try label(o, field: "labels[\(i)]", endpoint: endpoint, received: received))
            }
            return out
        }
        return [try label(object, field: nil, endpoint: endpoint, received: received)]
    }

    static func label(_ o: [String: Any], field: String?, endpoint: String, received: Double) throws(RequestError) -> LabelRecord {
        func name(_ key: String) -> String { field.map { "\($0).\(key)" } ?? key }
        guard let n = o["label"] as? NSNumber, n.doubleValue.isFinite else {  // true and false count as 1 and 0
            throw RequestError(field: name("label"), message: "must be a number (0 or 1 for a classifier)")
        }
        let value = n.doubleValue
        if let r = o["request_id"] {
            guard let id = r as? String, !id.isEmpty, id.count <= 200 else {
                throw RequestError(field: name("request_id"), message: "must be the x-mlinfra-request-id the endpoint answered with")
            }
            return LabelRecord(endpoint: endpoint, requestID: id, label: value, received: received)
        }
        guard let e = o["entity"] else {
            throw RequestError(field: name("request_id"), message: "missing; give request_id, or entity and time")
        }
        guard let keys = e as? [String: Any], !keys.isEmpty else {
            throw RequestError(field: name("entity"), message: "must be an object of join key → value, e.g. {\"customer_id\": 1001}")
        }
        var strings = [String: String]()
        for (k, v) in keys {
            if let s = v as? String { strings[k] = s }
            else if let n = v as? NSNumber, !InferenceRequest.isBool(n) { strings[k] = n.stringValue }
            else { throw RequestError(field: name("entity.\(k)"), message: "must be a string or a number") }
        }
        let time: Double
        if let t = o["time"] as? NSNumber, !InferenceRequest.isBool(t), t.doubleValue.isFinite {
            time = t.doubleValue
        } else if let t = o["time"] as? String, let d = ISO8601DateFormatter().date(from: t) {
            time = d.timeIntervalSince1970
        } else {
            throw RequestError(field: name("time"), message: "must be when the prediction was made: ISO 8601 (2026-12-01T10:00:00Z) or Unix seconds")
        }
        return LabelRecord(endpoint: endpoint, entity: CaptureRecord.entityKey(strings), time: time, label: value, received: received)
    }
}
