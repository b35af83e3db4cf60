import Foundation
import GRDB

/// A row of `collections`: one collection's settings and write sequence.
struct CollectionRow: Codable, Sendable {
    static let databaseTableName = "collections"
    var name: String
    /// Random per creation, so a re-created collection never matches an old index file.
    var uid: String
    /// `CollectionConfig` as JSON.
    var config: String
    var sequence: Int
    var createdAt: Double

    enum CodingKeys: String, CodingKey {
        case name, uid, config, sequence
        case createdAt = "created_at"
    }
}

extension CollectionRow: FetchableRecord, PersistableRecord {}

/// A row of `records`: one record of one collection, with the slot it holds in memory.
struct RecordRow: Codable, Sendable {
    static let databaseTableName = "records"
    var collection: String
    var id: String
    var slot: Int
    /// Float32 little-endian components, as given (not normalised).
    var vector: Data
    /// `[String: MetadataValue]` as JSON.
    var metadata: String
    var document: String?
}

extension RecordRow: FetchableRecord, PersistableRecord {}

enum StoreSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: collections and records") { db in
            try db.create(table: "collections") { t in
                t.primaryKey("name", .text)
                t.column("uid", .text).notNull()
                t.column("config", .text).notNull()
                t.column("sequence", .integer).notNull()
                t.column("created_at", .double).notNull()
            }
            try db.create(table: "records") { t in
                t.column("collection", .text).notNull().references("collections", onDelete: .cascade)
                t.column("id", .text).notNull()
                t.column("slot", .integer).notNull()
                t.column("vector", .blob).notNull()
                t.column("metadata", .text).notNull()
                t.column("document", .text)
                t.primaryKey(["collection", "id"])
            }
        }
        return migrator
    }

    static func encodeVector(_ v: [Float]) -> Data {
        v.withUnsafeBufferPointer { Data(buffer: $0) }
    }

    static func decodeVector(_ data: Data) -> [Float] {
        data.withUnsafeBytes { raw in (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) } }
    }
}

/// Writes a collection's changes to SQLite, one transaction per write.
struct SQLiteJournal: CollectionJournal {
    let pool: DatabasePool
    let collection: String

    func upsert(_ rows: [(record: VectorRecord, slot: Int)], sequence: Int) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try wrap {
            try pool.write { db in
                let statement = try db.cachedStatement(
                    sql: "INSERT OR REPLACE INTO records (collection, id, slot, vector, metadata, document) VALUES (?, ?, ?, ?, ?, ?)")
                for (record, slot) in rows {
                    let metadata = String(decoding: try encoder.encode(record.metadata), as: UTF8.self)
                    try statement.execute(arguments: [
                        collection, record.id, slot, StoreSchema.encodeVector(record.vector), metadata, record.document,
                    ])
                }
                try bump(db, sequence)
            }
        }
    }

    func delete(_ ids: [String], sequence: Int) throws {
        try wrap {
            try pool.write { db in
                let statement = try db.cachedStatement(sql: "DELETE FROM records WHERE collection = ? AND id = ?")
                for id in ids { try statement.execute(arguments: [collection, id]) }
                try bump(db, sequence)
            }
        }
    }

    func saveConfig(_ config: CollectionConfig, sequence: Int) throws {
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        try wrap {
            try pool.write { db in
                try db.execute(sql: "UPDATE collections SET config = ? WHERE name = ?", arguments: [json, collection])
                try bump(db, sequence)
            }
        }
    }

    private func bump(_ db: Database, _ sequence: Int) throws {
        try db.execute(sql: "UPDATE collections SET sequence = ? WHERE name = ?", arguments: [sequence, collection])
    }

    private func wrap(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as DatabaseError {
            throw VectorError(.storage, "could not write collection '\(collection)' to SQLite: \(error.message ?? error.description); nothing was changed")
        }
    }
}
