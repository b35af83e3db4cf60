import Foundation

/// Where captured traffic is kept: written by the serving engine in batches, read by monitors.
///
/// Rules every implementation keeps (checked by `CaptureStoreTests` on each):
/// - `append` writes its batch in one write: a reader sees all of it or none of it.
/// - `records` returns an endpoint's records with `start < time <= end`, in time order and, for
///   equal times, in insertion order, each with its `id`; at most `limit` of them (the oldest).
/// - `latestTime` is the time of the endpoint's newest record, nil when it has none.
/// - Records of other endpoints are never returned.
/// - `labels` returns an endpoint's labels with `start < received <= end`, in arrival order.
public protocol CaptureStore: Sendable {
    func append(_ records: [CaptureRecord]) throws
    func appendLabels(_ labels: [LabelRecord]) throws
    func labels(endpoint: String, receivedAfter start: Double, through end: Double) throws -> [LabelRecord]
    func records(endpoint: String, after start: Double, through end: Double, limit: Int?) throws -> [CaptureRecord]
    func latestTime(endpoint: String) throws -> Double?
    func count(endpoint: String) throws -> Int
    /// Where the records are, for messages (never a password).
    var location: String { get }
}

extension CaptureStore {
    /// An endpoint's oldest records, up to `limit`.
    public func records(endpoint: String, limit: Int) throws -> [CaptureRecord] {
        try records(endpoint: endpoint, after: -.infinity, through: .infinity, limit: limit)
    }
}

/// A capture store failure: what went wrong and how to fix it; never a password.
public struct CaptureStoreError: Error, Sendable, CustomStringConvertible, Equatable {
    public enum Code: String, Sendable { case notFound, unavailable, invalid }
    public var code: Code
    public var message: String
    public var remedy: String

    public init(_ code: Code, _ message: String, remedy: String) {
        self.code = code
        self.message = message
        self.remedy = remedy
    }

    public var description: String { "\(message)\n  \(remedy)" }
}

/// Which capture store: the local SQLite file, or a schema of a PostgreSQL database.
public enum CaptureStoreLocation: Sendable, Hashable, CustomStringConvertible {
    /// `<directory>/capture.sqlite`.
    case sqlite(directory: String)
    /// The URL's database, tables in `schema`.
    case postgres(url: String, schema: String)

    public static let defaultSchema = "mlinfra_capture"

    /// The one-machine store under a data directory: `<data_dir>/serving/capture.sqlite`.
    public static func local(dataDirectory: String) -> CaptureStoreLocation {
        .sqlite(directory: URL(fileURLWithPath: dataDirectory).appendingPathComponent("serving").path)
    }

    /// A `postgres://` URL, or else the data directory whose local store is meant.
    public init(_ text: String?, dataDirectory: String, schema: String = defaultSchema) {
        if let text, text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            self = .postgres(url: text, schema: schema)
        } else {
            self = .local(dataDirectory: text ?? dataDirectory)
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let directory): URL(fileURLWithPath: directory).appendingPathComponent("capture.sqlite").path
        case .postgres(let url, let schema): "\((try? PostgresCaptureStore.parse(url).description) ?? "(PostgreSQL URL)") schema \(schema)"
        }
    }

    /// Opens the store. A reader passes `create: false`: a store nobody wrote to yet is an
    /// error that says so, rather than an empty file made on the reader's behalf.
    public func open(create: Bool) throws -> any CaptureStore {
        switch self {
        case .sqlite(let directory): try SQLiteCaptureStore(directory: directory, create: create)
        case .postgres(let url, let schema): try PostgresCaptureStore(url: url, schema: schema)
        }
    }
}
