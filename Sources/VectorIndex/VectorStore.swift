import EngineStorage
import Foundation
import GRDB
import Synchronization

/// A summary of one collection, as listings show it.
public struct CollectionInfo: Sendable, Hashable, Codable {
    public var name: String
    public var config: CollectionConfig
    public var count: Int
    public var sequence: Int
}

/// A directory of persistent collections: `vectors.sqlite` (records and
/// metadata, WAL) and `index/<collection>.hnsw` (graphs).
///
/// SQLite is the source of truth. Every write is one transaction that also
/// bumps the collection's sequence; an index file records the sequence it
/// reflects. Opening a collection loads its records and, when the index
/// file's uid, sequence, checksum and slots all match, its graph as saved;
/// otherwise it rebuilds the graph from the records and says why in `notes`.
/// So a crash during a write loses at most that write, and a crash between a
/// write and the next index save costs one rebuild.
public final class VectorStore: Sendable {
    public let directory: String
    let pool: DatabasePool
    /// The loaded collections, the sequence each index file was last saved at, and the notes.
    private struct Loaded {
        var open: [String: VectorCollection] = [:]
        var savedSequence: [String: Int] = [:]
        var notes: [String] = []
    }
    private let loaded = Mutex(Loaded())
    public let buildThreads: Int

    /// `<data_dir>/vectors/<store>`: where a named store lives under a data directory.
    public static func directory(dataDir: String, store: String) -> String {
        (dataDir as NSString).appendingPathComponent("vectors/\(store)")
    }

    /// Opens (creating when needed) the store in `directory`.
    public init(directory: String, buildThreads: Int = ProcessInfo.processInfo.activeProcessorCount) throws {
        self.directory = directory
        self.buildThreads = max(1, buildThreads)
        do {
            try FileManager.default.createDirectory(atPath: directory + "/index", withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.foreignKeysEnabled = true
            configuration.busyMode = .timeout(10)
            pool = try StoreSchema.migrator.openPool(path: directory + "/vectors.sqlite", configuration: configuration)
        } catch let error as DatabaseError {
            throw VectorError(.storage, "cannot open the vector store in \(directory): \(error.message ?? error.description)")
        } catch let error as CocoaError {
            throw VectorError(.storage, "cannot create \(directory): \(error.localizedDescription)")
        }
    }

    /// What opening collections had to do (index rebuilds and why).
    public var notes: [String] { loaded.withLock { $0.notes } }

    static func checkName(_ name: String) throws {
        let ok = !name.isEmpty && name.count <= 128 && name.first != "."
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") }
        guard ok else {
            throw VectorError.invalidField("name", "'\(name)' is not a valid collection name; use 1-128 letters, digits, '_', '-' or '.'")
        }
    }

    private func indexPath(_ name: String) -> String { directory + "/index/\(name).hnsw" }

    // MARK: - Collections

    public func listCollections() throws -> [CollectionInfo] {
        let rows = try pool.read { db in try CollectionRow.order(Column("name")).fetchAll(db) }
        let counts = try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT collection, COUNT(*) AS n FROM records GROUP BY collection")
                .reduce(into: [String: Int]()) { $0[$1["collection"]] = $1["n"] }
        }
        return try rows.map { row in
            CollectionInfo(name: row.name, config: try decodeConfig(row), count: counts[row.name] ?? 0, sequence: row.sequence)
        }
    }

    public func info(_ name: String) throws -> CollectionInfo {
        guard let found = try listCollections().first(where: { $0.name == name }) else {
            throw VectorError.collectionNotFound(name, known: try listCollections().map(\.name))
        }
        return found
    }

    private func decodeConfig(_ row: CollectionRow) throws -> CollectionConfig {
        do {
            return try JSONDecoder().decode(CollectionConfig.self, from: Data(row.config.utf8))
        } catch {
            throw VectorError(.storage, "collection '\(row.name)' has unreadable settings in \(directory)/vectors.sqlite")
        }
    }

    /// Creates a collection; creating one that exists with the same dimension and
    /// metric returns it (with its index settings updated), otherwise it is refused.
    @discardableResult
    public func createCollection(_ name: String, config: CollectionConfig) throws -> VectorCollection {
        try VectorStore.checkName(name)
        if let problem = config.problems().first { throw problem }
        if config.ivfflat != nil {
            throw VectorError.invalidField("index", "ivfflat is an index of pgvector stores; a local store keeps hnsw or exact")
        }
        if let existing = try pool.read({ db in try CollectionRow.fetchOne(db, key: name) }) {
            let old = try decodeConfig(existing)
            guard old.dimension == config.dimension && old.metric == config.metric else {
                throw VectorError(.conflict, field: "name",
                    "collection '\(name)' exists with dimension \(old.dimension) and metric \(old.metric.rawValue); drop it first to change them (its records would be lost)")
            }
            let collection = try self.collection(name)
            if old.hnsw != config.hnsw { try collection.updateIndex(config.hnsw) }
            return collection
        }
        let row = CollectionRow(
            name: name, uid: UUID().uuidString, config: String(decoding: try JSONEncoder().encode(config), as: UTF8.self),
            sequence: 0, createdAt: Date().timeIntervalSince1970)
        try pool.write { db in try row.insert(db) }
        unlink(indexPath(name))
        return try collection(name)
    }

    /// Drops a collection and all its records.
    public func dropCollection(_ name: String) throws {
        let deleted = try pool.write { db in try CollectionRow.deleteOne(db, key: name) }
        guard deleted else { throw VectorError.collectionNotFound(name, known: try listCollections().map(\.name)) }
        loaded.withLock {
            $0.open[name] = nil
            $0.savedSequence[name] = nil
        }
        unlink(indexPath(name))
    }

    /// The collection, loaded on first use (records from SQLite; graph from its index file, or rebuilt).
    public func collection(_ name: String, progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> VectorCollection {
        if let found = loaded.withLock({ $0.open[name] }) { return found }
        guard let row = try pool.read({ db in try CollectionRow.fetchOne(db, key: name) }) else {
            throw VectorError.collectionNotFound(name, known: try listCollections().map(\.name))
        }
        let config = try decodeConfig(row)
        let collection = try VectorCollection(
            name: name, config: config, journal: SQLiteJournal(pool: pool, collection: name), sequence: row.sequence,
            buildThreads: buildThreads)
        let decoder = JSONDecoder()
        var rows: [(record: VectorRecord, slot: Int)] = []
        try pool.read { db in
            let cursor = try Row.fetchCursor(db, sql: "SELECT id, slot, vector, metadata, document FROM records WHERE collection = ? ORDER BY slot", arguments: [name])
            while let r = try cursor.next() {
                let metadataText: String = r["metadata"]
                let metadata = (try? decoder.decode([String: MetadataValue].self, from: Data(metadataText.utf8))) ?? [:]
                let record = VectorRecord(id: r["id"], vector: StoreSchema.decodeVector(r["vector"]), metadata: metadata, document: r["document"])
                rows.append((record, r["slot"]))
            }
        }
        var note: String?
        if let hnsw = config.hnsw {
            do {
                let (header, body) = try IndexFile.read(indexPath(name))
                guard header.collectionUID == row.uid else { throw IndexFile.Mismatch(description: "index file belongs to an earlier collection of that name") }
                guard header.sequence == row.sequence else {
                    throw IndexFile.Mismatch(description: "index file reflects write \(header.sequence) but the records are at write \(row.sequence)")
                }
                guard header.m == hnsw.m, header.efConstruction == hnsw.efConstruction, header.dimension == config.dimension,
                    header.metric == config.metric
                else { throw IndexFile.Mismatch(description: "index file was built with other settings") }
                let slots = Set(rows.map(\.slot))
                guard header.liveCount == rows.count, slots.allSatisfy({ $0 < header.highWater }) else {
                    throw IndexFile.Mismatch(description: "index file holds \(header.liveCount) records but SQLite holds \(rows.count)")
                }
                collection.load(rows, buildGraph: false)
                try collection.withExclusiveAccess {
                    let graph = HNSWGraph(metric: config.metric, storage: collection.storage, parameters: hnsw)
                    graph.syncCapacity()
                    try IndexFile.load(body, header: header, into: graph)
                    for s in 0..<header.highWater where graph.contains(s) != slots.contains(s) {
                        throw IndexFile.Mismatch(description: "index file nodes do not match the records' slots")
                    }
                    collection.replaceGraph(graph)
                }
            } catch let mismatch as IndexFile.Mismatch {
                if collection.count > 0 || !rows.isEmpty {
                    collection.withExclusiveAccess { collection.replaceGraph(HNSWGraph(metric: config.metric, storage: collection.storage, parameters: hnsw)) }
                }
                collection.load(rows, buildGraph: true, progress: progress)
                if !rows.isEmpty || FileManager.default.fileExists(atPath: indexPath(name)) {
                    note = "collection '\(name)': \(mismatch.description); rebuilt the graph from \(rows.count) records"
                }
            }
        } else {
            collection.load(rows, buildGraph: false)
        }
        return loaded.withLock {
            if let raced = $0.open[name] { return raced }
            $0.open[name] = collection
            if let note {
                $0.notes.append(note)
                $0.savedSequence[name] = -1
            } else {
                $0.savedSequence[name] = row.sequence
            }
            return collection
        }
    }

    /// Writes the index file of every loaded collection changed since it was last saved.
    public func saveIndexes() throws {
        let open = loaded.withLock { $0.open }
        for (name, collection) in open.sorted(by: { $0.key < $1.key }) {
            try saveIndex(name, collection)
        }
    }

    private func saveIndex(_ name: String, _ collection: VectorCollection) throws {
        let uid = try pool.read { db in try CollectionRow.fetchOne(db, key: name)?.uid }
        guard let uid else { return }
        try collection.withExclusiveAccess {
            let sequence = collection.sequenceUnlocked
            guard loaded.withLock({ $0.savedSequence[name] }) != sequence else { return }
            guard let graph = collection.graph, let hnsw = collection.configUnlocked.hnsw else {
                unlink(indexPath(name))
                loaded.withLock { $0.savedSequence[name] = sequence }
                return
            }
            collection.purgeUnlocked()
            let header = IndexFile.Header(
                collectionUID: uid, sequence: sequence, dimension: collection.configUnlocked.dimension,
                metric: collection.configUnlocked.metric, m: hnsw.m, efConstruction: hnsw.efConstruction,
                highWater: collection.slotHighWater, liveCount: collection.liveSlots().count,
                entryPoint: graph.entryPoint, maxLevel: graph.maxLevel)
            try IndexFile.write(graph, header: header, to: indexPath(name))
            loaded.withLock { $0.savedSequence[name] = sequence }
        }
    }
}
