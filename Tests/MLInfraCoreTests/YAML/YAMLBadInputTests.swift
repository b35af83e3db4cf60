import Foundation
import MLInfraCore
import Testing

@Suite("YAML loader: bad input gives a located diagnostic, never a crash")
struct YAMLBadInputTests {
    @Test(arguments: ["", "\n\n", "# only a comment\n   # and another\n", "\u{FEFF}"])
    func fileWithoutDocumentHasNoRootAndNoDiagnostics(text: String) {
        let (root, diagnostics) = loadYAML(text)
        #expect(root == nil)
        #expect(diagnostics.isEmpty)
    }

    @Test func documentMarkerAloneIsANullRoot() {
        let (root, diagnostics) = loadYAML("---\n")
        #expect(diagnostics.isEmpty)
        #expect(root?.scalarValue == .null)
    }

    @Test func secondDocumentIsRefused() {
        let (root, diagnostics) = loadYAML("a: 1\n---\nb: 2\n")
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:2:1"])
        #expect(diagnostics.errors[0].summary.contains("one YAML document"))
    }

    @Test func explicitSingleDocumentIsAccepted() {
        let (root, diagnostics) = loadYAML("%YAML 1.2\n---\na: 1\n...\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["a"]?.scalarValue == .int(1))
    }

    @Test func nulByteIsRefusedAsBinary() {
        let (root, diagnostics) = YAMLLoader.load(Array("a: 1\nb: x\u{0}y\n".utf8), file: "f.yaml")
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:2:5"])
        #expect(diagnostics.errors[0].summary.contains("NUL"))
    }

    @Test func invalidUTF8IsRefusedWithItsPosition() {
        let bytes = Array("a: 1\nname: é".utf8) + [0xFF, 0x20]
        let (root, diagnostics) = YAMLLoader.load(bytes, file: "f.yaml")
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:2:8"])
        #expect(diagnostics.errors[0].summary.contains("not valid UTF-8"))
    }

    @Test func binaryGarbageIsRefused() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let bytes = (0..<512).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let (root, diagnostics) = YAMLLoader.load(bytes, file: "f.yaml")
            #expect(root == nil)
            #expect(diagnostics.hasErrors)
        }
    }

    @Test func overlongAndSurrogateEncodingsAreInvalid() {
        for bad: [UInt8] in [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82]] {
            let (root, diagnostics) = YAMLLoader.load(Array("a: ".utf8) + bad, file: "f.yaml")
            #expect(root == nil)
            #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:4"])
        }
    }

    @Test func utf16IsRefused() {
        let (root, diagnostics) = YAMLLoader.load([0xFF, 0xFE, 0x61, 0x00], file: "f.yaml")
        #expect(root == nil)
        #expect(diagnostics.errors.first?.summary.contains("UTF-16") == true)
    }

    @Test func controlCharacterIsRefused() {
        let (root, diagnostics) = loadYAML("a: b\u{7}c\n")
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:5"])
        #expect(diagnostics.errors[0].summary.contains("U+0007"))
    }

    @Test(arguments: [
        ("a:\n\tb: 1\n", "f.yaml:2:1"),
        ("a:\n  b: 1\n\tc: 2\n", "f.yaml:3:1"),
        ("a:\n  b:\n  \t  c: 1\n", "f.yaml:3:3"),
        ("a: 1\n\tb: 2\n", "f.yaml:2:1"),
        ("a: >\n\tfolded\n", "f.yaml:2:1"),
    ])
    func tabIndentationIsNamedPlainly(text: String, location: String) {
        let (root, diagnostics) = loadYAML(text)
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == [location])
        #expect(diagnostics.errors.first?.summary == "tabs are not allowed for indentation in YAML; use spaces")
        #expect(diagnostics.errors.first?.detail.contains("spaces") == true)
    }

    @Test func tabAfterAValueIsAllowed() {
        let (root, diagnostics) = loadYAML("a:\t1\nb: x\t# comment\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["a"]?.scalarValue == .int(1))
    }

    @Test(arguments: [("a: \"abc\nb: 2\n", "\""), ("x: 1\na: 'abc\nb: 2\n", "'")])
    func unclosedQuoteIsReportedWhereItOpens(text: String, quote: String) {
        let (root, diagnostics) = loadYAML(text)
        #expect(root == nil)
        let line = text.hasPrefix("x") ? 2 : 1
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:\(line):4"])
        #expect(diagnostics.errors[0].summary == "unclosed quote: the string that starts here has no closing \(quote)")
        #expect(diagnostics.errors[0].detail.contains("Add the closing"))
    }

    @Test(arguments: [
        ("a:\n  b: 1\n c: 2\n", "f.yaml:3:2", "bad indentation: this line does not line up with the keys of the mapping that starts at f.yaml:1:1"),
        ("a:\n  - b\n  c: 1\n", "f.yaml:3:3", "bad indentation: expected a list item `- ` lined up with the list that starts at f.yaml:2:3"),
        ("a:\n  b: 1\n   c: 2\n", "f.yaml:3:5", "unexpected `:` here"),
        ("a: b: c\n", "f.yaml:1:5", "unexpected `:` here"),
        ("a: \"x\"y\n", "f.yaml:1:7", "unexpected text after a value"),
        ("a: [1, 2\nb: 3\n", "f.yaml:2:2", "unclosed `[`: the list that starts at f.yaml:1:4 is missing a `]` or a `,`"),
        ("a: {x: 1\n", "f.yaml:2:1", "unclosed `{`: the mapping that starts at f.yaml:1:4 is missing a `}` or a `,`"),
        ("[a, b]]\n", "f.yaml:1:7", "unexpected text after the end of the document"),
        ("a: @x\n", "f.yaml:1:4", "`@` cannot start a plain value; it is reserved in YAML"),
        ("a: \"\\q\"\n", "f.yaml:1:5", "unknown escape sequence in a double-quoted string"),
        ("a: *\n", "f.yaml:1:5", "an anchor or alias needs a name"),
        ("a: !x!y 1\n", "f.yaml:1:4", "unknown tag handle"),
        ("]\n", "f.yaml:1:1", "a value is missing here"),
    ])
    func syntaxErrorsAreTranslated(text: String, location: String, summary: String) {
        let (root, diagnostics) = loadYAML(text)
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == [location])
        #expect(diagnostics.errors.first?.summary == summary)
        #expect(diagnostics.errors.first?.detail.isEmpty == false)
    }

    @Test func duplicateKeyNamesBothLocations() {
        let (root, diagnostics) = loadYAML("resources:\n  a: 1\n  b: 2\n  a: 3\n")
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:4:3"])
        #expect(diagnostics.errors[0].summary == "`a` is already defined at f.yaml:2:3")
        // The first definition is kept and the document is still returned, so more problems can be reported.
        #expect(root?.node(at: ["resources", "a"])?.scalarValue == .int(1))
        #expect(root?["resources"]?.mappingPairs?.count == 2)
    }

    @Test func duplicateKeysCompareByText() {
        let (_, diagnostics) = loadYAML("1: a\n\"1\": b\n'x': c\nx: d\n")
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:2:1", "f.yaml:4:1"])
    }

    @Test func duplicateKeysAreFoundInLargeMappings() {
        var text = (0..<500).map { "key\($0): \($0)" }.joined(separator: "\n")
        text += "\nkey250: again\n"
        let (root, diagnostics) = loadYAML(text)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:501:1"])
        #expect(diagnostics.errors[0].summary == "`key250` is already defined at f.yaml:251:1")
        #expect(root?["key250"]?.scalarValue == .int(250))
    }

    @Test func duplicateKeysInFlowAndNestedMappings() {
        let (_, diagnostics) = loadYAML("a: {x: 1, y: 2, x: 3}\nb:\n  - k: 1\n    k: 2\n")
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:17", "f.yaml:4:5"])
    }

    @Test func summariesStayOnOneShortLine() {
        let long = String(repeating: "k", count: 200)
        let (_, diagnostics) = loadYAML("v: !!int \"a\\nb\"\n\(long): 1\n\(long): 2\n")
        #expect(diagnostics.errors.map(\.summary) == [
            "`a\\nb` is not an int",
            "`\(String(repeating: "k", count: 60))…` is already defined at f.yaml:2:1",
        ])
    }

    @Test func unexpectedCharacterIsNamed() {
        let (root, diagnostics) = loadYAML("a: %x\n")
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:4"])
        #expect(diagnostics.errors.first?.summary == "unexpected character `%`")
    }

    @Test func tooManyErrorsStopReading() {
        let text = (0..<300).map { _ in "a: 1" }.joined(separator: "\n")
        let (root, diagnostics) = loadYAML(text, limits: YAMLLimits(maxErrors: 10))
        #expect(root == nil)
        #expect(diagnostics.errors.count == 11)
        #expect(diagnostics.errors.last?.summary.contains("too many errors") == true)
    }

    @Test func deepFlowNestingIsRefusedAtTheFlowLimit() {
        let depth = 10_000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let start = ContinuousClock.now
        let (root, diagnostics) = loadYAML(text)
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:33"])
        #expect(diagnostics.errors[0].summary == "brackets `[…]` / `{…}` are nested deeper than 32 levels")
    }

    @Test func deepNestingIsRefusedAtTheDepthLimit() {
        let depth = 10_000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let (root, diagnostics) = loadYAML(text, limits: YAMLLimits(maxFlowDepth: .max))
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:257"])
        #expect(diagnostics.errors[0].summary == "the document is nested deeper than 256 levels")
    }

    @Test func flowDepthCountsOnlyOpenBrackets() {
        // 20 block levels, each holding a 20-deep flow list: deep in total, never more than 20 brackets open.
        var text = ""
        for level in 0..<20 {
            let indent = String(repeating: " ", count: level * 2)
            text += indent + "f: " + String(repeating: "[", count: 20) + String(repeating: "]", count: 20) + "\n"
            text += indent + "k:\n"
        }
        text += String(repeating: " ", count: 40) + "end: 1\n"
        let (root, diagnostics) = loadYAML(text)
        #expect(diagnostics.isEmpty)
        #expect(root != nil)
    }

    @Test func deepBlockNestingIsRefusedAtTheLimit() {
        var text = ""
        for level in 0..<300 { text += String(repeating: " ", count: level) + "k:\n" }
        let (root, diagnostics) = loadYAML(text)
        #expect(root == nil)
        // The 257th mapping starts at the key on line 257, indented 256 spaces.
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:257:257"])
    }

    @Test func nestingAtTheLimitIsAccepted() {
        let text = String(repeating: "[", count: 256) + String(repeating: "]", count: 256)
        let (root, diagnostics) = loadYAML(text, limits: YAMLLimits(maxFlowDepth: 256))
        #expect(diagnostics.isEmpty)
        #expect(root != nil)
    }

    @Test func billionLaughsIsRefusedQuickly() {
        var text = "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
        for (previous, name) in zip(names, names.dropFirst()) {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
        }
        let start = ContinuousClock.now
        let (root, diagnostics) = loadYAML(text)
        #expect(ContinuousClock.now - start < .seconds(1))
        #expect(root == nil)
        #expect(diagnostics.errors.count == 1)
        #expect(diagnostics.errors[0].summary.contains("alias bomb"))
        #expect(diagnostics.errors[0].location?.line == 7)
    }

    @Test func aliasesCountTowardTheNodeLimit() {
        let text = "a: &a [1, 2, 3, 4]\nb: [*a, *a, *a]\n"
        let (root, diagnostics) = loadYAML(text, limits: YAMLLimits(maxNodes: 15))
        #expect(root == nil)
        #expect(diagnostics.errors[0].summary == "the document has more than 15 values")
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:2:9"])
    }

    @Test func aliasCannotExceedTheDepthLimit() {
        let text = "a: &a [[[1]]]\nb: [[*a]]\n"
        let (root, diagnostics) = loadYAML(text, limits: YAMLLimits(maxDepth: 4, maxFlowDepth: 4))
        #expect(root == nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:2:6"])
        #expect(diagnostics.errors[0].summary == "the document is nested deeper than 4 levels (through alias `*a`)")
    }

    @Test func oversizedInputIsRefusedBeforeParsing() {
        let (root, diagnostics) = loadYAML("a: 12345678901\n", limits: YAMLLimits(maxBytes: 8))
        #expect(root == nil)
        #expect(diagnostics.errors[0].summary == "the file is too large (15 bytes; the limit is 8 bytes)")
    }

    @Test func unknownAndRecursiveAliasesAreErrors() {
        let (root, diagnostics) = loadYAML("a: *nothing\nb: &loop [1, *loop]\n")
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:4", "f.yaml:2:14"])
        #expect(diagnostics.errors[0].summary == "alias `*nothing` refers to no anchor")
        #expect(diagnostics.errors[1].summary == "alias `*loop` refers to a value that contains it")
        #expect(root?["a"]?.scalarValue == .null)
    }

    @Test func complexKeysAreRefused() {
        let (root, diagnostics) = loadYAML("? [a, b]\n: 1\nc: 2\n")
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:3"])
        #expect(diagnostics.errors[0].summary.contains("mapping key must be a single value"))
        #expect(root?.mappingPairs?.map(\.keyText) == ["c"])
    }

    @Test func missingFileIsAnError() {
        let (root, diagnostics) = YAMLLoader.load(path: "/nonexistent/dir/spec.yaml")
        #expect(root == nil)
        #expect(diagnostics.errors.first?.summary.hasPrefix("cannot open /nonexistent/dir/spec.yaml") == true)
    }

    @Test func directoryIsNotAFile() throws {
        let dir = try makeYAMLTestDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (root, diagnostics) = YAMLLoader.load(path: dir.path)
        #expect(root == nil)
        #expect(diagnostics.errors.first?.summary.contains("is a directory") == true)
    }

    @Test func oversizedFileIsRefusedWithoutReading() throws {
        let dir = try makeYAMLTestDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("big.yaml")
        try Data(repeating: 0x61, count: 4096).write(to: file)
        let (root, diagnostics) = YAMLLoader.load(path: file.path, limits: YAMLLimits(maxBytes: 1000))
        #expect(root == nil)
        #expect(diagnostics.errors.first?.summary == "the file is too large (4096 bytes; the limit is 1000 bytes)")
    }
}
