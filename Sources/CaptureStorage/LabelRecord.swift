/// A true value that arrived after the prediction: by the request's id, or by the entity's keys
/// and the prediction's time.
public struct LabelRecord: Sendable, Hashable, Codable {
    public var endpoint: String
    /// The `x-mlinfra-request-id` the endpoint answered with (`<id>#<i>` for instance i of several).
    public var requestID: String?
    /// The entity's keys (`CaptureRecord.entityKey`), with `time`, when there is no request id.
    public var entity: String?
    /// For an entity label: when the prediction was made (Unix seconds); the label belongs to the
    /// entity's latest captured prediction at or before it.
    public var time: Double?
    public var label: Double
    /// When the label arrived (Unix seconds).
    public var received: Double

    public init(endpoint: String, requestID: String? = nil, entity: String? = nil, time: Double? = nil, label: Double, received: Double) {
        self.endpoint = endpoint
        self.requestID = requestID
        self.entity = entity
        self.time = time
        self.label = label
        self.received = received
    }
}
