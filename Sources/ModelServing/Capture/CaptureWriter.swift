import Foundation
import Logging
import Synchronization

/// Takes sampled request/response pairs from the router and writes them to the capture store
/// from a background task, so the request path only appends to a buffer.
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

        public enum Kind: Sendable { case predict, infer }

        public init(endpoint: String, version: String, time: Double, kind: Kind, request: Data, response: Data,
                    latencyMs: Double, featureNames: [String], outputNames: [String]) {
            self.endpoint = endpoint
            self.version = version
            self.time = time
            self.kind = kind
            self.request = request
            self.response = response
            self.latencyMs = latencyMs
            self.featureNames = featureNames
            self.outputNames = outputNames
        }
    }

    /// At most this many exchanges wait for the writer; more are dropped (and counted).
    public let capacity: Int
    private let store: CaptureStore
    private let buffer = Mutex<[Exchange]>([])
    private let droppedCount = Atomic<Int>(0)
    private let writtenCount = Atomic<Int>(0)
    private let logger: Logger

    public init(store: CaptureStore, capacity: Int = 10_000, logger: Logger) {
        self.store = store
        self.capacity = capacity
        self.logger = logger
    }

    public var dropped: Int { droppedCount.load(ordering: .relaxed) }
    public var written: Int { writtenCount.load(ordering: .relaxed) }

    /// Queues an exchange; never blocks.
    public func submit(_ exchange: Exchange) {
        let accepted = buffer.withLock { items -> Bool in
            guard items.count < capacity else { return false }
            items.append(exchange)
            return true
        }
        if !accepted { droppedCount.add(1, ordering: .relaxed) }
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
            try store.insert(records)
            writtenCount.add(records.count, ordering: .relaxed)
        } catch {
            logger.error("capture write failed, \(records.count) rows lost: \(error)")
        }
        return records.count
    }

    /// Flushes every `interval` seconds until cancelled, then once more.
    public func run(interval: Double = 0.25) async {
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
            flush()
        }
        flush()
    }

    /// One record per instance of a successful exchange; nothing for one that cannot be read.
    static func records(_ e: Exchange) -> [CaptureRecord] {
        guard let response = try? JSONSerialization.jsonObject(with: e.response) as? [String: Any] else { return [] }
        let input: FeatureMatrix
        do {
            switch e.kind {
            case .predict:
                switch try InferenceRequest.parsePredict(e.request, featureNames: e.featureNames) {
                case .instances(let m): input = m
                case .entities:
                    // The replica answers entity requests with the rows it built from the online store.
                    guard let rows = response["instances"] as? [Any], !rows.isEmpty else { return [] }
                    input = try InferenceRequest.matrix(rows, field: "instances", featureNames: e.featureNames)
                }
            case .infer:
                input = try InferenceRequest.parseInfer(e.request, featureNames: e.featureNames).input
            }
        } catch {
            return []
        }
        var outputs: [[Any]] = []
        if e.kind == .predict, let predictions = response["predictions"] as? [Any] {
            outputs = predictions.map { ($0 as? [Any]) ?? [$0] }
        } else if e.kind == .infer, let first = (response["outputs"] as? [Any])?.first as? [String: Any], let data = first["data"] as? [Any] {
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
            records.append(CaptureRecord(endpoint: e.endpoint, version: e.version, time: e.time,
                                         inputs: String(decoding: inputs, as: UTF8.self), outputs: String(decoding: outs, as: UTF8.self),
                                         latencyMs: e.latencyMs))
        }
        return records
    }
}
