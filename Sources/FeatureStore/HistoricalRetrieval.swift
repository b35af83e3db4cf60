import EngineCSV
import MLInfraJSON
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Output formats of historical retrieval.
public enum HistoricalFormat: String, Sendable, CaseIterable {
    case csv
    case jsonl
}

/// A request for training data: an entity file and the features to join onto it.
public struct HistoricalRequest: Sendable {
    public var entitiesPath: String
    public var features: [FeatureReference]
    public var fullFeatureNames: Bool
    /// The entity file's event-time column.
    public var timestampColumn: String
    public var outputPath: String
    public var format: HistoricalFormat

    public init(
        entitiesPath: String, features: [FeatureReference], fullFeatureNames: Bool = false,
        timestampColumn: String = "event_timestamp", outputPath: String, format: HistoricalFormat = .csv
    ) {
        self.entitiesPath = entitiesPath
        self.features = features
        self.fullFeatureNames = fullFeatureNames
        self.timestampColumn = timestampColumn
        self.outputPath = outputPath
        self.format = format
    }
}

/// What a historical retrieval did.
public struct HistoricalSummary: Sendable, Equatable {
    public var entityRows: Int
    public var featureRows: Int
    /// Entity rows per view that found a feature row.
    public var matched: [String: Int]
    public var columns: [String]
}

/// Receives progress of long operations: a phase name and the fraction done (0...1).
public typealias ProgressHandler = @Sendable (_ phase: String, _ fraction: Double) -> Void

/// Point-in-time-correct historical retrieval over the views' sources.
enum HistoricalRetrieval {
    private struct EntityChunk {
        var offsets: [Int] = []
        var ends: [Int] = []
        var ts: [Int64] = []
        var keys: [[Int64]]

        init(reserving count: Int, views: Int) {
            offsets.reserveCapacity(count)
            ends.reserveCapacity(count)
            ts.reserveCapacity(count)
            keys = (0..<views).map { _ in
                var column: [Int64] = []
                column.reserveCapacity(count)
                return column
            }
        }
    }

    static func run(_ request: HistoricalRequest, definitions: Definitions, progress: ProgressHandler?) throws -> HistoricalSummary {
        // Group the requested features by view, keeping the request's order.
        var viewOrder: [String] = []
        var byView: [String: [FeatureReference]] = [:]
        for ref in request.features {
            if byView[ref.view] == nil { viewOrder.append(ref.view) }
            byView[ref.view, default: []].append(ref)
        }
        let views = try viewOrder.map { try definitions.view(named: $0) }

        progress?("reading entities", 0)
        let entities = try CSVFile(path: request.entitiesPath)
        let tsCol = try entities.columnIndex(request.timestampColumn)
        let outputNames = request.features.map { $0.columnName(full: request.fullFeatureNames) }
        var seen = Set(entities.header)
        for name in outputNames where !seen.insert(name).inserted {
            throw FeatureStoreError.badRequest(
                field: "features",
                message: "the output would have two columns named '\(name)'; ask for full feature names (--full-feature-names) or rename the entity column")
        }

        // Load every view's source, one after the other (each load uses all cores).
        var sources: [SourceRows] = []
        for (i, view) in views.enumerated() {
            progress?("reading \(view.name)", Double(i) / Double(views.count))
            sources.append(try SourceRows.load(view: view, definitions: definitions))
        }

        // The entity file: offsets, event times and one key per view.
        let keyCols = try sources.map { src in try src.keySpace.joinKeys.map { try entities.columnIndex($0) } }
        let limit = max(tsCol, keyCols.flatMap { $0 }.max() ?? 0) + 1
        let base = entities.file.base
        let spaces = sources.map(\.keySpace)
        let chunks = try entities.scanChunks(columns: Int.max, makeState: { EntityChunk(reserving: $0, views: spaces.count) }) {
            state, offset, fields in
            guard fields.count >= limit else { throw entities.shortRecord(at: offset, fields: fields.count) }
            let t = fields[tsCol]
            guard let ts = Timestamp.parse(base + t.innerStart, t.innerEnd - t.innerStart) else {
                throw entities.dataError(
                    at: offset, column: tsCol,
                    "'\(CSVScanner.string(base, t))' is not a timestamp (write ISO-8601 such as 2024-01-01T00:00:00Z, or epoch seconds)")
            }
            state.ts.append(ts)
            state.offsets.append(offset)
            state.ends.append(fields[fields.count - 1].end)
            for (v, space) in spaces.enumerated() {
                let cols = keyCols[v]
                if space.isDirect {
                    let f = fields[cols[0]]
                    let n = f.innerEnd - f.innerStart
                    if n == 0 {
                        state.keys[v].append(KeySpace.noMatch)
                    } else if let k = CellText.parseInt(base + f.innerStart, n) {
                        state.keys[v].append(k)
                    } else {
                        throw entities.dataError(at: offset, column: cols[0], "'\(CSVScanner.string(base, f))' is not an integer join key")
                    }
                } else {
                    var parts: [String] = []
                    var missing = false
                    for (j, c) in cols.enumerated() {
                        let f = fields[c]
                        guard f.innerEnd > f.innerStart,
                            let text = KeySpace.canonical(base + f.innerStart, f.innerEnd - f.innerStart, type: space.types[j])
                        else { missing = true; break }
                        parts.append(f.quoted ? CSVScanner.string(base, f) : text)
                    }
                    state.keys[v].append(missing ? KeySpace.noMatch : space.lookup(parts.joined(separator: KeySpace.separator)))
                }
            }
        }
        let offsets = concatenate(chunks.map(\.offsets))
        let ends = concatenate(chunks.map(\.ends))
        let times = concatenate(chunks.map(\.ts))
        let keys = (0..<sources.count).map { v in concatenate(chunks.map { $0.keys[v] }) }

        var winners: [[Int]] = []
        var matched: [String: Int] = [:]
        for (v, src) in sources.enumerated() {
            progress?("joining \(src.view.name)", Double(v) / Double(sources.count))
            let w = PointInTimeJoin.winners(
                features: src.buckets, entityKeys: keys[v], entityTimes: times, ttlMicros: src.view.ttlSeconds * Timestamp.microsPerSecond)
            matched[src.view.name] = w.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
            winners.append(w)
        }

        // Output: every entity row, in file order, with its cells unchanged.
        let featureIndex: [[Int]] = views.enumerated().map { v, view in
            byView[view.name]!.map { ref in view.features.firstIndex { $0.name == ref.feature }! }
        }
        let outputOrder: [(view: Int, slot: Int)] = request.features.map { ref in
            let v = viewOrder.firstIndex(of: ref.view)!
            return (v, byView[ref.view]!.firstIndex(of: ref)!)
        }
        let writer = try OutputFile(path: request.outputPath)
        var headerEnd = entities.dataStart
        while headerEnd > 0, base[headerEnd - 1] == 0x0A || base[headerEnd - 1] == 0x0D { headerEnd -= 1 }
        var headerStart = 0
        if entities.file.count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF { headerStart = 3 }
        let columns = entities.header + outputNames
        if request.format == .csv {
            writer.append(base + headerStart, headerEnd - headerStart)
            for name in outputNames {
                writer.byte(0x2C)
                writer.string(FeatureValue.string(name).csvText)
            }
            writer.byte(0x0A)
        }
        let rows = OutputRows(
            format: request.format, entities: entities, offsets: offsets, ends: ends, sources: sources, winners: winners,
            slots: featureIndex, order: outputOrder, keyNames: entities.header.map(JSONText.quote),
            featureNames: outputNames.map(JSONText.quote))
        // Rows are formatted in blocks on all cores, a few blocks at a time, and written in order:
        // memory stays a few blocks' worth of output whatever the row count.
        let n = offsets.count
        let wave = max(1, ProcessInfo.processInfo.activeProcessorCount) * 4
        // Blocks of at most 16,384 rows; smaller when that fills a whole wave, so no core waits.
        let block = max(1_024, min(16_384, (n + wave - 1) / wave))
        let blocks = (n + block - 1) / block
        var first = 0
        while first < blocks {
            progress?("writing", Double(first * block) / Double(max(1, n)))
            let count = min(wave, blocks - first)
            var buffers = [[UInt8]](repeating: [], count: count)
            buffers.withUnsafeMutableBufferPointer { out in
                let out = UnsafeSendable(out)
                let start = first
                DispatchQueue.concurrentPerform(iterations: count) { k in
                    let lo = (start + k) * block
                    rows.format(lo..<min(n, lo + block), into: &out.value[k])
                }
            }
            for buffer in buffers { buffer.withUnsafeBufferPointer { writer.append($0.baseAddress!, $0.count) } }
            first += count
        }
        try writer.close()
        progress?("done", 1)
        return HistoricalSummary(entityRows: n, featureRows: sources.reduce(0) { $0 + $1.count }, matched: matched, columns: columns)
    }

    /// Formats output rows: the entity record as it is, then the winning feature cells.
    /// Read-only once built, so blocks of rows are formatted on several threads at once.
    private struct OutputRows: @unchecked Sendable {
        // @unchecked Sendable: every property is immutable and the mapped files are read-only.
        let format: HistoricalFormat
        let entities: CSVFile
        let offsets: [Int]
        let ends: [Int]
        let sources: [SourceRows]
        let winners: [[Int]]
        /// Per view, the positions (in the view's features) of the requested features.
        let slots: [[Int]]
        /// The output columns in request order: which view, which of its requested features.
        let order: [(view: Int, slot: Int)]
        /// JSON-quoted names of the entity columns and of the output feature columns.
        let keyNames: [String]
        let featureNames: [String]

        func format(_ range: Range<Int>, into out: inout [UInt8]) {
            let base = entities.file.base
            out.reserveCapacity((ends[range.upperBound - 1] - offsets[range.lowerBound]) * 2 + range.count * 16 * order.count)
            var cells = [[CellRef]](repeating: [], count: sources.count)
            for v in 0..<sources.count { cells[v] = Array(repeating: .null, count: slots[v].count) }
            var fields: [CSVField] = []
            var entityFields: [CSVField] = []
            for row in range {
                for v in 0..<sources.count {
                    HistoricalRetrieval.cellRefs(sources[v], winner: winners[v][row], slots: slots[v], fields: &fields, into: &cells[v])
                }
                switch format {
                case .csv:
                    out.append(contentsOf: UnsafeBufferPointer(start: base + offsets[row], count: ends[row] - offsets[row]))
                    for (v, slot) in order {
                        out.append(0x2C)
                        HistoricalRetrieval.writeCSV(cells[v][slot], &out)
                    }
                    out.append(0x0A)
                case .jsonl:
                    _ = entities.record(at: offsets[row], into: &entityFields, limit: Int.max)
                    out.append(0x7B)
                    for (i, f) in entityFields.enumerated() where i < keyNames.count {
                        if i > 0 { out.append(0x2C) }
                        out.append(contentsOf: keyNames[i].utf8)
                        out.append(0x3A)
                        let p = base + f.innerStart
                        let len = f.innerEnd - f.innerStart
                        if len == 0 {
                            out.append(static: "null")
                        } else if !f.quoted, JSONValue.isNumber(p, len) {
                            out.append(contentsOf: UnsafeBufferPointer(start: p, count: len))
                        } else {
                            JSONText.quote(CSVScanner.string(base, f), into: &out)
                        }
                    }
                    for (k, (v, slot)) in order.enumerated() {
                        out.append(0x2C)
                        out.append(contentsOf: featureNames[k].utf8)
                        out.append(0x3A)
                        HistoricalRetrieval.writeJSON(cells[v][slot], &out)
                    }
                    out.append(static: "}\n")
                }
            }
        }
    }

    /// A feature cell to write: raw CSV bytes of the winning row, a typed value, or null.
    enum CellRef {
        case null
        case raw(UnsafePointer<UInt8>, Int, quoted: Bool, type: ValueType)
        case value(FeatureValue)
    }

    /// The cells of the requested features (`slots`) in the winning row, into `cells` (one per slot).
    @inline(__always)
    fileprivate static func cellRefs(_ src: SourceRows, winner: Int, slots: [Int], fields: inout [CSVField], into cells: inout [CellRef]) {
        guard winner >= 0 else {
            for i in cells.indices { cells[i] = .null }
            return
        }
        switch src.storage {
        case .table(let rows):
            for (i, s) in slots.enumerated() { cells[i] = .value(rows[winner][s]) }
        case .csv(let csv, let columns):
            _ = csv.record(at: winner, into: &fields, limit: src.fieldLimit)
            for (i, s) in slots.enumerated() {
                let f = fields[columns[s]]
                cells[i] = .raw(csv.file.base + f.start, f.end - f.start, quoted: f.quoted, type: src.view.features[s].type)
            }
        }
    }

    fileprivate static func writeCSV(_ cell: CellRef, _ out: inout [UInt8]) {
        switch cell {
        case .null: break
        case .raw(let p, let n, _, _): out.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        case .value(let v): out.append(contentsOf: v.csvText.utf8)
        }
    }

    fileprivate static func writeJSON(_ cell: CellRef, _ out: inout [UInt8]) {
        switch cell {
        case .null:
            out.append(static: "null")
        case .value(let v):
            v.writeJSON(into: &out)
        case .raw(let p, let n, let quoted, let type):
            let inner = quoted ? p + 1 : p
            let len = quoted ? n - 2 : n
            if len <= 0 {
                out.append(static: "null")
            } else if (type.isInteger || type == .float64 || type == .float32) && !quoted && JSONValue.isNumber(inner, len) {
                out.append(contentsOf: UnsafeBufferPointer(start: inner, count: len))
            } else if type == .string && quoted {
                let f = CSVField(start: 0, end: n, quoted: true)
                JSONText.quote(CSVScanner.string(p, f), into: &out)
            } else {
                (FeatureValue.parse(inner, len, as: type) ?? .null).writeJSON(into: &out)
            }
        }
    }
}

/// A buffered output file (created or truncated).
final class OutputFile {
    private let handle: UnsafeMutablePointer<FILE>
    private let path: String
    private var buffer: [UInt8] = []

    init(path: String) throws {
        guard let h = fopen(path, "wb") else {
            throw FeatureStoreError.fileUnreadable(path: path, reason: "cannot create: \(String(cString: strerror(errno)))")
        }
        handle = h
        self.path = path
        buffer.reserveCapacity(1 << 20)
    }

    @inline(__always) func byte(_ b: UInt8) {
        buffer.append(b)
    }

    @inline(__always) func append(_ p: UnsafePointer<UInt8>, _ n: Int) {
        if n >= 1 << 16 {
            flush()
            _ = fwrite(p, 1, n, handle)
            return
        }
        buffer.append(contentsOf: UnsafeBufferPointer(start: p, count: n))
        if buffer.count >= 1 << 20 { flush() }
    }

    @inline(__always) func string(_ s: String) {
        buffer.append(contentsOf: s.utf8)
    }

    private func flush() {
        buffer.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, handle) }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        flush()
        let failed = ferror(handle) != 0
        fclose(handle)
        if failed { throw FeatureStoreError.fileUnreadable(path: path, reason: "write failed (disk full?)") }
    }
}
