import EngineStorage
import Foundation
import GRDB

/// The store's SQLite file (WAL): definitions, the online table and the materialization log.
///
/// One file per feature store, at `<directory>/store.sqlite`:
/// - `definitions(kind, name, body)`: entities, views and services as JSON; `meta.generation`
///   changes on every definition write, so readers in any process notice and reload.
/// - `online(view, entity_key, event_ts, created_ts, layout, payload)`: the latest row per
///   (view, entity), all its features in one compact `payload` (see `Payload`), in the order of
///   `layouts.names`; a new layout bumps `meta.generation` too, so readers' compiled plans know it.
/// - `materializations(view, start_ts, end_ts, rows, at)`: what was loaded when, for incremental runs.
enum StoreDatabase {
    static func open(directory: String) throws -> DatabasePool {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw FeatureStoreError.storage(message: "cannot create \(directory): \(error.localizedDescription)")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        config.maximumReaderCount = max(2, ProcessInfo.processInfo.activeProcessorCount * 2)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let path = URL(fileURLWithPath: directory).appendingPathComponent("store.sqlite").path
        do {
            let pool = try migrator.openPool(path: path, configuration: config)
            return pool
        } catch {
            throw FeatureStoreError.storage(message: "cannot open \(path): \(error)")
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1: definitions, online, layouts, materializations") { db in
            try db.execute(
                sql: """
                    CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID;
                    INSERT INTO meta (key, value) VALUES ('generation', 1);
                    CREATE TABLE definitions (
                        kind TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, updated_at REAL NOT NULL,
                        PRIMARY KEY (kind, name)) WITHOUT ROWID;
                    CREATE TABLE layouts (id INTEGER PRIMARY KEY, view TEXT NOT NULL, names TEXT NOT NULL,
                        UNIQUE (view, names));
                    CREATE TABLE online (
                        view TEXT NOT NULL, entity_key TEXT NOT NULL, event_ts INTEGER NOT NULL,
                        created_ts INTEGER NOT NULL, layout INTEGER NOT NULL, payload BLOB NOT NULL,
                        PRIMARY KEY (view, entity_key)) WITHOUT ROWID;
                    CREATE TABLE materializations (
                        id INTEGER PRIMARY KEY, view TEXT NOT NULL, start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL,
                        rows INTEGER NOT NULL, at REAL NOT NULL);
                    CREATE INDEX materializations_view ON materializations (view, end_ts);
                    """)
        }
        return m
    }
}

/// The binary form of a row of feature values in the online table.
///
/// Per value: a tag byte (0 null, 1 int, 2 double, 3 string, 4 false, 5 true), then 8 bytes
/// little-endian for numbers, or a 4-byte length and UTF-8 bytes for strings. Decoding 50
/// values takes well under a microsecond, which JSON would not.
enum Payload {
    static func encode(_ values: [FeatureValue]) -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(values.count * 9)
        func put64(_ v: UInt64) {
            withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
        }
        for v in values {
            switch v {
            case .null: out.append(0)
            case .int(let i): out.append(1); put64(UInt64(bitPattern: i))
            case .double(let d): out.append(2); put64(d.bitPattern)
            case .string(let s):
                out.append(3)
                let bytes = Array(s.utf8)
                withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { out.append(contentsOf: $0) }
                out.append(contentsOf: bytes)
            case .bool(let b): out.append(b ? 5 : 4)
            }
        }
        return Data(out)
    }

    /// Decodes the first `count` values; nil when the bytes are damaged.
    static func decode(_ bytes: UnsafeRawBufferPointer, count: Int) -> [FeatureValue]? {
        var out: [FeatureValue] = []
        return decode(bytes, count: count, into: &out) ? out : nil
    }

    /// Decodes the first `count` values into `out` (emptied first, capacity kept); false when the bytes are damaged.
    static func decode(_ bytes: UnsafeRawBufferPointer, count: Int, into out: inout [FeatureValue]) -> Bool {
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(count)
        var i = 0
        let n = bytes.count
        @inline(__always) func read64() -> UInt64? {
            guard i + 8 <= n else { return nil }
            let v = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            i += 8
            return UInt64(littleEndian: v)
        }
        while i < n, out.count < count {
            let tag = bytes[i]
            i += 1
            switch tag {
            case 0: out.append(.null)
            case 1: guard let v = read64() else { return false }; out.append(.int(Int64(bitPattern: v)))
            case 2: guard let v = read64() else { return false }; out.append(.double(Double(bitPattern: v)))
            case 3:
                guard i + 4 <= n else { return false }
                let l = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                i += 4
                guard i + l <= n else { return false }
                out.append(.string(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<i + l]), as: UTF8.self)))
                i += l
            case 4: out.append(.bool(false))
            case 5: out.append(.bool(true))
            default: return false
            }
        }
        return out.count == count
    }
}
