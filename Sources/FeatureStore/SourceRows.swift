import EngineCSV
import Foundation
import GRDB

/// How entity keys become the 64-bit integers that rows are sorted and joined on.
///
/// A single integer join key is used as it is. Any other key (strings, several join
/// keys) is interned: each distinct key text gets a number, and an entity key that no
/// feature row has gets none, so it matches nothing.
final class KeySpace: @unchecked Sendable {
    // @unchecked Sendable: filled while the source loads (one thread), then only read.
    let joinKeys: [String]
    let types: [ValueType]
    private(set) var ids: [String: Int64] = [:]
    private(set) var texts: [String] = []

    init(joinKeys: [String], types: [ValueType]) {
        self.joinKeys = joinKeys
        self.types = types
    }

    /// One integer join key: keys are the integers themselves.
    var isDirect: Bool { joinKeys.count == 1 && types[0].isInteger }

    static let noMatch = Int64.min

    func intern(_ text: String) -> Int64 {
        if let id = ids[text] { return id }
        let id = Int64(texts.count)
        ids[text] = id
        texts.append(text)
        return id
    }

    func lookup(_ text: String) -> Int64 { ids[text] ?? KeySpace.noMatch }

    /// The canonical text of a key (what the online store and HTTP requests use).
    func text(of key: Int64) -> String { isDirect ? String(key) : texts[Int(key)] }

    /// Canonical text of one join-key cell: integers without sign noise or `.0`, other text as is.
    static func canonical(_ p: UnsafePointer<UInt8>, _ n: Int, type: ValueType) -> String? {
        if type.isInteger {
            return CellText.parseInt(p, n).map { String($0) }
        }
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }

    static let separator = "\u{1F}"
}

/// A feature view's source rows, loaded for joining: key, event time, created time and id of
/// every row, grouped into the join's buckets, and a way back to the feature values of a row.
final class SourceRows: @unchecked Sendable {
    // @unchecked Sendable: immutable after `load`; the CSV mapping is read-only.
    enum Storage {
        /// Values stay in the mapped CSV; a row's id is the offset where its record starts.
        case csv(CSVFile, columns: [Int])
        /// Values read from a SQLite table, one array per row in the view's feature order; a
        /// row's id is its index.
        case table([[FeatureValue]])
    }

    let view: FeatureView
    let keySpace: KeySpace
    let buckets: PointInTimeJoin.Buckets
    let storage: Storage
    /// Fields to scan of a CSV record to reach every feature column.
    let fieldLimit: Int

    var count: Int { buckets.count }

    private init(view: FeatureView, keySpace: KeySpace, buckets: PointInTimeJoin.Buckets, storage: Storage) {
        self.view = view
        self.keySpace = keySpace
        self.buckets = buckets
        self.storage = storage
        if case .csv(_, let columns) = storage { fieldLimit = (columns.max() ?? 0) + 1 } else { fieldLimit = 0 }
    }

    /// Reads a view's source (its path already resolved), checking every cell against its type.
    /// `generalReaderOnly` reads every CSV record with the general reader (for tests that
    /// compare it with `PlainRecordReader`).
    static func load(view: FeatureView, definitions: Definitions, generalReaderOnly: Bool = false) throws -> SourceRows {
        let space = KeySpace(joinKeys: try definitions.joinKeys(of: view), types: try definitions.joinKeyTypes(of: view))
        switch view.source.kind {
        case .csv(let path):
            return try loadCSV(view: view, path: path, space: space, generalReaderOnly: generalReaderOnly)
        case .sqlite(let path, let table):
            return try loadTable(view: view, path: path, table: table, space: space)
        }
    }

    private struct Chunk {
        let rows: PointInTimeJoin.BucketWriter
        /// The key text of each row, when keys are interned (then `rows` have no key yet).
        var keyTexts: [String] = []
    }

    private static func loadCSV(view: FeatureView, path: String, space: KeySpace, generalReaderOnly: Bool) throws -> SourceRows {
        let csv = try CSVFile(path: path)
        let keyCols = try space.joinKeys.map { try csv.columnIndex($0) }
        let tsCol = try csv.columnIndex(view.source.timestampField)
        let ctsCol = try view.source.createdTimestampField.map { try csv.columnIndex($0) }
        let featureCols = try view.features.map { try csv.columnIndex($0.name) }
        let checks = zip(featureCols, view.features.map(\.type)).map { (column: $0, type: $1) }
        let limit = ([tsCol, ctsCol ?? 0] + keyCols + featureCols).max()! + 1
        let direct = space.isDirect
        let keyTypes = space.types
        let base = csv.file.base

        // Integer keys are read in chunks on all cores, each row going straight into its bucket
        // for the join. Interned keys are numbered in file order, so a file whose keys are not
        // integers is read on one thread, and its rows put into buckets once their keys are known.
        let bits = direct ? PointInTimeJoin.bucketBits(forRows: csv.estimatedRecords()) : 0
        let plain =
            direct && !generalReaderOnly
            ? PlainRecordReader(keyColumn: keyCols[0], eventTimeColumn: tsCol, createdTimeColumn: ctsCol, features: checks) : nil
        let fileEnd = csv.file.count
        let chunks = try checks.withUnsafeBufferPointer { checks in
            try csv.scanChunks(
                columns: limit, chunks: direct ? 4 * ProcessInfo.processInfo.activeProcessorCount : 1,
                makeState: { Chunk(rows: PointInTimeJoin.BucketWriter(bits: bits, expectedRows: $0)) },
                fast: { state, offset, complete in
                    guard let plain else { return offset }
                    var offset = offset
                    while offset < complete, let (row, next) = plain.read(base, at: offset, fileEnd: fileEnd) {
                        state.rows.append(row)
                        offset = next
                    }
                    return offset
                }
            ) { state, offset, fields in
                guard fields.count >= limit else { throw csv.shortRecord(at: offset, fields: fields.count) }
                var key: Int64 = 0
                if direct {
                    let f = fields[keyCols[0]]
                    guard let k = CellText.parseInt(base + f.innerStart, f.innerEnd - f.innerStart) else {
                        throw csv.dataError(at: offset, column: keyCols[0], "'\(CSVScanner.string(base, f))' is not an integer join key")
                    }
                    key = k
                } else {
                    var parts: [String] = []
                    for (j, c) in keyCols.enumerated() {
                        let f = fields[c]
                        guard f.innerEnd > f.innerStart,
                            let text = KeySpace.canonical(base + f.innerStart, f.innerEnd - f.innerStart, type: keyTypes[j])
                        else {
                            throw csv.dataError(at: offset, column: c, "'\(CSVScanner.string(base, f))' is not a valid \(keyTypes[j].rawValue) join key")
                        }
                        parts.append(f.quoted ? CSVScanner.string(base, f) : text)
                    }
                    state.keyTexts.append(parts.joined(separator: KeySpace.separator))
                }
                let t = fields[tsCol]
                guard let ts = Timestamp.parse(base + t.innerStart, t.innerEnd - t.innerStart) else {
                    throw csv.dataError(at: offset, column: tsCol, "'\(CSVScanner.string(base, t))' is not a timestamp (write ISO-8601 such as 2024-01-01T00:00:00Z, or epoch seconds)")
                }
                var cts = Int64.min
                if let ctsCol {
                    let c = fields[ctsCol]
                    if c.innerEnd > c.innerStart {
                        guard let parsed = Timestamp.parse(base + c.innerStart, c.innerEnd - c.innerStart) else {
                            throw csv.dataError(at: offset, column: ctsCol, "'\(CSVScanner.string(base, c))' is not a timestamp")
                        }
                        cts = parsed
                    }
                }
                for check in checks {
                    let f = fields[check.column]
                    if !CellText.validate(base + f.innerStart, f.innerEnd - f.innerStart, as: check.type) {
                        throw csv.dataError(at: offset, column: check.column, "'\(CSVScanner.string(base, f))' is not a \(check.type.rawValue)")
                    }
                }
                state.rows.append(PointInTimeJoin.FeatureRow(key: key, ts: ts, cts: cts, id: offset))
            }
        }
        let buckets: PointInTimeJoin.Buckets
        if direct {
            buckets = PointInTimeJoin.Buckets(writers: chunks.map(\.rows))
        } else {
            let read = chunks[0].rows.rows(inBucket: 0)
            let writer = PointInTimeJoin.BucketWriter(bits: PointInTimeJoin.bucketBits(forRows: read.count), expectedRows: read.count)
            for (row, text) in zip(read, chunks[0].keyTexts) {
                var row = row
                row.key = space.intern(text)
                writer.append(row)
            }
            buckets = PointInTimeJoin.Buckets(writers: [writer])
        }
        return SourceRows(view: view, keySpace: space, buckets: buckets, storage: .csv(csv, columns: featureCols))
    }

    private static func loadTable(view: FeatureView, path: String, table: String, space: KeySpace) throws -> SourceRows {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FeatureStoreError.fileUnreadable(path: path, reason: "no such file")
        }
        var config = Configuration()
        config.readonly = true
        let queue: DatabaseQueue
        do {
            queue = try DatabaseQueue(path: path, configuration: config)
        } catch {
            throw FeatureStoreError.fileUnreadable(path: path, reason: "\(error)")
        }
        let where_ = "\(path) table \(table)"
        var keys: [Int64] = []
        var ts: [Int64] = []
        var cts: [Int64] = []
        var values: [[FeatureValue]] = []
        do {
            try queue.read { db in
                guard try db.tableExists(table) else {
                    throw FeatureStoreError.fileUnreadable(path: path, reason: "no table '\(table)'")
                }
                let available = try db.columns(in: table).map(\.name)
                let needed = space.joinKeys + [view.source.timestampField] + (view.source.createdTimestampField.map { [$0] } ?? [])
                    + view.features.map(\.name)
                for column in needed where !available.contains(column) {
                    throw FeatureStoreError.missingColumn(file: where_, column: column, available: available)
                }
                let sql = "SELECT rowid, " + needed.map { $0.quotedDatabaseIdentifier }.joined(separator: ", ")
                    + " FROM " + table.quotedDatabaseIdentifier
                let cursor = try Row.fetchCursor(db, sql: sql)
                let nk = space.joinKeys.count
                let hasCreated = view.source.createdTimestampField != nil
                while let row = try cursor.next() {
                    let rowid: Int64 = row[0]
                    func fail(_ column: String, _ message: String) -> FeatureStoreError {
                        .badData(file: where_, line: Int(rowid), column: column, message: message + " (line = rowid)")
                    }
                    var parts: [String] = []
                    for j in 0..<nk {
                        let dbv: DatabaseValue = row[1 + j]
                        guard let text = SourceRows.keyText(dbv, type: space.types[j]) else {
                            throw fail(space.joinKeys[j], "\(dbv) is not a valid \(space.types[j].rawValue) join key")
                        }
                        parts.append(text)
                    }
                    if space.isDirect {
                        keys.append(Int64(parts[0])!)
                    } else {
                        keys.append(space.intern(parts.joined(separator: KeySpace.separator)))
                    }
                    let tsValue: DatabaseValue = row[1 + nk]
                    guard let t = SourceRows.timestamp(tsValue) else {
                        throw fail(view.source.timestampField, "\(tsValue) is not a timestamp")
                    }
                    ts.append(t)
                    var next = 2 + nk
                    if hasCreated {
                        let c: DatabaseValue = row[next]
                        if c.isNull {
                            cts.append(Int64.min)
                        } else {
                            guard let ct = SourceRows.timestamp(c) else {
                                throw fail(view.source.createdTimestampField!, "\(c) is not a timestamp")
                            }
                            cts.append(ct)
                        }
                        next += 1
                    } else {
                        cts.append(Int64.min)
                    }
                    var vals: [FeatureValue] = []
                    vals.reserveCapacity(view.features.count)
                    for (j, feature) in view.features.enumerated() {
                        let dbv: DatabaseValue = row[next + j]
                        guard let v = SourceRows.featureValue(dbv, type: feature.type) else {
                            throw fail(feature.name, "\(dbv) is not a \(feature.type.rawValue)")
                        }
                        vals.append(v)
                    }
                    values.append(vals)
                }
            }
        } catch let error as FeatureStoreError {
            throw error
        } catch {
            throw FeatureStoreError.fileUnreadable(path: path, reason: "\(error)")
        }
        return SourceRows(
            view: view, keySpace: space, buckets: PointInTimeJoin.Buckets(keys: keys, ts: ts, cts: cts), storage: .table(values))
    }

    static func keyText(_ v: DatabaseValue, type: ValueType) -> String? {
        switch v.storage {
        case .int64(let i): return String(i)
        case .double(let d): return type.isInteger ? (d.rounded() == d ? String(Int64(d)) : nil) : String(d)
        case .string(let s):
            if type.isInteger { return FeatureValue.parse(s, as: .int64).flatMap { if case .int(let i) = $0 { String(i) } else { nil } } }
            return s
        case .null, .blob: return nil
        }
    }

    static func timestamp(_ v: DatabaseValue) -> Int64? {
        switch v.storage {
        case .int64(let i): return i * Timestamp.microsPerSecond
        case .double(let d): return Int64((d * 1e6).rounded())
        case .string(let s): return Timestamp.parse(s)
        case .null, .blob: return nil
        }
    }

    static func featureValue(_ v: DatabaseValue, type: ValueType) -> FeatureValue? {
        switch v.storage {
        case .null: return .null
        case .int64(let i):
            switch type {
            case .int64, .int32, .unixTimestamp: return .int(i)
            case .float64, .float32: return .double(Double(i))
            case .bool: return .bool(i != 0)
            case .string: return .string(String(i))
            }
        case .double(let d):
            switch type {
            case .float64: return d.isNaN ? .null : .double(d)
            case .float32: return d.isNaN ? .null : .double(Double(Float(d)))
            case .int64, .int32: return d.rounded() == d ? .int(Int64(d)) : nil
            case .string: return .string(String(d))
            default: return nil
            }
        case .string(let s): return FeatureValue.parse(s, as: type)
        case .blob: return nil
        }
    }

    /// The feature values of the row with id `id`, in the order of `view.features`.
    func values(ofRow id: Int) -> [FeatureValue] {
        switch storage {
        case .table(let rows):
            return rows[id]
        case .csv(let csv, let columns):
            var fields: [CSVField] = []
            _ = csv.record(at: id, into: &fields, limit: fieldLimit)
            return zip(columns, view.features).map { c, feature in
                let f = fields[c]
                if f.quoted && feature.type == .string { return .string(CSVScanner.string(csv.file.base, f)) }
                return FeatureValue.parse(csv.file.base + f.innerStart, f.innerEnd - f.innerStart, as: feature.type) ?? .null
            }
        }
    }
}

/// Rows appended without the uniqueness check an array makes on every append (a tenth of a
/// large source's load), into memory it is given or allocates. Copies share the rows; memory it
/// allocated is freed with the last copy.
struct RowBuffer<Row: BitwiseCopyable> {
    private final class Memory {
        var base: UnsafeMutablePointer<Row>
        var owned: Bool
        init(base: UnsafeMutablePointer<Row>, owned: Bool) {
            self.base = base
            self.owned = owned
        }
        deinit { if owned { base.deallocate() } }
    }

    private let memory: Memory
    private var base: UnsafeMutablePointer<Row>
    private var capacity: Int
    private(set) var count = 0

    init(reserving capacity: Int) {
        self.capacity = max(16, capacity)
        memory = Memory(base: .allocate(capacity: self.capacity), owned: true)
        base = memory.base
    }

    /// Rows kept in `base[0..<capacity]` until they outgrow it; the caller keeps that memory
    /// for as long as the buffer and its copies live.
    init(in base: UnsafeMutablePointer<Row>, capacity: Int) {
        self.capacity = capacity
        memory = Memory(base: base, owned: false)
        self.base = base
    }

    @inline(__always)
    mutating func append(_ row: Row) {
        if count == capacity { grow() }
        (base + count).initialize(to: row)
        count += 1
    }

    @inline(never)
    private mutating func grow() {
        let bigger = UnsafeMutablePointer<Row>.allocate(capacity: max(16, capacity * 2))
        bigger.moveInitialize(from: base, count: count)
        if memory.owned { memory.base.deallocate() }
        memory.base = bigger
        memory.owned = true
        base = bigger
        capacity = max(16, capacity * 2)
    }

    var rows: UnsafeBufferPointer<Row> { UnsafeBufferPointer(start: base, count: count) }
}

/// The parts one after the other, copied into place on all cores (the copies of a large source
/// are tens of megabytes; one thread copying them, growing the array as it goes, was a fifth of
/// a retrieval's time).
func concatenate<T>(_ parts: [[T]]) -> [T] {
    if parts.count == 1 { return parts[0] }
    var offsets = [0]
    for part in parts { offsets.append(offsets.last! + part.count) }
    let starts = offsets
    return [T](unsafeUninitializedCapacity: starts.last!) { buffer, count in
        let out = UnsafeSendable(buffer)
        let input = UnsafeSendable(parts)
        let work: @Sendable (Int) -> Void = { k in
            input.value[k].withUnsafeBufferPointer { part in
                guard let base = part.baseAddress else { return }
                (out.value.baseAddress! + starts[k]).initialize(from: base, count: part.count)
            }
        }
        if starts.last! < 1 << 16 {
            for k in parts.indices { work(k) }
        } else {
            DispatchQueue.concurrentPerform(iterations: parts.count, execute: work)
        }
        count = starts.last!
    }
}
