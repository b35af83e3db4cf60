import CaptureStorage
import Foundation
import Logging
import MLInfraJSON
import Synchronization

/// Takes sampled request/response pairs from the router and writes them to the capture store
/// from a background task, so the request path only appends to a buffer.
///
/// When a captured request is in the store: `run` writes what is queued every `interval`
/// (250 ms), and at once when `batchSize` exchanges wait, each time as one batch (one statement
/// on PostgreSQL, one transaction on SQLite); on shutdown it writes what is left. A monitor run
/// therefore sees a request at most `interval` after its answer, plus the write's own time.
public final class CaptureWriter: Sendable {
    /// A request/response pair as the router saw it.
    public struct Exchange: Sendable {
        public var endpoint: String
        public var version: String
        public var time: Double
        /// `predict` or `infer`.
        public var kind: Kind
        public var request: Data
        public var response: Data
        public var latencyMs: Double
        public var featureNames: [String]
        public var outputNames: [String]
        /// The id the router gave the request, returned to the client for its labels later.
        public var requestID: String?
        /// `Inference-Header-Content-Length` of the request and of the response: the JSON header's
        /// length when binary tensors follow it.
        public var requestHeaderLength: Int?
        public var responseHeaderLength: Int?

        public enum Kind: Sendable { case predict, infer }

        public init(endpoint: String, version: String, time: Double, kind: Kind, request: Data, response: Data,
                    latencyMs: Double, featureNames: [String], outputNames: [String], requestID: String? = nil,
                    requestHeaderLength: Int? = nil, responseHeaderLength: Int? = nil) {
            self.endpoint = endpoint
            self.version = version
            self.time = time
            self.kind = kind
            self.request = request
            self.response = response
            self.latencyMs = latencyMs
            self.featureNames = featureNames
            self.outputNames = outputNames
            self.requestID = requestID
            self.requestHeaderLength = requestHeaderLength
            self.responseHeaderLength = responseHeaderLength
        }
    }

    /// At most this many exchanges wait for the writer; more are dropped (and counted).
    public let capacity: Int
    /// This many waiting exchanges are written without waiting for the interval.
    public let batchSize: Int
    public let store: any CaptureStore
    private let buffer = Mutex<[Exchange]>([])
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let droppedCount = Atomic<Int>(0)
    private let writtenByEndpoint = Mutex<[String: Int]>([:])
    private let logger: Logger

    public init(store: any CaptureStore, capacity: Int = 10_000, batchSize: Int = 1_000, logger: Logger) {
        self.store = store
        self.capacity = capacity
        self.batchSize = max(1, batchSize)
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var dropped: Int { droppedCount.load(ordering: .relaxed) }
    public var written: Int { writtenByEndpoint.withLock { $0.values.reduce(0, +) } }
    /// Rows of `endpoint` in the store so far: what a monitor run can see.
    public func written(endpoint: String) -> Int { writtenByEndpoint.withLock { $0[endpoint, default: 0] } }

    /// Queues an exchange; never blocks.
    public func submit(_ exchange: Exchange) {
        let queued = buffer.withLock { items -> Int? in
            guard items.count < capacity else { return nil }
            items.append(exchange)
            return items.count
        }
        guard let queued else {
            droppedCount.add(1, ordering: .relaxed)
            return
        }
        if queued == batchSize { wake.yield() }
    }

    /// Writes what is queued; returns the number of rows written.
    @discardableResult
    public func flush() -> Int {
        let items = buffer.withLock { items -> [Exchange] in
            defer { items.removeAll(keepingCapacity: true) }
            return items
        }
        guard !items.isEmpty else { return 0 }
        let records = items.flatMap(Self.records)
        do {
            try store.append(records)
            writtenByEndpoint.withLock { counts in
                for record in records { counts[record.endpoint, default: 0] += 1 }
            }
        } catch {
            logger.error("capture write failed, \(records.count) rows lost: \(error)")
        }
        return records.count
    }

    /// Flushes every `interval`, and whenever `batchSize` exchanges wait, until cancelled; then once more.
    public func run(interval: Duration = .milliseconds(250)) async {
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                wake.yield()
            }
        }
        for await _ in wakeups { flush() }
        ticker.cancel()
        flush()
    }

    /// One record per instance of a successful exchange, JSON or binary tensors; nothing for one that cannot be read.
    static func records(_ e: Exchange) -> [CaptureRecord] {
        let responseHeader = e.responseHeaderLength.map { e.response.prefix($0) } ?? e.response
        guard let response = try? JSONSerialization.jsonObject(with: responseHeader) as? [String: Any] else { return [] }
        let input: FeatureMatrix
        var entities: [String]?
        do {
            switch e.kind {
            case .predict:
                switch try InferenceRequest.parsePredict(e.request, featureNames: e.featureNames) {
                case .instances(let m): input = m
                case .entities(let keys):
                    let count = keys.values.first?.count ?? 0
                    entities = (0..<count).map { r in CaptureRecord.entityKey(keys.mapValues { $0[r] }) }
                    // The replica answers entity requests with the rows it built from the online store.
                    guard case .array(let rows)? = JSONValue.read(responseHeader)?["instances"], !rows.isEmpty else { return [] }
                    input = try InferenceRequest.matrix(rows, field: "instances", featureNames: e.featureNames)
                }
            case .infer:
                input = try InferenceRequest.parseInfer(e.request, headerLength: e.requestHeaderLength, featureNames: e.featureNames).input
            }
        } catch {
            return []
        }
        var outputs: [[Any]] = []
        if e.kind == .predict, let predictions = response["predictions"] as? [Any] {
            outputs = predictions.map { ($0 as? [Any]) ?? [$0] }
        } else if e.kind == .infer, let first = (response["outputs"] as? [Any])?.first as? [String: Any],
            let data = (first["data"] as? [Any]) ?? e.responseHeaderLength.flatMap({ InferenceBinary.floats(e.response.dropFirst($0)) })
        {
            let width = max(1, data.count / max(1, input.rows))
            outputs = stride(from: 0, to: data.count, by: width).map { Array(data[$0..<min(data.count, $0 + width)]) }
        }
        guard outputs.count == input.rows else { return [] }
        var records: [CaptureRecord] = []
        records.reserveCapacity(input.rows)
        for r in 0..<input.rows {
            var inputObject: [String: Any] = [:]
            for (c, name) in e.featureNames.enumerated() {
                let v = input.values[r * input.columns + c]
                inputObject[name] = v.isNaN ? NSNull() : Double(v)
            }
            var outputObject: [String: Any] = [:]
            for (k, v) in outputs[r].enumerated() {
                outputObject[k < e.outputNames.count ? e.outputNames[k] : "output_\(k)"] = v
            }
            guard let inputs = try? JSONSerialization.data(withJSONObject: inputObject, options: [.sortedKeys]),
                  let outs = try? JSONSerialization.data(withJSONObject: outputObject, options: [.sortedKeys])
            else { continue }
            // One instance keeps the request's id; instance i of several gets "<id>#<i>".
            let requestID = e.requestID.map { input.rows == 1 ? $0 : "\($0)#\(r)" }
            let entity = entities.flatMap { r < $0.count ? $0[r] : nil }
            records.append(CaptureRecord(endpoint: e.endpoint, version: e.version, time: e.time, requestID: requestID, entity: entity,
                                         inputs: String(decoding: inputs, as: UTF8.self), outputs: String(decoding: outs, as: UTF8.self),
                                         latencyMs: e.latencyMs))
        }
        return records
    }
}
