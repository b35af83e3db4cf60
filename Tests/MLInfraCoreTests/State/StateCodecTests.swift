import Foundation
import MLInfraCore
import MLInfraCoreTesting
import Testing

@Suite struct StateCodecTests {
    static let testdata = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata")

    /// The names of the round-trip fixture pairs, `testdata/roundtrip/NAME.in.json → NAME.out.json`.
    static let roundTripCases: [String] = {
        let dir = testdata.appendingPathComponent("roundtrip").path
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return files.filter { $0.hasSuffix(".in.json") }.map { String($0.dropLast(".in.json".count)) }.sorted()
    }()

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func everyRoundTripInputHasItsExpectedOutput() {
        #expect(Self.roundTripCases.count >= 3)
        for name in Self.roundTripCases {
            let out = Self.testdata.appendingPathComponent("roundtrip/\(name).out.json").path
            #expect(FileManager.default.fileExists(atPath: out), "missing \(out)")
        }
    }

    /// Set MLINFRA_UPDATE_GOLDEN=1 to rewrite the `.out.json` files, then review the diff.
    @Test(arguments: roundTripCases)
    func roundTripFixtureDecodesToCanonicalOutput(_ name: String) throws {
        let dir = Self.testdata.appendingPathComponent("roundtrip")
        let input = [UInt8](try Data(contentsOf: dir.appendingPathComponent("\(name).in.json")))
        let outURL = dir.appendingPathComponent("\(name).out.json")
        let encoded = StateCodec.encode(try StateCodec.decode(input, path: "\(name).in.json"))
        if ProcessInfo.processInfo.environment["MLINFRA_UPDATE_GOLDEN"] == "1" {
            try Data(encoded).write(to: outURL)
        }
        let expected = [UInt8](try Data(contentsOf: outURL))
        #expect(String(decoding: encoded, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        let again = StateCodec.encode(try StateCodec.decode(expected, path: "\(name).out.json"))
        #expect(again == expected, "the canonical output is not a fixed point")
    }

    @Test func reEncodingIsByteIdentical() throws {
        let state = StateStoreConformance.sampleState()
        let first = StateCodec.encode(state)
        let decoded = try StateCodec.decode(first, path: "state.json")
        #expect(decoded == state)
        #expect(StateCodec.encode(decoded) == first)
    }

    @Test func outputIsSortedIndentedAndEndsWithNewline() {
        var s = StateFile(serial: 4, lineage: "L", mlinfraVersion: "0.1.0")
        s.upsert(ResourceInstanceState(address: "model.b", type: "model", id: "b", inputs: ["z": 1, "a": [], "m": [:]]))
        s.upsert(ResourceInstanceState(address: "model.a", type: "model", id: "a", status: .tainted, dependencies: ["registry.main"]))
        s.outputs["url"] = OutputState(value: "http://127.0.0.1", sensitive: false)
        let expected = """
            {
              "format": "mlinfra-state",
              "lineage": "L",
              "mlinfra_version": "0.1.0",
              "outputs": {
                "url": {
                  "sensitive": false,
                  "value": "http://127.0.0.1"
                }
              },
              "resources": [
                {
                  "address": "model.a",
                  "attributes": {},
                  "dependencies": [
                    "registry.main"
                  ],
                  "id": "a",
                  "inputs": {},
                  "provider": "local",
                  "schema_version": 0,
                  "sensitive_paths": [],
                  "status": "tainted",
                  "type": "model"
                },
                {
                  "address": "model.b",
                  "attributes": {},
                  "dependencies": [],
                  "id": "b",
                  "inputs": {
                    "a": [],
                    "m": {},
                    "z": 1
                  },
                  "provider": "local",
                  "schema_version": 0,
                  "sensitive_paths": [],
                  "status": "ready",
                  "type": "model"
                }
              ],
              "serial": 4,
              "version": 1
            }

            """
        #expect(String(decoding: StateCodec.encode(s), as: UTF8.self) == expected)
    }

    @Test func everyValueKindSurvivesTheRoundTrip() throws {
        let values: [String: Value] = [
            "int": 42, "negative": -7, "max": .int(Int.max), "min": .int(Int.min), "whole_double": 3.0,
            "fraction": 0.1, "tiny": 1e-300, "huge": 1.5e300, "negative_zero": -0.0, "true": true, "false": false,
            "null": nil, "unknown": .unknown, "empty_list": [], "empty_map": [:],
            "nested": ["a": [1, ["b": "c"]], "d": [[]]],
            "text": "quote \" backslash \\ slash / tab \t newline \n nul \u{0} bell \u{7} é 日本 🚀 \u{2028}",
        ]
        var s = StateFile.new()
        s.upsert(ResourceInstanceState(address: "x.y", type: "x", id: "y", inputs: values, attributes: values))
        s.outputs["all"] = OutputState(value: .map(values), sensitive: true)
        let decoded = try StateCodec.decode(StateCodec.encode(s), path: "s.json")
        #expect(decoded == s)
        #expect(decoded.resource("x.y")?.inputs["whole_double"] == .number(3.0), "3.0 must stay a number, not become an int")
        #expect(decoded.resource("x.y")?.inputs["int"] == .int(42))
    }

    /// Strings of every length around the 8-byte steps of the reader and writer, with the
    /// characters that need escaping or care at every position.
    @Test func stringsWithSpecialCharactersAtAnyPositionRoundTrip() throws {
        let pieces = ["a", "Z", "\"", "\\", "\n", "\u{1}", "\u{1f}", "/", "é", "日", "🚀", " ", "\u{7f}", "\t"]
        var generator = SystemRandomNumberGenerator()
        var s = StateFile.new()
        var expected: [String: Value] = [:]
        for n in 0..<400 {
            let length = n % 40
            let text = (0..<length).map { _ in pieces.randomElement(using: &generator)! }.joined()
            expected["k\(n)\(text)"] = .string(text)
        }
        s.upsert(ResourceInstanceState(address: "x.y", type: "x", id: "y", attributes: expected))
        let decoded = try StateCodec.decode(StateCodec.encode(s), path: "s.json")
        #expect(decoded.resource("x.y")?.attributes == expected)
    }

    @Test func nonFiniteNumbersAreWrittenAsNull() throws {
        var s = StateFile.new()
        s.outputs["nan"] = OutputState(value: .number(.nan))
        s.outputs["inf"] = OutputState(value: .number(.infinity))
        let decoded = try StateCodec.decode(StateCodec.encode(s), path: "s.json")
        #expect(decoded.outputs["nan"]?.value == .null)
        #expect(decoded.outputs["inf"]?.value == .null)
    }

    @Test func integersBeyondIntReadAsNumbers() throws {
        let text = #"{"format":"mlinfra-state","version":1,"serial":0,"lineage":"l","outputs":{"big":{"value":18446744073709551616,"sensitive":false}},"resources":[]}"#
        let s = try StateCodec.decode(Self.bytes(text), path: "s.json")
        #expect(s.outputs["big"]?.value == .number(18446744073709551616))
    }

    struct Refusal: Sendable, CustomStringConvertible {
        var name: String
        var bytes: [UInt8]
        var code: StateError.Code
        var mentions: [String]
        var description: String { name }
    }

    static let header = #"{"format":"mlinfra-state","version":1,"serial":0,"lineage":"l","resources":["#

    static let refusals: [Refusal] = [
        Refusal(name: "empty file", bytes: [], code: .unreadable, mentions: ["empty", "s.json.backup"]),
        Refusal(name: "binary garbage", bytes: [0x89, 0x50, 0x4E, 0x47, 0x00, 0xFF], code: .unreadable, mentions: ["s.json:1:1", "byte 0x89"]),
        Refusal(name: "tabs and text", bytes: bytes("\t\tnot json"), code: .unreadable, mentions: ["s.json:1:3"]),
        Refusal(
            name: "truncated", bytes: Array(StateCodec.encode(StateStoreConformance.sampleState()).prefix(300)), code: .unreadable,
            mentions: ["truncated"]),
        Refusal(name: "top level list", bytes: bytes("[1, 2]"), code: .unreadable, mentions: ["must be an object, found a list"]),
        Refusal(
            name: "another format", bytes: bytes(#"{"format": "terraform", "version": 4}"#), code: .unreadable,
            mentions: ["not an mlinfra state file", "\"terraform\""]),
        Refusal(
            name: "newer version", bytes: bytes(#"{"format": "mlinfra-state", "version": 2, "serial": 3, "lineage": "l"}"#),
            code: .newerVersion, mentions: ["format version 2", "reads versions up to 1", "left unchanged"]),
        Refusal(name: "version zero", bytes: bytes(#"{"format": "mlinfra-state", "version": 0}"#), code: .unreadable, mentions: ["version"]),
        Refusal(name: "no version", bytes: bytes(#"{"format": "mlinfra-state"}"#), code: .unreadable, mentions: ["\"version\" is missing"]),
        Refusal(
            name: "duplicate key", bytes: bytes("{\"format\": \"mlinfra-state\",\n  \"version\": 1,\n  \"version\": 1}"),
            code: .unreadable, mentions: ["s.json:3:3", "duplicate key \"version\""]),
        Refusal(
            name: "bad status", bytes: bytes(header + #"{"address":"a.b","type":"a","provider":"local","id":"b","status":"gone"}]}"#),
            code: .unreadable, mentions: ["resources[0].status", "\"gone\""]),
        Refusal(
            name: "unknown field", bytes: bytes(header + #"{"address":"a.b","type":"a","provider":"local","id":"b","colour":"red"}]}"#),
            code: .unreadable, mentions: ["resources[0].colour", "not a field"]),
        Refusal(
            name: "missing id", bytes: bytes(header + #"{"address":"a.b","type":"a","provider":"local"}]}"#),
            code: .unreadable, mentions: ["resources[0].id is missing"]),
        Refusal(
            name: "wrong type", bytes: bytes(header + #"{"address":"a.b","type":"a","provider":"local","id":7}]}"#),
            code: .unreadable, mentions: ["resources[0].id must be a string, found a number"]),
        Refusal(
            name: "duplicate address",
            bytes: bytes(header + #"{"address":"a.b","type":"a","provider":"local","id":"b"},{"address":"a.b","type":"a","provider":"local","id":"c"}]}"#),
            code: .unreadable, mentions: ["resources[1]", "appears twice"]),
        Refusal(name: "invalid UTF-8", bytes: bytes(#"{"format": ""#) + [0xC3, 0x28] + bytes(#""}"#), code: .unreadable, mentions: ["UTF-8"]),
        Refusal(name: "unescaped newline", bytes: bytes("{\"format\": \"a\nb\"}"), code: .unreadable, mentions: ["control character"]),
        Refusal(name: "lone surrogate", bytes: bytes(#"{"format": "\ud800"}"#), code: .unreadable, mentions: ["surrogate"]),
        Refusal(name: "leading zero", bytes: bytes(#"{"format": "mlinfra-state", "version": 01}"#), code: .unreadable, mentions: ["leading zeros"]),
        Refusal(name: "trailing comma", bytes: bytes(#"{"format": "mlinfra-state",}"#), code: .unreadable, mentions: ["expected a quoted key"]),
        Refusal(
            name: "trailing data", bytes: bytes(#"{"format":"mlinfra-state","version":1,"serial":0,"lineage":"l"} {}"#), code: .unreadable,
            mentions: ["after the end"]),
        Refusal(
            name: "deep nesting",
            bytes: bytes(header + #"{"address":"a.b","type":"a","provider":"local","id":"b","inputs":{"x":"#) + Array(repeating: UInt8(ascii: "["), count: 10_000),
            code: .unreadable, mentions: ["nesting deeper than 512"]),
        Refusal(name: "deep garbage", bytes: Array(repeating: UInt8(ascii: "["), count: 10_000), code: .unreadable, mentions: ["must be an object"]),
    ]

    @Test(arguments: refusals)
    func unreadableOrNewerFilesAreRefusedWithAClearError(_ r: Refusal) throws {
        do {
            _ = try StateCodec.decode(r.bytes, path: "s.json")
            Issue.record("\(r.name) was accepted")
        } catch let error as StateError {
            #expect(error.code == r.code, "\(error)")
            #expect(error.path == "s.json")
            for part in r.mentions {
                #expect(error.description.contains(part), "\(r.name): \"\(part)\" not in: \(error)")
            }
        }
    }

    /// Damaged files (bytes flipped, cut, duplicated) are read or refused with a `StateError`, never a crash.
    @Test func randomlyDamagedFilesAreReadOrRefusedNeverCrash() {
        let original = StateCodec.encode(StateStoreConformance.sampleState())
        var generator = SystemRandomNumberGenerator()
        let interesting: [UInt8] = Array("{}[]\",:0123456789-.eE tfn\\u\n".utf8) + [0x00, 0x80, 0xC3, 0xFF]
        var refused = 0
        for _ in 0..<3_000 {
            var bytes = original
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: bytes[at] = interesting.randomElement(using: &generator)!
                case 1: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...40, using: &generator)))
                case 2: bytes.insert(contentsOf: bytes[at..<min(bytes.count, at + 30)], at: at)
                default: bytes = Array(bytes.prefix(at))
                }
                if bytes.isEmpty { break }
            }
            do {
                _ = try StateCodec.decode(bytes, path: "s.json")
            } catch is StateError {
                refused += 1
            } catch {
                Issue.record("a damaged file gave \(type(of: error)), not a StateError: \(error)")
            }
        }
        #expect(refused > 2_000)
    }

    @Test func syntaxErrorsNameLineColumnAndTheBackup() throws {
        let text = "{\n  \"format\": \"mlinfra-state\",\n  \"version\" 1\n}\n"
        let error = #expect(throws: StateError.self) { try StateCodec.decode(Self.bytes(text), path: "state/prod.json") }
        #expect(error?.line == 3)
        #expect(error?.column == 13)
        #expect(error?.description.contains("state/prod.json:3:13") == true)
        #expect(error?.description.contains("cp state/prod.json.backup state/prod.json") == true)
    }

    @Test func stateFileKeepsResourcesByAddressAndSorted() {
        var s = StateFile.new()
        for name in ["c", "a", "b"] { s.upsert(StateStoreConformance.sampleResource("model.\(name)")) }
        #expect(s.resources.map(\.address) == ["model.a", "model.b", "model.c"])
        let copy = s
        s.remove("model.b")
        s.upsert(StateStoreConformance.sampleResource("model.0"))
        #expect(s.resources.map(\.address) == ["model.0", "model.a", "model.c"])
        #expect(copy.resources.map(\.address) == ["model.a", "model.b", "model.c"], "a copy saw another copy's change")
        #expect(s.resource("model.a")?.id == "a")
        #expect(s.resource("model.b") == nil)
        var replaced = StateStoreConformance.sampleResource("model.a")
        replaced.status = .tainted
        s.upsert(replaced)
        #expect(s.resource("model.a")?.status == .tainted)
        #expect(s.count == 3)
    }

    @Test func newStatesHaveFreshLineagesAndSerialZero() {
        let a = StateFile.new()
        let b = StateFile.new()
        #expect(a.serial == 0)
        #expect(a.lineage != b.lineage)
        #expect(UUID(uuidString: a.lineage) != nil)
        #expect(a.mlinfraVersion == MLInfraVersion.current)
    }

    @Test func largeStateRoundTrips() throws {
        var s = StateFile.new()
        for i in 0..<2_000 {
            s.upsert(
                ResourceInstanceState(
                    address: "model_version.m\(i)", type: "model_version", id: "m\(i)/3",
                    inputs: ["model": .string("m\(i)"), "source": .string("s3://b/m\(i)")],
                    attributes: ["version": 3, "size": .number(Double(i) * 1.5)], dependencies: ["model.m\(i)"]))
        }
        let bytes = StateCodec.encode(s)
        #expect(try StateCodec.decode(bytes, path: "big.json") == s)
    }
}
