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
        let chunks = try entities.scanChunks(columns: Int.max, makeState: { EntityChunk(keys: Array(repeating: [], count: spaces.count)) }) {
            state, offset, fields in
            guard fields.count >= limit else { throw entities.shortRecord(at: offset, fields: fields.count) }
            let t = fields[tsCol]
            guard let ts = Timestamp.parse(base + t.innerStart, t.innerEnd - t.innerStart) else {
                throw entities.dataError(
                    at: offset, column: tsCol,
                    "'\(CSVFile.string(base, t))' is not a timestamp (write ISO-8601 such as 2024-01-01T00:00:00Z, or epoch seconds)")
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
                        throw entities.dataError(at: offset, column: cols[0], "'\(CSVFile.string(base, f))' is not an integer join key")
                    }
                } else {
                    var parts: [String] = []
                    var missing = false
                    for (j, c) in cols.enumerated() {
                        let f = fields[c]
                        guard f.innerEnd > f.innerStart,
                            let text = KeySpace.canonical(base + f.innerStart, f.innerEnd - f.innerStart, type: space.types[j])
                        else { missing = true; break }
                        parts.append(f.quoted ? CSVFile.string(base, f) : text)
                    }
                    state.keys[v].append(missing ? KeySpace.noMatch : space.lookup(parts.joined(separator: KeySpace.separator)))
                }
            }
        }
        var offsets: [Int] = []
        var ends: [Int] = []
        var times: [Int64] = []
        var keys = [[Int64]](repeating: [], count: sources.count)
        for c in chunks {
            offsets += c.offsets
            ends += c.ends
            times += c.ts
            for v in 0..<sources.count { keys[v] += c.keys[v] }
        }

        var winners: [[Int32]] = []
        var matched: [String: Int] = [:]
        for (v, src) in sources.enumerated() {
            progress?("joining \(src.view.name)", Double(v) / Double(sources.count))
            let w = PointInTimeJoin.winners(
                featureKeys: src.keys, featureTimes: src.eventTimes, createdTimes: src.createdTimes,
                entityKeys: keys[v], entityTimes: times, ttlMicros: src.view.ttlSeconds * Timestamp.microsPerSecond)
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
        switch request.format {
        case .csv:
            writer.append(base + headerStart, headerEnd - headerStart)
            for name in outputNames {
                writer.byte(0x2C)
                writer.string(FeatureValue.string(name).csvText)
            }
            writer.byte(0x0A)
        case .jsonl:
            break
        }
        let keyNames = entities.header.map(JSONText.quote)
        let featureKeyNames = outputNames.map(JSONText.quote)
        var cells = [[CellRef]](repeating: [], count: sources.count)
        var entityFields: [CSVField] = []
        let n = offsets.count
        let step = max(1, n / 100)
        for row in 0..<n {
            if row % step == 0 { progress?("writing", Double(row) / Double(n)) }
            for v in 0..<sources.count {
                cells[v] = cellRefs(sources[v], winner: Int(winners[v][row]), slots: featureIndex[v])
            }
            switch request.format {
            case .csv:
                writer.append(base + offsets[row], ends[row] - offsets[row])
                for (v, slot) in outputOrder {
                    writer.byte(0x2C)
                    writeCSV(cells[v][slot], writer)
                }
                writer.byte(0x0A)
            case .jsonl:
                _ = CSVFile.scanRecord(base, entities.file.count, from: offsets[row], into: &entityFields, limit: Int.max)
                writer.byte(0x7B)
                for (i, f) in entityFields.enumerated() where i < keyNames.count {
                    if i > 0 { writer.byte(0x2C) }
                    writer.string(keyNames[i])
                    writer.byte(0x3A)
                    let p = base + f.innerStart
                    let len = f.innerEnd - f.innerStart
                    if len == 0 {
                        writer.string("null")
                    } else if !f.quoted, JSONText.isNumber(p, len) {
                        writer.append(p, len)
                    } else {
                        writer.string(JSONText.quote(CSVFile.string(base, f)))
                    }
                }
                for (k, (v, slot)) in outputOrder.enumerated() {
                    writer.byte(0x2C)
                    writer.string(featureKeyNames[k])
                    writer.byte(0x3A)
                    writeJSON(cells[v][slot], writer)
                }
                writer.string("}\n")
            }
        }
        try writer.close()
        progress?("done", 1)
        return HistoricalSummary(entityRows: n, featureRows: sources.reduce(0) { $0 + $1.count }, matched: matched, columns: columns)
    }

    /// A feature cell to write: raw CSV bytes of the winning row, a typed value, or null.
    enum CellRef {
        case null
        case raw(UnsafePointer<UInt8>, Int, quoted: Bool, type: ValueType)
        case value(FeatureValue)
    }

    private static func cellRefs(_ src: SourceRows, winner: Int, slots: [Int]) -> [CellRef] {
        guard winner >= 0 else { return Array(repeating: .null, count: slots.count) }
        switch src.storage {
        case .table(let rows):
            return slots.map { .value(rows[winner][$0]) }
        case .csv(let csv, let offsets, let columns):
            var fields: [CSVField] = []
            let limit = slots.map { columns[$0] }.max()! + 1
            _ = CSVFile.scanRecord(csv.file.base, csv.file.count, from: offsets[winner], into: &fields, limit: limit)
            return slots.map { s in
                let f = fields[columns[s]]
                return .raw(csv.file.base + f.start, f.end - f.start, quoted: f.quoted, type: src.view.features[s].type)
            }
        }
    }

    private static func writeCSV(_ cell: CellRef, _ w: OutputFile) {
        switch cell {
        case .null: break
        case .raw(let p, let n, _, _): w.append(p, n)
        case .value(let v): w.string(v.csvText)
        }
    }

    private static func writeJSON(_ cell: CellRef, _ w: OutputFile) {
        switch cell {
        case .null:
            w.string("null")
        case .value(let v):
            w.string(v.jsonText)
        case .raw(let p, let n, let quoted, let type):
            let inner = quoted ? p + 1 : p
            let len = quoted ? n - 2 : n
            if len <= 0 {
                w.string("null")
            } else if (type.isInteger || type == .float64 || type == .float32) && !quoted && JSONText.isNumber(inner, len) {
                w.append(inner, len)
            } else if type == .string && quoted {
                let f = CSVField(start: 0, end: n, quoted: true)
                w.string(JSONText.quote(CSVFile.string(p, f)))
            } else {
                w.string((FeatureValue.parse(inner, len, as: type) ?? .null).jsonText)
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
