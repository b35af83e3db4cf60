import EngineCSV
import Foundation
import Testing

@testable import FeatureStore

/// The fast paths of the CSV reader give exactly what the general code gives: the word-at-a-time
/// record scanner, the one-pass number check and the one-pass `…Z` timestamp reader.
@Suite struct CSVScanTests {
    static func withBytes<T>(_ text: String, _ body: (UnsafePointer<UInt8>, Int) -> T) -> T {
        let bytes = Array(text.utf8) + [0]
        return bytes.withUnsafeBufferPointer { body($0.baseAddress!, bytes.count - 1) }
    }

    @Test func plainRecordScannerMatchesTheGeneralOne() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("ab1,,\n\r,x\n-.".utf8)
        for round in 0..<3_000 {
            let length = Int.random(in: 0..<40, using: &rng)
            let text = (0..<length).map { _ in alphabet.randomElement(using: &rng)! }
            let limit = [1, 2, 3, Int.max].randomElement(using: &rng)!
            text.withUnsafeBufferPointer { buf in
                let base = buf.baseAddress ?? UnsafePointer(bitPattern: 1)!
                var a: [CSVField] = []
                var b: [CSVField] = []
                var offset = 0
                while offset < text.count {
                    let next = CSVScanner.scanRecord(base, text.count, from: offset, into: &a, limit: limit)
                    let plain = CSVScanner.scanPlainRecord(base, text.count, from: offset, into: &b, limit: limit)
                    #expect(next == plain, "round \(round) at \(offset): \(String(decoding: text, as: UTF8.self).debugDescription)")
                    #expect(a.map { [$0.start, $0.end] } == b.map { [$0.start, $0.end] }, "round \(round) at \(offset)")
                    guard next == plain, next > offset else { return }
                    offset = next
                }
            }
        }
    }

    @Test func numberFastPathAgreesWithTheFullCheck() {
        let cases = [
            "0", "12", "-3", "1.5", "-0.25", "65.69062489258073", "1.", ".5", "-", "-.", "1e5", "1.5E-3", "+2", "1.2.3", "12a",
            "nan", "-inf", "Infinity", "--1", "1-", "", " 1", "1 ",
        ]
        for text in cases {
            Self.withBytes(text) { p, n in
                #expect(CellText.isNumber(p, n) == CellText.isNumberInFull(p, n), "\(text.debugDescription)")
            }
        }
    }

    @Test func utcTimestampFastPathAgreesWithTheFullParser() {
        var rng = SystemRandomNumberGenerator()
        var texts = [
            "2024-01-19T08:18:28Z", "2024-02-29T23:59:60Z", "2023-02-29T00:00:00Z", "2024-13-01T00:00:00Z", "2024-00-10T00:00:00Z",
            "2024-01-32T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:61Z", "2024-01-01t00:00:00Z",
            "2024-01-01T00:00:00z", "2024-01-01 00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2024-0a-01T00:00:00Z",
            "1969-12-31T23:59:59Z", "2024-04-31T00:00:00Z", "2024-04-30T00:00:00Z", "2100-02-29T00:00:00Z", "2000-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z", "1899-12-31T00:00:00Z", "2199-12-31T00:00:00Z", "2199-12-32T00:00:00Z", "2200-01-01T00:00:00Z",
        ]
        for _ in 0..<2_000 {
            texts.append(Timestamp.format(Int64.random(in: -62_000_000_000...250_000_000_000, using: &rng) * Timestamp.microsPerSecond))
        }
        // One byte of a valid time replaced, anywhere, by a digit, a separator or a neighbour of the digits.
        let bytes: [UInt8] = Array("0123456789-:TZ /;\u{0}".utf8)
        for _ in 0..<4_000 {
            var text = Array(Timestamp.format(Int64.random(in: 0...4_000_000_000, using: &rng) * Timestamp.microsPerSecond).utf8)
            text[Int.random(in: 0..<text.count, using: &rng)] = bytes.randomElement(using: &rng)!
            texts.append(String(decoding: text, as: UTF8.self))
        }
        for text in texts where text.utf8.count == 20 {
            Self.withBytes(text) { p, n in
                let fast = Timestamp.parseUTCSeconds(p)
                // The general reader, skipping the fast path: the same text with a trailing space trimmed.
                let full = Self.withBytes(text + " ") { q, m in Timestamp.parse(q, m) }
                if let fast { #expect(fast == full, "\(text)") }
                #expect(Timestamp.parse(p, n) == full, "\(text)")
            }
        }
    }
}
