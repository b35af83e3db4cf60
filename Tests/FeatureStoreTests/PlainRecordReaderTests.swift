import Foundation
import MLInfraTesting
import Testing

@testable import FeatureStore

/// The one-pass reader of common records against the general reader, on files mixing common
/// cells with every other spelling either accepts or rejects: both must load the same rows, or
/// fail with the same error.
@Suite struct PlainRecordReaderTests {
    static let columns = ["customer_id", "note", "event_timestamp", "created_timestamp", "total_spend", "txn_count", "flag", "label", "extra"]

    /// Orders of the columns in the file (`extra`, which is never read, stays last), so that
    /// each kind of cell is the last one read on a line in one of them.
    static let layouts: [[Int]] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8],  // a string last
        [0, 1, 4, 5, 6, 7, 3, 2, 8],  // the event time last
        [1, 0, 2, 3, 5, 6, 7, 4, 8],  // a decimal last
        [1, 0, 2, 3, 4, 6, 7, 5, 8],  // an integer last
        [1, 2, 3, 4, 5, 6, 7, 0, 8],  // the key last
    ]

    /// Cells per column: common spellings (most rows), other spellings, and spellings that may
    /// be invalid (the test does not say which: it only compares the readers).
    static let cells: [(common: [String], unusual: [String], invalid: [String])] = [
        (["123", "-5", "007", "42"], ["+12", "12.0", "12.000", "1234567890123456789"], ["", "abc", "1.5", "99999999999999999999", "1e3", "-", "12x"]),
        (["zzz", "", "a b"], ["ü", "x;y"], []),
        (["2024-01-19T08:18:28Z", "2023-12-31T23:59:59Z", "2024-02-29T00:00:00Z"],
         ["1705652308", "2024-01-19 08:18:28", "2024-01-19T08:18:28.123Z", "2024-01-19"],
         ["", "2024-02-30T00:00:00Z", "yesterday", "2023-02-29T00:00:00Z", "2024-01-19T08:18:28Z1", "2024-01-19T08:18:28"]),
        (["2024-01-19T09:02:19Z", ""], ["1705652308", "2024-01-19T09:02:19.5Z"], ["x", "2024-13-01T00:00:00Z", "2024-01-19T09:02:19Zz"]),
        (["64.27623", "-0.5", "5", "", "65.69062489258073"], ["1e5", "1.5E-3", "nan", "+2", "-inf", "1.", ".5"], ["abc", "1.2.3", "-.", "5-", "1.5x"]),
        (["5", "-3", "", "123456789012345678"], ["+4", "7.0", "1234567890123456789"], ["1.5", "x", "99999999999999999999", "5-"]),
        (["true", "false", ""], ["1", "0", "T", "yes", "No"], ["maybe", "2"]),
        (["hello", "", "with space"], ["ü", "tab\there"], []),
        (["tail", ""], ["more"], []),
    ]

    /// Every (column, spelling) pair of the invalid lists, in order.
    static let invalidCells: [(column: Int, text: String)] = cells.enumerated().flatMap { column, options in
        options.invalid.map { (column, $0) }
    }

    /// `rows` records with columns in the order `layout`; `invalid` puts one cell (or, with
    /// column -1, a line of four fields) at row `at`.
    static func file(rows: Int, layout: [Int], invalid: (at: Int, column: Int, text: String)?, seed: UInt64) -> String {
        var rng = SplitMix64(seed: seed)
        var text = layout.map { columns[$0] }.joined(separator: ",") + "\n"
        for r in 0..<rows {
            if Int.random(in: 0..<100, using: &rng) == 0 { text += Bool.random(using: &rng) ? "\n" : "\r\n" }
            var row: [String] = []
            for options in cells {
                let roll = Int.random(in: 0..<10, using: &rng)
                row.append(roll < 8 ? options.common.randomElement(using: &rng)! : options.unusual.randomElement(using: &rng)!)
            }
            // Now and then without the last column (the line then ends with a needed one) or with
            // one more field; both valid.
            switch Int.random(in: 0..<20, using: &rng) {
            case 0: row.removeLast()
            case 1: row.append("x")
            default: break
            }
            if let invalid, invalid.at == r, invalid.column >= 0 { row[invalid.column] = invalid.text }
            var line = layout.prefix(row.count).map { row[$0] }
            if let invalid, invalid.at == r, invalid.column < 0 { line = Array(line.prefix(4)) }
            text += line.joined(separator: ",")
            if r < rows - 1 || Bool.random(using: &rng) { text += Int.random(in: 0..<20, using: &rng) == 0 ? "\r\n" : "\n" }
        }
        return text
    }

    struct Loaded: Equatable, CustomStringConvertible {
        var rows: [[Int64]] = []
        var error: String?
        var description: String { error ?? "\(rows.count) rows" }
    }

    static func load(_ path: String, generalReaderOnly: Bool) -> Loaded {
        var defs = Definitions()
        defs.entities["customer"] = Entity(name: "customer", joinKeys: ["customer_id"])
        let view = FeatureView(
            name: "v", entities: ["customer"], source: .csv(path, timestamp: "event_timestamp", createdTimestamp: "created_timestamp"),
            features: [
                Feature(name: "total_spend", type: .float64), Feature(name: "txn_count", type: .int64), Feature(name: "flag", type: .bool),
                Feature(name: "label", type: .string),
            ])
        defs.views["v"] = view
        do {
            let source = try SourceRows.load(view: view, definitions: defs, generalReaderOnly: generalReaderOnly)
            var loaded = Loaded()
            source.buckets.forEach { loaded.rows.append([$0.key, $0.ts, $0.cts, Int64($0.id)]) }
            loaded.rows.sort { $0[3] < $1[3] }
            return loaded
        } catch {
            return Loaded(error: "\(error)")
        }
    }

    /// 16,000 rows: over a megabyte, so the file is read in chunks on several threads.
    @Test(arguments: [1, 2, 3, 4, 5])
    func bothReadersLoadTheSameRows(seed: UInt64) throws {
        let dir = TempDir()
        let path = dir.write("f.csv", Self.file(rows: 16_000, layout: Self.layouts[Int(seed) % Self.layouts.count], invalid: nil, seed: seed))
        let general = Self.load(path, generalReaderOnly: true)
        let plain = Self.load(path, generalReaderOnly: false)
        #expect(general.error == nil)
        #expect(general.rows.count == 16_000)
        #expect(plain.rows.count == general.rows.count)
        #expect(plain == general, "first difference: \(zip(plain.rows, general.rows).first { $0 != $1 }.map { "\($0)" } ?? "-")")
    }

    /// One questionable cell per file (each of the lists in turn, on a row picked by the seed),
    /// or a short line; in every layout.
    @Test(arguments: -1..<invalidCells.count, layouts.indices)
    func bothReadersReportTheSameError(index: Int, layout: Int) throws {
        let dir = TempDir()
        let seed = UInt64(index + 100 + layout * 1_000)
        var rng = SplitMix64(seed: seed)
        let cell = index < 0 ? (column: -1, text: "") : Self.invalidCells[index]
        let at = Int.random(in: 0..<3_000, using: &rng)
        let path = dir.write("f.csv", Self.file(rows: 3_000, layout: Self.layouts[layout], invalid: (at, cell.column, cell.text), seed: seed))
        let general = Self.load(path, generalReaderOnly: true)
        let plain = Self.load(path, generalReaderOnly: false)
        #expect(plain == general, "\(cell)")
    }
}
