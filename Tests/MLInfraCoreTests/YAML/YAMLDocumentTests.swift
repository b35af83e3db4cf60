import Foundation
import MLInfraCore
import Testing

@Suite("YAML loader: documents, scalars, anchors and locations")
struct YAMLDocumentTests {
    @Test(arguments: [
        ("", Value.null), ("~", .null), ("null", .null), ("Null", .null), ("NULL", .null),
        ("true", .bool(true)), ("True", .bool(true)), ("TRUE", .bool(true)),
        ("false", .bool(false)), ("False", .bool(false)), ("FALSE", .bool(false)),
        ("0", .int(0)), ("42", .int(42)), ("-17", .int(-17)), ("+5", .int(5)), ("007", .int(7)),
        ("0x1F", .int(31)), ("0xff", .int(255)), ("0o17", .int(15)),
        ("9223372036854775807", .int(Int.max)),
        ("1.5", .number(1.5)), ("-0.25", .number(-0.25)), (".5", .number(0.5)), ("1.", .number(1)),
        ("1e3", .number(1000)), ("2.5E-2", .number(0.025)), ("+1.0e+2", .number(100)), ("1.e2", .number(100)),
        ("yes", .string("yes")), ("no", .string("no")), ("on", .string("on")), ("off", .string("off")),
        ("nULL", .string("nULL")), ("tRUE", .string("tRUE")), ("1_000", .string("1_000")),
        ("0x", .string("0x")), ("0o8", .string("0o8")), ("-0x1", .string("-0x1")), (".", .string(".")),
        ("1.2.3", .string("1.2.3")), ("90d", .string("90d")), ("1e", .string("1e")), ("e3", .string("e3")),
        ("+", .string("+")), ("12:30", .string("12:30")), ("hello world", .string("hello world")),
        ("-.nan", .string("-.nan")), ("0 * * * *", .string("0 * * * *")),
    ])
    func plainScalarsResolveByTheCoreSchema(text: String, expected: Value) {
        let (root, diagnostics) = loadYAML("v: \(text)\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["v"]?.scalarValue == expected)
    }

    @Test(arguments: [
        ("'42'", ScalarStyle.singleQuoted), ("\"true\"", .doubleQuoted), ("\"\"", .doubleQuoted), ("'~'", .singleQuoted),
        ("|\n  42\n", .literal), (">\n  null\n", .folded),
    ])
    func quotedAndBlockScalarsAreStrings(text: String, style: ScalarStyle) {
        let (root, diagnostics) = loadYAML("v: \(text)")
        #expect(diagnostics.isEmpty)
        guard case .scalar(let value, let found)? = root?["v"]?.content else {
            Issue.record("not a scalar")
            return
        }
        #expect(found == style)
        #expect(root?["v"]?.scalarValue == .string(value))
    }

    @Test func blockScalarsKeepTheirText() {
        let (root, _) = loadYAML("a: |\n  line 1\n  line 2\nb: >\n  one\n  two\n")
        #expect(root?["a"]?.scalarValue == .string("line 1\nline 2\n"))
        #expect(root?["b"]?.scalarValue == .string("one two\n"))
    }

    @Test(arguments: [
        ("!!str 123", Value.string("123")), ("!!int \"12\"", .int(12)), ("!!float 3", .number(3)),
        ("!!bool 'true'", .bool(true)), ("!!null ''", .null), ("! 12", .string("12")), ("!!str", .string("")),
    ])
    func coreTagsForceTheType(text: String, expected: Value) {
        let (root, diagnostics) = loadYAML("v: \(text)\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["v"]?.scalarValue == expected)
    }

    @Test(arguments: [
        ("v: !!int abc\n", "`abc` is not an int"),
        ("v: !!bool yes\n", "`yes` is not a bool"),
        ("v: !!float x\n", "`x` is not a number"),
        ("v: !!null 0\n", "`0` is not a null"),
        ("v: !custom x\n", "unsupported tag `!custom`"),
        ("v: !!binary aGk=\n", "unsupported tag `!!binary`"),
        ("v: !!seq x\n", "unsupported tag `!!seq`"),
        ("v: .inf\n", "infinity (`.inf`) is not a supported number"),
        ("v: -.Inf\n", "infinity (`-.Inf`) is not a supported number"),
        ("v: .NaN\n", "not-a-number (`.NaN`) is not a supported number"),
        ("v: 99999999999999999999\n", "integer `99999999999999999999` is too large"),
        ("v: 1e400\n", "number `1e400` is too large"),
    ])
    func unrepresentableScalarsAreErrors(text: String, summary: String) {
        let (root, diagnostics) = loadYAML(text)
        #expect(root != nil)
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:4"])
        #expect(diagnostics.errors.first?.summary == summary)
        #expect(root?["v"]?.scalarValue?.isNull == false)
        if case .number(let d)? = root?["v"]?.scalarValue { #expect(d.isFinite) }
    }

    @Test func collectionTagsMustMatch() {
        let (root, diagnostics) = loadYAML("a: !!map [1]\nb: !!seq {x: 1}\nc: !!map {x: 1}\nd: !!seq [1]\n")
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:1:4", "f.yaml:2:4"])
        #expect(diagnostics.errors.map(\.summary) == ["unsupported tag `!!map`", "unsupported tag `!!seq`"])
        #expect(root?["c"]?.tag == "!!map")
        #expect(root?["d"]?.value == [1])
    }

    @Test func quotedSpecialNumbersAreStrings() {
        let (root, diagnostics) = loadYAML("a: \".inf\"\nb: '.nan'\nc: !!str 99999999999999999999\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["a"]?.scalarValue == .string(".inf"))
        #expect(root?["c"]?.scalarValue == .string("99999999999999999999"))
    }

    @Test func nonStringKeysCountByTheirText() {
        let (root, diagnostics) = loadYAML("1: one\ntrue: yes\nnull: nothing\n~: tilde\n0x10: hex\n")
        #expect(diagnostics.isEmpty)
        #expect(root?.mappingPairs?.map(\.keyText) == ["1", "true", "null", "~", "0x10"])
        #expect(root?["0x10"]?.scalarValue == .string("hex"))
        #expect(root?.mappingPairs?[0].key.scalarValue == .int(1))
    }

    @Test func keysAreNotCheckedAsNumbers() {
        let (root, diagnostics) = loadYAML("1e400: a\n.nan: b\n!!int x: c\n")
        #expect(diagnostics.isEmpty)
        #expect(root?.mappingPairs?.map(\.keyText) == ["1e400", ".nan", "x"])
    }

    @Test func locationsOfNestedNodes() {
        let text = """
            mlinfra: 1
            resources:
              model.fraud:
                registry: ${registry.main}
                tags: { team: risk, tier: 1 }
                checks:
                  - feature: amount
                    threshold: 0.2
                  - [a, "b"]
            """
        let (root, diagnostics) = loadYAML(text)
        #expect(diagnostics.isEmpty)
        guard let root else {
            Issue.record("no root")
            return
        }
        #expect((root.location.line, root.location.column) == (1, 1))
        #expect((root["mlinfra"]!.location.line, root["mlinfra"]!.location.column) == (1, 10))
        let resources = root["resources"]!
        #expect((resources.location.line, resources.location.column) == (3, 3))
        let pair = resources.mappingPairs![0]
        #expect((pair.key.location.line, pair.key.location.column) == (3, 3))
        #expect((pair.value.location.line, pair.value.location.column) == (4, 5))
        #expect(root.node(at: ["resources", "model.fraud", "registry"]).map { ($0.location.line, $0.location.column) } ?? (0, 0) == (4, 15))
        let tags = root.node(at: ["resources", "model.fraud", "tags"])!
        #expect((tags.location.line, tags.location.column) == (5, 11))
        #expect(tags["tier"].map { ($0.location.line, $0.location.column) } ?? (0, 0) == (5, 31))
        let checks = root.node(at: ["resources", "model.fraud", "checks"])!
        #expect((checks.location.line, checks.location.column) == (7, 7))
        #expect(root.node(at: ["resources", "model.fraud", "checks", 0]).map { ($0.location.line, $0.location.column) } ?? (0, 0) == (7, 9))
        let threshold = root.node(at: ["resources", "model.fraud", "checks", 0, "threshold"])!
        #expect((threshold.location.line, threshold.location.column) == (8, 20))
        #expect(threshold.scalarValue == .number(0.2))
        let quoted = root.node(at: ["resources", "model.fraud", "checks", 1, 1])!
        #expect((quoted.location.line, quoted.location.column) == (9, 13))
        #expect(quoted.location.file == "f.yaml")
    }

    @Test func columnsCountCharactersNotBytes() {
        let (root, _) = loadYAML("é: ü\n\u{FEFF}")
        #expect(root?["é"].map { ($0.location.line, $0.location.column) } ?? (0, 0) == (1, 4))
        let (withBOM, _) = YAMLLoader.load([0xEF, 0xBB, 0xBF] + Array("a: 1\n".utf8), file: "f.yaml")
        #expect(withBOM?["a"].map { ($0.location.line, $0.location.column) } ?? (0, 0) == (1, 4))
    }

    @Test func crlfLineEndingsCountOnce() {
        let (root, diagnostics) = loadYAML("a: 1\r\nb:\r\n  c: 2\r\n")
        #expect(diagnostics.isEmpty)
        #expect(root?.node(at: ["b", "c"]).map { ($0.location.line, $0.location.column) } ?? (0, 0) == (3, 6))
    }

    @Test func anchorsAndAliasesAreExpanded() {
        let text = """
            defaults: &defaults
              replicas: 2
              tags: &tags [a, b]
            x: *defaults
            y: *tags
            name: &n fraud
            z: *n
            """
        let (root, diagnostics) = loadYAML(text)
        #expect(diagnostics.isEmpty)
        #expect(root?["x"]?.value == ["replicas": 2, "tags": ["a", "b"]])
        #expect(root?["y"]?.value == ["a", "b"])
        #expect(root?["z"]?.scalarValue == .string("fraud"))
        // The alias's own place is where it is used; the values inside keep the anchored text's places.
        #expect(root?["x"].map { ($0.location.line, $0.location.column) } ?? (0, 0) == (4, 4))
        #expect(root?.node(at: ["x", "replicas"]).map { ($0.location.line, $0.location.column) } ?? (0, 0) == (2, 13))
    }

    @Test func anchorsCanBeRedefined() {
        let (root, diagnostics) = loadYAML("a: &v 1\nb: *v\nc: &v 2\nd: *v\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["b"]?.scalarValue == .int(1))
        #expect(root?["d"]?.scalarValue == .int(2))
    }

    @Test func aliasAsKeyUsesTheAnchoredText() {
        let (root, diagnostics) = loadYAML("k: &key name\n*key : value\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["name"]?.scalarValue == .string("value"))
    }

    @Test func mergeKeysBringInPairsWithExplicitKeysWinning() {
        let text = """
            base: &base { replicas: 2, port: 8080, tier: gold }
            extra: &extra { port: 9000, region: eu }
            endpoint:
              <<: [*base, *extra]
              tier: silver
            """
        let (root, diagnostics) = loadYAML(text)
        #expect(diagnostics.isEmpty)
        let endpoint = root?["endpoint"]
        #expect(endpoint?.mappingPairs?.map(\.keyText) == ["replicas", "port", "region", "tier"])
        #expect(endpoint?.value == ["replicas": 2, "port": 8080, "tier": "silver", "region": "eu"])
    }

    @Test func mergeKeyWithASingleMapping() {
        let (root, diagnostics) = loadYAML("d: &d {a: 1, b: 2}\ne:\n  b: 3\n  <<: *d\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["e"]?.mappingPairs?.map(\.keyText) == ["b", "a"])
        #expect(root?["e"]?.value == ["a": 1, "b": 3])
    }

    @Test func mergeKeyNeedsMappings() {
        let (_, diagnostics) = loadYAML("a:\n  <<: 5\nb:\n  <<: [{x: 1}, 2]\n")
        #expect(yamlErrorLocations(diagnostics) == ["f.yaml:2:7", "f.yaml:4:16"])
        #expect(diagnostics.errors[0].summary == "a merge key `<<` takes a mapping or a list of mappings, not an int")
    }

    @Test func quotedMergeKeyIsAnOrdinaryKey() {
        let (root, diagnostics) = loadYAML("\"<<\": 5\n")
        #expect(diagnostics.isEmpty)
        #expect(root?["<<"]?.scalarValue == .int(5))
    }

    @Test func valueConversionKeepsStructure() {
        let (root, _) = loadYAML("a: [1, 2.5, x, null, true]\nb: {c: {d: e}}\n")
        #expect(root?.value == ["a": [1, 2.5, "x", nil, true], "b": ["c": ["d": "e"]]])
        #expect(root?.kindName == "map")
        #expect(root?["a"]?.kindName == "list")
    }

    @Test func largeSpecLoadsInBoundedTime() {
        var text = "mlinfra: 1\nproject: big\nresources:\n"
        for i in 0..<20_000 {
            text += "  model_version.m\(i):\n    model: ${model.m\(i % 100)}\n    artifact: models/m\(i).json\n    tags: { dataset: d\(i), n: \(i) }\n"
        }
        let start = ContinuousClock.now
        let (root, diagnostics) = loadYAML(text)
        let elapsed = ContinuousClock.now - start
        #expect(diagnostics.isEmpty)
        #expect(root?["resources"]?.mappingPairs?.count == 20_000)
        #expect(root?.node(at: ["resources", "model_version.m19999", "tags", "n"])?.scalarValue == .int(19_999))
        #expect(root?.node(at: ["resources", "model_version.m19999", "tags", "n"])?.location.line == 80_003)
        #expect(elapsed < .seconds(20))
    }
}
