import EngineCSV
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A column of current or reference data: numbers, or category labels.
public enum ColumnValues: Sendable {
    case numerical([Double])
    case categorical([String])

    public var count: Int {
        switch self {
        case .numerical(let v): v.count
        case .categorical(let v): v.count
        }
    }
}

/// A table of named columns, as read from a CSV file or a capture window.
///
/// A column holds only the values that are present; the rows where it is missing (an empty
/// field, `NaN`, a JSON `null` or an absent key) are counted in `missing`, so that
/// `columns[c].count + missing[c] == rowCount`.
public struct DataTable: Sendable {
    public var columns: [String: ColumnValues]
    public var rowCount: Int
    /// Rows without a value, per column (absent when none).
    public var missing: [String: Int]
    public init(columns: [String: ColumnValues], rowCount: Int, missing: [String: Int] = [:]) {
        self.columns = columns
        self.rowCount = rowCount
        self.missing = missing.filter { $0.value > 0 }
    }

    /// Rows of `column` without a value.
    public func missingCount(_ column: String) -> Int { missing[column] ?? 0 }
}

/// Reads CSV files fast: the file is read once into memory, split into one chunk per
/// core at line boundaries, and each chunk scanned over raw bytes (`CSVScanner`, RFC 4180
/// quoting) straight into per-column arrays. Numbers are parsed without allocation (`FastFloat`).
/// A column is numerical when every value parses as a number, categorical otherwise.
/// An empty unquoted field and `NaN` are missing values: counted per column, not stored.
public enum CSVReader {
    public static func read(path: String, columns wanted: Set<String>? = nil, threads: Int? = nil) throws -> DataTable {
        let bytes = try readAll(path: path)
        defer { bytes.deallocate() }
        return try parse(UnsafeBufferPointer(bytes), source: path, columns: wanted, threads: threads)
    }

    /// The column names of a CSV file, read from its first line only (so a plan can check a
    /// monitor's columns without reading the data).
    public static func header(path: String) throws -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw DriftError.io("cannot open CSV file \(path)", remedy: "check the path (relative paths are relative to the spec directory)")
        }
        defer { try? handle.close() }
        var head = (try? handle.read(upToCount: 1 << 20)) ?? Data()
        guard !head.isEmpty else {
            throw DriftError.badData("\(path) is empty", remedy: "write a header line with the column names, then one row per line")
        }
        if let newline = head.firstIndex(of: UInt8(ascii: "\n")) { head = head[head.startIndex...newline] }
        return head.withUnsafeBytes { raw in
            let base = raw.bindMemory(to: UInt8.self).baseAddress!
            var fields = [CSVField]()
            _ = CSVScanner.scanRecord(base, raw.count, from: 0, into: &fields, limit: Int.max)
            var header = fields.map { CSVScanner.string(base, $0) }
            if header.last == "" && header.count > 1 { header.removeLast() }
            return header
        }
    }

    static func readAll(path: String) throws -> UnsafeMutableBufferPointer<UInt8> {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw DriftError.io("cannot open CSV file \(path): \(String(cString: strerror(errno)))",
                                remedy: "check the path (relative paths are relative to the spec directory)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw DriftError.io("cannot stat \(path)", remedy: "check the file") }
        let size = Int(st.st_size)
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(size, 1))
        var done = 0
        while done < size {
            let n = Glibc.read(fd, buffer.baseAddress! + done, size - done)
            if n <= 0 {
                buffer.deallocate()
                throw DriftError.io("cannot read \(path)", remedy: "check the file")
            }
            done += n
        }
        return UnsafeMutableBufferPointer(rebasing: buffer[0..<size])
    }

    /// Parses CSV text held in memory.
    public static func parse(text: String, source: String = "<text>", columns wanted: Set<String>? = nil) throws -> DataTable {
        var copy = Array(text.utf8)
        return try copy.withUnsafeMutableBufferPointer { try parse(UnsafeBufferPointer($0), source: source, columns: wanted, threads: 1) }
    }

    static func parse(_ data: UnsafeBufferPointer<UInt8>, source: String, columns wanted: Set<String>?, threads: Int?) throws -> DataTable {
        guard let base = data.baseAddress, data.count > 0 else {
            throw DriftError.badData("\(source) is empty", remedy: "write a header line with the column names, then one row per line")
        }
        // Header.
        var pos = 0
        var header = [String]()
        var fields = [CSVField]()
        pos = CSVScanner.scanRecord(base, data.count, from: pos, into: &fields, limit: Int.max)
        for f in fields { header.append(CSVScanner.string(base, f)) }
        if header.last == "" && header.count > 1 { header.removeLast() }
        guard !header.isEmpty else { throw DriftError.badData("\(source) has no header", remedy: "the first line must name the columns") }
        if let dup = Dictionary(grouping: header, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw DriftError.badData("\(source): column \"\(dup)\" appears twice in the header", remedy: "rename one of them")
        }
        if let wanted {
            let missing = wanted.subtracting(header)
            if !missing.isEmpty {
                throw DriftError.badData("\(source) has no column \(missing.sorted().map { "\"\($0)\"" }.joined(separator: ", "))",
                                         remedy: "its columns are: \(header.joined(separator: ", "))")
            }
        }
        let selected = header.indices.filter { wanted?.contains(header[$0]) ?? true }
        // Types from the first data row: numerical unless a value is not a number.
        var numeric = [Bool](repeating: true, count: header.count)
        if pos < data.count {
            _ = CSVScanner.scanRecord(base, data.count, from: pos, into: &fields, limit: Int.max)
            for (k, f) in fields.enumerated() where k < header.count {
                if f.quoted { numeric[k] = false; continue }
                if case .invalid = FastFloat.parse(base + f.start, f.length) { numeric[k] = false }
            }
        }
        // Chunks at line starts (a quoted field spanning lines is found by the single-chunk retry).
        let body = data.count - pos
        let threadCount = max(1, min(threads ?? ProcessInfo.processInfo.activeProcessorCount, body / (1 << 20) + 1))
        var bounds = [pos]
        for t in 1..<threadCount {
            var p = pos + body * t / threadCount
            while p < data.count && base[p - 1] != UInt8(ascii: "\n") { p += 1 }
            bounds.append(max(p, bounds[bounds.count - 1]))
        }
        bounds.append(data.count)
        let hasQuotes = memchr(base + pos, Int32(UInt8(ascii: "\"")), body) != nil
        if hasQuotes { bounds = [pos, data.count] }
        let chunkCount = bounds.count - 1
        while true {
            let results = ChunkResults(count: chunkCount)
            let types = numeric, chunkBounds = bounds, names = header
            let shared = SharedBytes(pointer: base)
            DispatchQueue.concurrentPerform(iterations: chunkCount) { c in
                results.set(c, parseChunk(
                    shared.pointer, from: chunkBounds[c], to: chunkBounds[c + 1], header: names, selected: selected, numeric: types,
                    quotes: hasQuotes))
            }
            var retypes = Set<Int>()
            var firstError: DriftError?
            var firstRow = [Int]()
            var rows = 0
            for c in 0..<chunkCount {
                let r = results.get(c)
                firstRow.append(rows)
                rows += r.rows
                retypes.formUnion(r.notNumeric)
                if firstError == nil, let e = r.error {
                    // Row numbers are 1-based counting the header as row 1.
                    firstError = DriftError.badData("\(source):\(firstRow[c] + e.row + 2): \(e.message)", remedy: e.remedy)
                }
            }
            if !retypes.isEmpty {
                for k in retypes { numeric[k] = false }
                continue
            }
            if let firstError { throw firstError }
            var columns = [String: ColumnValues]()
            var missing = [String: Int]()
            for k in selected {
                missing[header[k]] = (0..<chunkCount).reduce(0) { $0 + (results.get($1).missing[k] ?? 0) }
                if numeric[k] {
                    var all = [Double]()
                    all.reserveCapacity(rows)
                    for c in 0..<chunkCount { all.append(contentsOf: results.get(c).numbers[k] ?? []) }
                    columns[header[k]] = .numerical(all)
                } else {
                    var all = [String]()
                    all.reserveCapacity(rows)
                    for c in 0..<chunkCount { all.append(contentsOf: results.get(c).strings[k] ?? []) }
                    columns[header[k]] = .categorical(all)
                }
            }
            return DataTable(columns: columns, rowCount: rows, missing: missing)
        }
    }

    /// The file's bytes, read by every chunk worker.
    struct SharedBytes: @unchecked Sendable {
        // Safe: the buffer is immutable while workers read it and outlives concurrentPerform.
        let pointer: UnsafePointer<UInt8>
    }

    struct ChunkError { var row: Int; var message: String; var remedy: String }
    struct Chunk {
        var rows = 0
        var numbers: [Int: [Double]] = [:]
        var strings: [Int: [String]] = [:]
        var missing: [Int: Int] = [:]
        var notNumeric = Set<Int>()
        var error: ChunkError?
    }

    /// Per-chunk results written by concurrent workers, each to its own slot.
    final class ChunkResults: @unchecked Sendable {
        // Safe: every worker writes only slot `c`, and reads happen after concurrentPerform returns.
        private var slots: [Chunk]
        init(count: Int) { slots = Array(repeating: Chunk(), count: count) }
        func set(_ i: Int, _ c: Chunk) { slots.withUnsafeMutableBufferPointer { $0[i] = c } }
        func get(_ i: Int) -> Chunk { slots[i] }
    }

    /// Parses the records in `start..<end`; `quotes` says whether the data holds a `"` (else the
    /// word-at-a-time scanner serves).
    static func parseChunk(
        _ base: UnsafePointer<UInt8>, from start: Int, to end: Int, header: [String], selected: [Int], numeric: [Bool], quotes: Bool
    ) -> Chunk {
        var chunk = Chunk()
        let estimate = (end - start) / max(8 * header.count, 1)
        var numberColumns = [[Double]](repeating: [], count: header.count)
        var stringColumns = [[String]](repeating: [], count: header.count)
        let isSelected = (0..<header.count).map { selected.contains($0) }
        for k in selected {
            if numeric[k] { numberColumns[k].reserveCapacity(estimate) } else { stringColumns[k].reserveCapacity(estimate) }
        }
        var fields = [CSVField]()
        fields.reserveCapacity(header.count + 1)
        var pos = start
        var row = 0
        while pos < end {
            let lineStart = pos
            pos = quotes
                ? CSVScanner.scanRecord(base, end, from: pos, into: &fields, limit: Int.max)
                : CSVScanner.scanPlainRecord(base, end, from: pos, into: &fields, limit: Int.max)
            // Blank lines are skipped.
            if fields.count == 1 && fields[0].length == 0 && !fields[0].quoted { continue }
            var count = fields.count
            if count == header.count + 1 && fields[count - 1].length == 0 { count -= 1 }
            if count != header.count {
                chunk.error = ChunkError(row: row, message: "expected \(header.count) fields, found \(count)",
                                         remedy: "every row needs one value per header column (line starts at byte \(lineStart))")
                return chunk
            }
            for k in selected where isSelected[k] {
                let f = fields[k]
                let s = f.start, len = f.length, quoted = f.quoted
                if numeric[k] {
                    if quoted {
                        chunk.notNumeric.insert(k)
                        continue
                    }
                    switch FastFloat.parse(base + s, len) {
                    case .number(let v):
                        if !v.isFinite {
                            chunk.error = ChunkError(row: row, message: "column \"\(header[k])\" holds an infinite value",
                                                     remedy: "drift statistics need finite numbers; drop or clip the row")
                            return chunk
                        }
                        numberColumns[k].append(v)
                    case .notANumber, .empty:
                        chunk.missing[k, default: 0] += 1
                    case .invalid:
                        chunk.notNumeric.insert(k)
                    }
                } else {
                    if len == 0 && !quoted {
                        chunk.missing[k, default: 0] += 1
                        continue
                    }
                    stringColumns[k].append(CSVScanner.string(base, f))
                }
            }
            if !chunk.notNumeric.isEmpty { return chunk }
            row += 1
        }
        chunk.rows = row
        for k in selected {
            if numeric[k] { chunk.numbers[k] = numberColumns[k] } else { chunk.strings[k] = stringColumns[k] }
        }
        return chunk
    }
}
