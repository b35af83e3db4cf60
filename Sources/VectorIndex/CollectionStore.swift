import Foundation

/// A home for collections: mlinfra's own files (`VectorStore`) or PostgreSQL with pgvector
/// (`PgVectorStore`). The resource types, `mlinfra vectors` commands and the HTTP API speak
/// only this, so a collection moves between homes by changing its store.
///
/// Rules every implementation keeps (pinned by `CollectionStoreTests`, run against each):
/// an upsert is all or nothing and replaces records with the same id; unknown ids are ignored
/// by get and delete; a query with a filter returns `min(k, matches)` records; distances are
/// "smaller is closer" as `Metric` defines them; errors are `VectorError`s naming the field.
public protocol CollectionStore: Sendable {
    /// Where the store is, for messages: a directory, or a URL without its password.
    var location: String { get }

    func listCollections() async throws -> [CollectionInfo]
    func info(_ name: String) async throws -> CollectionInfo
    /// Creates the collection, or brings an existing one's index settings to `config` (a new
    /// index kind, `m`, `ef_construction` or `lists` rebuilds it, keeping the records).
    /// A different dimension or metric is refused: that is a replace.
    func ensureCollection(_ name: String, config: CollectionConfig) async throws
    func dropCollection(_ name: String) async throws

    /// Inserts records, replacing those with the same ids; all or nothing.
    func upsert(_ name: String, _ records: [VectorRecord], progress: (@Sendable (Int, Int) -> Void)?) async throws
    /// Deletes records by id; returns how many there were.
    func delete(_ name: String, ids: [String]) async throws -> Int
    /// The records with these ids, in the order asked.
    func get(_ name: String, ids: [String]) async throws -> [VectorRecord]
    /// Records matching a filter (all when nil), at most `limit`, after skipping `offset`.
    func get(_ name: String, where filter: WhereFilter?, limit: Int?, offset: Int) async throws -> [VectorRecord]
    func count(_ name: String, where filter: WhereFilter?) async throws -> Int
    /// The `k` nearest records, closest first; with a filter, `min(k, matches)` of them.
    func query(_ name: String, _ vector: [Float], k: Int, ef: Int?, where filter: WhereFilter?) async throws -> QueryResult
    /// Makes what was written durable where the store needs a step for it (index files).
    func flush() async throws
}

extension CollectionStore {
    public func upsert(_ name: String, _ records: [VectorRecord]) async throws {
        try await upsert(name, records, progress: nil)
    }
}

/// Checks of a vector against a collection's settings, shared by both stores.
extension CollectionConfig {
    /// Its length and that every component is finite (and, for cosine, that it has a direction).
    func check(_ vector: [Float], field: String, collection: String) throws {
        guard vector.count == dimension else {
            throw VectorError.invalidField(field, "has \(vector.count) components, but collection '\(collection)' has dimension \(dimension)")
        }
        if let bad = vector.firstIndex(where: { !$0.isFinite }) {
            throw VectorError.invalidField(
                "\(field)[\(bad)]", "is \(vector[bad]); vectors must hold finite numbers (no NaN or infinity)")
        }
        // Distances are summed in Float: |a − b|² ≤ 2|a|² + 2|b|², so a squared norm under a
        // quarter of Float's range keeps every distance and dot product finite and ordered.
        var squaredNorm: Float = 0
        for x in vector { squaredNorm += x * x }
        guard squaredNorm.isFinite, squaredNorm < Float.greatestFiniteMagnitude / 4 else {
            throw VectorError.invalidField(
                field, "has a magnitude too large for 32-bit distances (|v|² must stay under 8.5e37); scale the vectors down")
        }
        if metric == .cosine && !vector.contains(where: { $0 != 0 }) {
            throw VectorError.invalidField(field, "is all zeros, which has no direction for the cosine metric")
        }
    }

    /// The records of one upsert: ids present and unique, vectors that fit.
    func check(_ records: [VectorRecord], collection: String) throws {
        var seen: [String: Int] = [:]
        for (i, record) in records.enumerated() {
            guard !record.id.isEmpty else { throw VectorError.invalidField("records[\(i)].id", "is empty; give every record an id") }
            if let first = seen[record.id] {
                throw VectorError.invalidField("records[\(i)].id", "'\(record.id)' also appears at records[\(first)]; ids in one upsert must be unique")
            }
            seen[record.id] = i
            try check(record.vector, field: "records[\(i)].vector", collection: collection)
        }
    }
}

/// Query arguments both stores refuse alike.
enum QueryLimits {
    static func check(k: Int, ef: Int?) throws {
        guard k >= 1 && k <= 10_000 else { throw VectorError.invalidField("k", "must be between 1 and 10000, got \(k)") }
        if let ef, ef < 1 || ef > 100_000 { throw VectorError.invalidField("ef", "must be between 1 and 100000, got \(ef)") }
    }
}

extension VectorStore: CollectionStore {
    public var location: String { directory }

    public func ensureCollection(_ name: String, config: CollectionConfig) async throws {
        try createCollection(name, config: config)
    }

    public func upsert(_ name: String, _ records: [VectorRecord], progress: (@Sendable (Int, Int) -> Void)?) async throws {
        try collection(name).upsert(records, progress: progress)
    }

    public func delete(_ name: String, ids: [String]) async throws -> Int {
        try collection(name).delete(ids: ids)
    }

    public func get(_ name: String, ids: [String]) async throws -> [VectorRecord] {
        try collection(name).get(ids: ids)
    }

    public func get(_ name: String, where filter: WhereFilter?, limit: Int?, offset: Int) async throws -> [VectorRecord] {
        try collection(name).get(where: filter, limit: limit, offset: offset)
    }

    public func count(_ name: String, where filter: WhereFilter?) async throws -> Int {
        let target = try collection(name)
        return filter.map { target.get(where: $0).count } ?? target.count
    }

    public func query(_ name: String, _ vector: [Float], k: Int, ef: Int?, where filter: WhereFilter?) async throws -> QueryResult {
        try collection(name).query(vector, k: k, ef: ef, where: filter)
    }

    public func flush() async throws { try saveIndexes() }
}
