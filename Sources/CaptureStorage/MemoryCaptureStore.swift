import Synchronization

/// Captured records in memory, for tests.
public final class MemoryCaptureStore: CaptureStore {
    private let state = Mutex<[CaptureRecord]>([])
    private let labelState = Mutex<[LabelRecord]>([])

    public init() {}

    public var location: String { "memory" }

    public func append(_ records: [CaptureRecord]) throws {
        state.withLock { all in
            for var r in records {
                r.id = Int64(all.count + 1)
                all.append(r)
            }
        }
    }

    public func records(endpoint: String, after start: Double, through end: Double, limit: Int?) throws -> [CaptureRecord] {
        let found = state.withLock { all in all.filter { $0.endpoint == endpoint && $0.time > start && $0.time <= end } }
            .sorted { ($0.time, $0.id ?? 0) < ($1.time, $1.id ?? 0) }
        return limit.map { Array(found.prefix($0)) } ?? found
    }

    public func appendLabels(_ labels: [LabelRecord]) throws {
        labelState.withLock { $0.append(contentsOf: labels) }
    }

    public func labels(endpoint: String, receivedAfter start: Double, through end: Double) throws -> [LabelRecord] {
        labelState.withLock { all in all.filter { $0.endpoint == endpoint && $0.received > start && $0.received <= end } }
    }

    public func latestTime(endpoint: String) throws -> Double? {
        state.withLock { all in all.filter { $0.endpoint == endpoint }.map(\.time).max() }
    }

    public func count(endpoint: String) throws -> Int {
        state.withLock { all in all.count { $0.endpoint == endpoint } }
    }
}
