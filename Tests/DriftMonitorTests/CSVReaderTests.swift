import Foundation
import Testing

@testable import DriftMonitor

@Suite struct CSVReaderTests {
    @Test func parsesNumbersExactlyLikeStrtod() throws {
        var rng = SystemRandomNumberGenerator()
        var lines = ["x"]
        var expected = [Double]()
        for i in 0..<20000 {
            let v: Double
            switch i % 5 {
            case 0: v = Double.random(in: -1...1, using: &rng)
            case 1: v = Double.random(in: -1e6...1e6, using: &rng)
            case 2: v = Double.random(in: 0...1e-7, using: &rng)
            case 3: v = Double(Int.random(in: -1000...1000, using: &rng))
            default: v = Double.random(in: 1e15...1e22, using: &rng)
            }
            lines.append("\(v)")
            expected.append(v)
        }
        lines += ["1e5", "-2.5E-3", "+7", "0.1000000000000000055511151231257827", "123456789012345678901234", "5e-324", "1.7976931348623157e308"]
        expected += [1e5, -2.5e-3, 7, 0.1, 123456789012345678901234.0, .leastNonzeroMagnitude, 1.7976931348623157e308]
        let table = try CSVReader.parse(text: lines.joined(separator: "\n") + "\n")
        guard case .numerical(let got) = table.columns["x"] else { Issue.record("not numerical"); return }
        #expect(got.count == expected.count)
        #expect(got == expected)
    }

    @Test func quotedFieldsCategoriesAndCRLF() throws {
        let table = try CSVReader.parse(text: "id,city,amount\r\n1,\"Paris, FR\",2.5\r\n2,\"Say \"\"hi\"\"\",3\r\n3,Rome,4\r\n")
        #expect(table.rowCount == 3)
        guard case .categorical(let cities) = table.columns["city"], case .numerical(let amounts) = table.columns["amount"] else {
            Issue.record("wrong kinds"); return
        }
        #expect(cities == ["Paris, FR", "Say \"hi\"", "Rome"])
        #expect(amounts == [2.5, 3, 4])
    }

    @Test func aColumnWithAWordLaterBecomesCategorical() throws {
        let table = try CSVReader.parse(text: "a,b\n1,2\n3,x\n")
        guard case .categorical(let b) = table.columns["b"] else { Issue.record("b should be categorical"); return }
        #expect(b == ["2", "x"])
    }

    @Test func malformedRowsAreRefusedWithTheRow() {
        do {
            _ = try CSVReader.parse(text: "a,b\n1,2\n3\n", source: "cur.csv")
            Issue.record("expected an error")
        } catch {
            let text = String(describing: error)
            #expect(text.contains("cur.csv:3"), "\(text)")
            #expect(text.contains("expected 2 fields, found 1"))
        }
        #expect(throws: DriftError.self) { try CSVReader.parse(text: "a,b\n1,2\n3,inf\n") }
        #expect(throws: DriftError.self) { try CSVReader.parse(text: "a,b\n1,2\n", columns: ["c"]) }
    }

    @Test func radixSortSortsLikeSort() {
        var values = (0..<50000).map { _ in Double.random(in: -1e9...1e9) } + [0, -0.0, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNormalMagnitude / 4, -.leastNormalMagnitude / 4]
        let expected = values.sorted()
        RadixSort.sort(&values)
        #expect(values == expected)
    }
}

@Suite struct NaNRefusalTests {
    @Test func profilesAndChecksRefuseNaNGivenThroughTheAPI() throws {
        #expect(throws: DriftError.self) {
            try ReferenceProfile.build(from: DataTable(columns: ["x": .numerical([1, .nan, 3])], rowCount: 3), source: "ref", sha256: "")
        }
        let profile = try ReferenceProfile.build(from: DataTable(columns: ["x": .numerical([1, 2, 3])], rowCount: 3), source: "ref", sha256: "")
        #expect(throws: DriftError.self) {
            try DriftEvaluator.evaluate(monitor: "m", profile: profile, current: DataTable(columns: ["x": .numerical([1, .nan])], rowCount: 2),
                                        currentSource: "cur", checks: [])
        }
    }
}
