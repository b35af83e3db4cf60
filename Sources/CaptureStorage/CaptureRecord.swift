import Foundation

/// One captured instance: what went in, what came out.
public struct CaptureRecord: Sendable, Hashable, Codable {
    /// The store's sequence number: nil until stored, increasing in insertion order.
    public var id: Int64?
    public var endpoint: String
    public var version: String
    /// Unix seconds.
    public var time: Double
    /// The id the router gave the request (`x-mlinfra-request-id`), for joining labels later.
    public var requestID: String?
    /// For a request by entity keys, this instance's keys as a JSON object with sorted keys
    /// (`{"customer_id":1001}`), for joining labels given by entity and time.
    public var entity: String?
    /// JSON object, feature → value (null for missing).
    public var inputs: String
    /// JSON object, output name → value.
    public var outputs: String
    public var latencyMs: Double

    public init(id: Int64? = nil, endpoint: String, version: String, time: Double, requestID: String? = nil, entity: String? = nil,
                inputs: String, outputs: String, latencyMs: Double) {
        self.id = id
        self.endpoint = endpoint
        self.version = version
        self.time = time
        self.requestID = requestID
        self.entity = entity
        self.inputs = inputs
        self.outputs = outputs
        self.latencyMs = latencyMs
    }
}

extension CaptureRecord {
    /// The canonical text of an entity's keys: a JSON object, keys sorted, values as strings
    /// (`{"customer_id":"1001"}`), the same whether the keys came in a request or with a label.
    public static func entityKey(_ keys: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: keys, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
