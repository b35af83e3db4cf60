import Dispatch
import EngineCSV
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file mapped read-only into memory.
///
/// `@unchecked Sendable`: the mapping is read-only and lives until `deinit`, so
/// any number of threads may read `base[0..<count]` at once.
final class MappedFile: @unchecked Sendable {
    let path: String
    let base: UnsafePointer<UInt8>
    let count: Int
    private let mapped: Bool

    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw FeatureStoreError.fileUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FeatureStoreError.fileUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FeatureStoreError.fileUnreadable(path: path, reason: "not a regular file")
        }
        count = Int(st.st_size)
        if count == 0 {
            base = UnsafePointer(UnsafeMutablePointer<UInt8>.allocate(capacity: 1))
            mapped = false
            return
        }
        let p = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw FeatureStoreError.fileUnreadable(path: path, reason: String(cString: strerror(errno)))
        }
        madvise(p, count, MADV_SEQUENTIAL)
        base = UnsafePointer(p.assumingMemoryBound(to: UInt8.self))
        mapped = true
    }

    deinit {
        if mapped {
            munmap(UnsafeMutableRawPointer(mutating: base), count)
        } else {
            UnsafeMutablePointer(mutating: base).deallocate()
        }
    }

    /// The 1-based line number of a byte offset.
    func lineNumber(at offset: Int) -> Int { CSVScanner.lineNumber(base, count, at: offset) }
}

/// A CSV file (RFC 4180: comma separated, `"` quoting with `""` escapes, LF or CRLF line ends)
/// read from a memory mapping, field by field (`CSVScanner`), without building strings for the cells.
public final class CSVFile: @unchecked Sendable {
    // @unchecked Sendable: all stored properties are immutable after init; MappedFile is read-only.
    let file: MappedFile
    let header: [String]
    let dataStart: Int
    /// True when some byte is a `"`; then records may span lines and the file is scanned on one thread.
    let hasQuotes: Bool

    var path: String { file.path }

    /// The column names of the CSV file at `path`, read from its header line only.
    public static func header(path: String) throws -> [String] {
        let file = try MappedFile(path: path)
        return try header(file, path: path).names
    }

    private static func header(_ file: MappedFile, path: String) throws -> (names: [String], next: Int) {
        var fields: [CSVField] = []
        let next = CSVScanner.scanRecord(file.base, file.count, from: 0, into: &fields, limit: Int.max)
        guard next > 0, !fields.isEmpty else {
            throw FeatureStoreError.badData(file: path, line: 1, column: "-", message: "the file is empty; a header line is required")
        }
        var names: [String] = []
        for (i, f) in fields.enumerated() {
            var name = CSVScanner.string(file.base, f)
            if i == 0, name.hasPrefix("\u{FEFF}") { name.removeFirst() }
            names.append(name.trimmingCharacters(in: .whitespaces))
        }
        return (names, next)
    }

    init(path: String) throws {
        file = try MappedFile(path: path)
        hasQuotes = CSVFile.contains(0x22, file)
        (header, dataStart) = try CSVFile.header(file, path: path)
    }

    /// Whether `byte` occurs in the file; a large file is searched in slices on all cores (the
    /// first reads of a mapping fault its pages in, which one thread would do alone).
    private static func contains(_ byte: Int32, _ file: MappedFile) -> Bool {
        let slices = file.count < 1 << 23 ? 1 : 4 * ProcessInfo.processInfo.activeProcessorCount
        if slices == 1 { return file.count > 0 && memchr(file.base, byte, file.count) != nil }
        var found = [Bool](repeating: false, count: slices)
        found.withUnsafeMutableBufferPointer { found in
            let found = UnsafeSendable(found)
            DispatchQueue.concurrentPerform(iterations: slices) { k in
                let start = file.count * k / slices
                let end = file.count * (k + 1) / slices
                found.value[k] = memchr(file.base + start, byte, end - start) != nil
            }
        }
        return found.contains(true)
    }

    func columnIndex(_ name: String) throws -> Int {
        guard let i = header.firstIndex(of: name) else {
            throw FeatureStoreError.missingColumn(file: path, column: name, available: header)
        }
        return i
    }

    /// Scans the record at `offset` (up to `end`, the file's end by default) with the scanner the
    /// file allows: the word-at-a-time one when it has no quotes.
    @inline(__always)
    func record(at offset: Int, end: Int? = nil, into fields: inout [CSVField], limit: Int) -> Int {
        hasQuotes
            ? CSVScanner.scanRecord(file.base, end ?? file.count, from: offset, into: &fields, limit: limit)
            : CSVScanner.scanPlainRecord(file.base, end ?? file.count, from: offset, into: &fields, limit: limit)
    }

    /// The average length of the first (up to 256) data lines, in bytes; 0 when there are none.
    func sampleRecordLength() -> Int {
        var p = dataStart
        var lines = 0
        while lines < 256, p < file.count, let nl = memchr(file.base + p, 0x0A, file.count - p) {
            p = UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) - file.base + 1
            lines += 1
        }
        return lines == 0 ? 0 : (p - dataStart) / lines
    }

    /// About how many data records the file holds, from the length of its first lines.
    func estimatedRecords() -> Int {
        (file.count - dataStart) / max(1, sampleRecordLength())
    }

    /// The offset just past the last line feed in `start..<end`, or `start` when there is none.
    private func endOfLastLine(from start: Int, to end: Int) -> Int {
        var p = end
        while p > start {
            if file.base[p - 1] == 0x0A { return p }
            p -= 1
        }
        return start
    }

    /// The offsets where each of `parts` chunks of the data region starts, on record boundaries.
    private func chunkStarts(_ parts: Int) -> [Int] {
        let n = file.count - dataStart
        guard !hasQuotes, parts > 1, n > 1 << 20 else { return [dataStart] }
        var starts = [dataStart]
        for k in 1..<parts {
            var p = dataStart + n * k / parts
            guard p > starts.last! else { continue }
            guard let nl = memchr(file.base + p, 0x0A, file.count - p) else { break }
            p = UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) - file.base + 1
            if p < file.count, p > starts.last! { starts.append(p) }
        }
        return starts
    }

    /// Scans every data record, in chunks on several threads when the file allows it (`chunks`:
    /// one per core by default; more leave a slow or preempted thread less to finish alone).
    ///
    /// Each chunk's state is made by `makeState` on the thread that scans the chunk (so that
    /// memory it sets up is faulted in on all cores), from the number of records the chunk is
    /// likely to hold. `body` gets the chunk's state, the record's start offset and its fields
    /// (at most `columns` of them); records of zero length are skipped. States come back in
    /// file order.
    ///
    /// `fast`, for files without quotes, reads records of a shape it knows straight from the
    /// bytes: given the state, an offset and a limit, it takes records starting before the
    /// limit (each ends with a line feed before it) until one it does not read the way `body`
    /// would, and returns where it stopped; that record then goes through `body`.
    @inline(__always)
    func scanChunks<State>(
        columns: Int, chunks: Int = ProcessInfo.processInfo.activeProcessorCount,
        makeState: (_ expectedRecords: Int) -> State,
        fast: (inout State, _ offset: Int, _ limit: Int) throws -> Int = { _, offset, _ in offset },
        _ body: (inout State, Int, UnsafeBufferPointer<CSVField>) throws -> Void
    ) throws -> [State] {
        let starts = chunkStarts(max(1, chunks))
        // Records each chunk is likely to hold, from the length of the first lines, so that states
        // can reserve their arrays once instead of growing (and remapping) them.
        let lineLength = max(1, sampleRecordLength())
        var states = [State?](repeating: nil, count: starts.count)
        var errors = [Error?](repeating: nil, count: starts.count)
        let count = file.count
        try withoutActuallyEscaping(makeState) { makeState in
            try withoutActuallyEscaping(fast) { fast in
                try withoutActuallyEscaping(body) { body in
                    try states.withUnsafeMutableBufferPointer { statesBuf in
                        try errors.withUnsafeMutableBufferPointer { errorsBuf in
                            let sb = UnsafeSendable(statesBuf)
                            let eb = UnsafeSendable(errorsBuf)
                            let make = UnsafeSendable(makeState)
                            let quick = UnsafeSendable(fast)
                            let work = UnsafeSendable(body)
                            let run: @Sendable (Int) -> Void = { k in
                                let end = k + 1 < starts.count ? starts[k + 1] : count
                                var state = make.value((end - starts[k]) / lineLength * 9 / 8 + 16)
                                var fields: [CSVField] = []
                                fields.reserveCapacity(min(columns, 256))
                                var offset = starts[k]
                                // Records starting before `complete` end with a line feed inside the chunk.
                                let complete = self.hasQuotes ? starts[k] : self.endOfLastLine(from: starts[k], to: end)
                                do {
                                    while offset < end {
                                        if offset < complete {
                                            offset = try quick.value(&state, offset, complete)
                                            if offset >= end { break }
                                        }
                                        let next = self.record(at: offset, end: end, into: &fields, limit: columns)
                                        if !(fields.count == 1 && fields[0].end == fields[0].start) {
                                            try fields.withUnsafeBufferPointer { try work.value(&state, offset, $0) }
                                        }
                                        offset = next
                                    }
                                    sb.value[k] = state
                                } catch {
                                    eb.value[k] = error
                                }
                            }
                            if starts.count == 1 {
                                run(0)
                            } else {
                                DispatchQueue.concurrentPerform(iterations: starts.count, execute: run)
                            }
                            if let first = eb.value.compactMap({ $0 }).first { throw first }
                        }
                    }
                }
            }
        }
        return states.map { $0! }
    }

    /// An error about one cell, with its line number.
    func dataError(at offset: Int, column: Int, _ message: String) -> FeatureStoreError {
        .badData(file: path, line: file.lineNumber(at: offset), column: column < header.count ? header[column] : "#\(column + 1)", message: message)
    }

    /// The error for a record with too few fields.
    func shortRecord(at offset: Int, fields: Int) -> FeatureStoreError {
        .badData(
            file: path, line: file.lineNumber(at: offset), column: header.count > fields ? header[fields] : "-",
            message: "the line has \(fields) fields, the header has \(header.count)")
    }
}

/// Carries a value across a `concurrentPerform` boundary.
///
/// `@unchecked Sendable`: used only where each thread touches a disjoint part of the
/// wrapped buffer (one slot per chunk) and the owner waits for every thread to finish.
struct UnsafeSendable<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// Byte-level checks and parses of cell text.
enum CellText {
    @inline(__always)
    static func parseInt(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int64? {
        guard n > 0 else { return nil }
        var i = 0
        var neg = false
        if p[0] == 0x2D || p[0] == 0x2B { neg = p[0] == 0x2D; i = 1 }
        guard i < n else { return nil }
        var v: Int64 = 0
        while i < n {
            let c = p[i]
            if c == 0x2E {
                // `12.0` is an integer written by a tool that went through floats.
                var j = i + 1
                while j < n, p[j] == 0x30 { j += 1 }
                guard j == n, j > i + 1 else { return nil }
                break
            }
            guard c >= 0x30, c <= 0x39 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c &- 0x30))
            guard !o1, !o2 else { return nil }
            v = a
            i += 1
        }
        return neg ? -v : v
    }

    /// A decimal or scientific number, or `nan` / `inf` in the usual spellings.
    @inline(__always)
    static func isNumber(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        // The common spelling, `-?digits(.digits)?`, in one pass; anything else takes the full check.
        var i = 0
        if n > 0, p[0] == 0x2D { i = 1 }
        let integral = i
        while i < n, p[i] &- 0x30 < 10 { i += 1 }
        if i > integral {
            if i == n { return true }
            if p[i] == 0x2E {
                i += 1
                let fraction = i
                while i < n, p[i] &- 0x30 < 10 { i += 1 }
                if i == n, i > fraction { return true }
            }
        }
        return isNumberInFull(p, n)
    }

    static func isNumberInFull(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        guard n > 0 else { return false }
        var i = 0
        if p[0] == 0x2D || p[0] == 0x2B { i = 1 }
        var digits = 0
        var dot = false
        var exp = false
        while i < n {
            let c = p[i]
            if c >= 0x30 && c <= 0x39 {
                digits += 1
            } else if c == 0x2E, !dot, !exp {
                dot = true
            } else if (c == 0x65 || c == 0x45), digits > 0, !exp {
                exp = true
                digits = 0
                if i + 1 < n, p[i + 1] == 0x2D || p[i + 1] == 0x2B { i += 1 }
            } else {
                return isSpecial(p, n)
            }
            i += 1
        }
        return digits > 0
    }

    static func isSpecial(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let s = String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self).lowercased()
        return ["nan", "inf", "-inf", "+inf", "infinity", "-infinity"].contains(s)
    }

    /// The cell's number, read by the engines' shared parser (correctly rounded, as `strtod`);
    /// which spellings are numbers is this engine's rule (`isNumber`).
    static func parseDouble(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
        guard isNumber(p, n) else { return nil }
        switch FastFloat.parse(p, n) {
        case .number(let v): return v
        case .notANumber: return .nan
        // Not reached: every spelling `isNumber` accepts is a number or `nan` to `FastFloat`.
        case .empty, .invalid: return nil
        }
    }

    static func parseBool(_ p: UnsafePointer<UInt8>, _ n: Int) -> Bool? {
        switch String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self).lowercased() {
        case "true", "1", "t", "yes": true
        case "false", "0", "f", "no": false
        default: nil
        }
    }

    /// Whether the cell is valid text for a value of `type` (an empty cell is a null and always valid).
    @inline(__always)
    static func validate(_ p: UnsafePointer<UInt8>, _ n: Int, as type: ValueType) -> Bool {
        if n == 0 { return true }
        switch type {
        case .int64, .int32: return parseInt(p, n) != nil
        case .float64, .float32: return isNumber(p, n)
        case .string: return true
        case .bool: return parseBool(p, n) != nil
        case .unixTimestamp: return Timestamp.parse(p, n) != nil
        }
    }
}
