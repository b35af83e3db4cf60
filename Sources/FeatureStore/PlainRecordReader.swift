import EngineCSV

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a source's records of the common shape straight from the bytes of a file without
/// quotes: an integer join key, times written `YYYY-MM-DDTHH:MM:SSZ`, plain numbers, every
/// field ending at a comma or at the line feed.
///
/// It reads a record in one pass — each cell is checked while its end is found — where the
/// general reader first splits the record into fields and then reads them. It gives up on any
/// record it would not read exactly as the general reader does (another spelling of a time or
/// number, a short line, a bad cell); that record is then read, and any
/// error reported, by the general reader. `PlainRecordReaderTests` compares the two on many files.
struct PlainRecordReader {
    enum Role {
        case skip
        case key
        case eventTime
        case createdTime
        case feature(ValueType)
    }

    /// What to do with each field, up to the last one needed.
    let roles: [Role]

    /// A reader for these columns, or nil when one column has two roles (then every record
    /// goes through the general reader).
    init?(keyColumn: Int, eventTimeColumn: Int, createdTimeColumn: Int?, features: [(column: Int, type: ValueType)]) {
        let uses = [keyColumn, eventTimeColumn] + (createdTimeColumn.map { [$0] } ?? []) + features.map(\.column)
        guard Set(uses).count == uses.count else { return nil }
        var roles = [Role](repeating: .skip, count: uses.max()! + 1)
        roles[keyColumn] = .key
        roles[eventTimeColumn] = .eventTime
        if let createdTimeColumn { roles[createdTimeColumn] = .createdTime }
        for f in features { roles[f.column] = .feature(f.type) }
        self.roles = roles
    }

    @inline(__always)
    private static func isEnd(_ c: UInt8) -> Bool { c == 0x2C || c == 0x0A }

    @inline(__always)
    private static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }

    /// Where the field at `i` ends: the next comma or line feed, found eight bytes at a time.
    @inline(__always)
    private static func fieldEnd(_ base: UnsafePointer<UInt8>, _ i: Int, _ fileEnd: Int) -> Int {
        var i = i
        while i + 8 <= fileEnd {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            let hits = CSVScanner.delimiters(in: word)
            if hits != 0 { return i + hits.trailingZeroBitCount >> 3 }
            i += 8
        }
        while !isEnd(base[i]) { i += 1 }
        return i
    }

    /// `-?digits` at `i` with 1 to 18 digits (no overflow) and the field ending there: where it
    /// ends, and its value; else nil.
    @inline(__always)
    private static func plainInteger(_ base: UnsafePointer<UInt8>, _ i: Int) -> (end: Int, value: Int64)? {
        let negative = base[i] == 0x2D
        var j = negative ? i + 1 : i
        let digits = j
        var v: Int64 = 0
        while isDigit(base[j]) {
            v = v &* 10 &+ Int64(base[j] &- 0x30)
            j += 1
        }
        guard j > digits, j - digits <= 18, isEnd(base[j]) else { return nil }
        return (j, negative ? -v : v)
    }

    /// The end of `-?digits(.digits)?` at `i` when the field ends there; else nil.
    @inline(__always)
    private static func plainDecimal(_ base: UnsafePointer<UInt8>, _ i: Int) -> Int? {
        var j = base[i] == 0x2D ? i + 1 : i
        let digits = j
        while isDigit(base[j]) { j += 1 }
        guard j > digits else { return nil }
        if base[j] == 0x2E {
            j += 1
            let fraction = j
            while isDigit(base[j]) { j += 1 }
            guard j > fraction else { return nil }
        }
        return isEnd(base[j]) ? j : nil
    }

    /// A time at `i` written `YYYY-MM-DDTHH:MM:SSZ` and ending the field; else nil.
    @inline(__always)
    private static func utcTime(_ base: UnsafePointer<UInt8>, _ i: Int, _ fileEnd: Int) -> Int64? {
        guard i + 20 < fileEnd, isEnd(base[i + 20]) else { return nil }
        return Timestamp.parseUTCSeconds(base + i)
    }

    /// The row of the record starting at `offset` (which ends with a line feed before
    /// `fileEnd`), and where the next record starts; nil when the general reader has to read it.
    @inline(__always)
    func read(_ base: UnsafePointer<UInt8>, at offset: Int, fileEnd: Int) -> (row: PointInTimeJoin.FeatureRow, next: Int)? {
        var i = offset
        var key: Int64 = 0
        var ts: Int64 = 0
        var cts = Int64.min
        for (column, role) in roles.enumerated() {
            if column > 0 {
                guard base[i] == 0x2C else { return nil }  // the line ended early
                i += 1
            }
            switch role {
            case .skip:
                i = PlainRecordReader.fieldEnd(base, i, fileEnd)
            case .key:
                guard let integer = PlainRecordReader.plainInteger(base, i) else { return nil }
                key = integer.value
                i = integer.end
            case .eventTime:
                guard let t = PlainRecordReader.utcTime(base, i, fileEnd) else { return nil }
                ts = t
                i += 20
            case .createdTime:
                if !PlainRecordReader.isEnd(base[i]) {
                    guard let t = PlainRecordReader.utcTime(base, i, fileEnd) else { return nil }
                    cts = t
                    i += 20
                }
            case .feature(let type):
                if PlainRecordReader.isEnd(base[i]) { break }  // empty: a null
                let quick: Int?
                switch type {
                case .float64, .float32: quick = PlainRecordReader.plainDecimal(base, i)
                case .int64, .int32: quick = PlainRecordReader.plainInteger(base, i)?.end
                default: quick = nil
                }
                if let quick {
                    i = quick
                } else {
                    let end = PlainRecordReader.fieldEnd(base, i, fileEnd)
                    guard CellText.validate(base + i, end - i, as: type) else { return nil }
                    i = end
                }
            }
        }
        let row = PointInTimeJoin.FeatureRow(key: key, ts: ts, cts: cts, id: offset)
        if base[i] == 0x0A { return (row, i + 1) }
        guard let nl = memchr(base + i, 0x0A, fileEnd - i) else { return nil }
        return (row, UnsafePointer(nl.assumingMemoryBound(to: UInt8.self)) - base + 1)
    }
}
