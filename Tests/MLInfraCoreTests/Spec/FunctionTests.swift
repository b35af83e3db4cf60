import Foundation
import Testing
@testable import MLInfraCore

/// Functions, operators, conditionals and locals: their values, their sensitivity, and their
/// diagnostics at the argument's file:line:column.
@Suite struct FunctionTests {
    let spec = specHead + """
        variables:
          env: { type: string, default: prod }
          sizes: { type: map, default: { dev: 1, prod: 3 } }
          names: { type: list, default: [a, b, c] }
          token: { type: string, default: s3cr3t-token, sensitive: true }
          count: { type: string, default: "8" }
          extra: { type: map, default: { x: 1 } }
        locals:
          prefix: ${upper(var.env)}
          size: ${lookup(var.sizes, var.env, 1)}
          derived: ${format("%s-%d", local.prefix, local.size)}
          bearer: ${format("Bearer %s", var.token)}
        """

    func evaluate(_ line: String, spec: String? = nil) async throws -> (String?, Diagnostics) {
        let configuration = try await Harness().configuration(spec ?? self.spec)
        return ExpressionConsole(configuration: configuration, state: StateFile.new()).evaluate(line)
    }

    func value(_ line: String) async throws -> String {
        let (value, diagnostics) = try await evaluate(line)
        guard let value else { throw DiagnosticsError(diagnostics) }
        return value
    }

    @Test(arguments: [
        ("upper(var.env)", "\"PROD\""),
        ("lower(\"MiXeD\")", "\"mixed\""),
        ("sha256(\"abc\")", "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\""),
        ("format(\"%s has %d replicas (%.1f%%)\", var.env, 3, 12.5)", "\"prod has 3 replicas (12.5%)\""),
        ("format(\"%q\", var.env)", "\"\\\"prod\\\"\""),
        ("join(\",\", var.names)", "\"a,b,c\""),
        ("merge(var.sizes, var.extra)", "{ dev = 1, prod = 3, x = 1 }"),
        ("lookup(var.sizes, \"dev\")", "1"),
        ("lookup(var.sizes, \"qa\", 9)", "9"),
        ("coalesce(null, \"\", \"fallback\")", "\"fallback\""),
        ("jsonencode(var.sizes)", "\"{\\\"dev\\\":1,\\\"prod\\\":3}\""),
        ("yamlencode(var.sizes)", "\"dev: 1\\nprod: 3\\n\""),
        ("length(var.names)", "3"),
        ("length(\"héllo\")", "5"),
        ("tostring(42)", "\"42\""),
        ("tonumber(var.count) * 2", "16"),
        ("var.env == \"prod\" ? 3 : 1", "3"),
        ("var.env != \"prod\" ? 3 : 1", "1"),
        ("length(var.names) >= 3 && !(var.env == \"dev\")", "true"),
        ("7 / 2", "3.5"),
        ("local.derived", "\"PROD-3\""),
        ("local.size + 1", "4"),
        // List and map literals.
        ("[1, \"a\", upper(\"b\"), [], {}]", "[1, \"a\", \"B\", [], {}]"),
        ("join(\"-\", [var.env, \"x\", local.size,])", "\"prod-x-3\""),
        ("merge(var.sizes, { qa = 2, \"big one\": 9 })", "{ big one = 9, dev = 1, prod = 3, qa = 2 }"),
        ("lookup({ a = [1, { b = var.env }] }, \"a\")", "[1, { b = \"prod\" }]"),
        ("length([var.names, var.names])", "2"),
        ("coalesce(null, [\"x\"])", "[\"x\"]"),
    ])
    func functionsComputeTheirValues(_ line: String, _ expected: String) async throws {
        #expect(try await value(line) == expected)
    }

    @Test func fileAndFileSha256ReadRelativeToTheSpec() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mlinfra-fn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "hello\n".write(to: directory.appendingPathComponent("note.txt"), atomically: true, encoding: .utf8)
        var configuration = try await Harness().configuration(spec)
        configuration.functions.baseDirectory = directory.path
        let console = ExpressionConsole(configuration: configuration, state: StateFile.new())
        #expect(console.evaluate("file(\"note.txt\")").0 == "\"hello\\n\"")
        #expect(console.evaluate("filesha256(\"note.txt\")").0 == "\"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03\"")
        let (missing, diagnostics) = console.evaluate("file(\"nope.txt\")")
        #expect(missing == nil)
        #expect(diagnostics.errors.first?.summary == "`file()` cannot read \"nope.txt\"")
        #expect(diagnostics.errors.first?.location?.column == 6)
    }

    @Test func aWrongArgumentIsReportedAtTheArgument() async throws {
        let text = spec + """

            resources:
              thing.a:
                size: 1
                label: "${upper(var.names)}"
            """
        let (configuration, _) = await TestSpec.configuration(text)
        let c = try #require(configuration)
        let diagnostics = await c.validateWithProviders()
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary == "argument 1 of `upper()` must be a string, not a list ([\"a\", \"b\", \"c\"])")
        #expect(error.detail.contains("tostring()"))
        // `label: "${upper(var.names)}"` — the argument starts after `"${upper(`.
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.contains("label:") }! + 1
        #expect(error.location == SourceLocation(file: "main.yaml", line: line, column: 21))
    }

    @Test func anUnknownFunctionSuggestsTheClosest() async throws {
        let text = specHead + "resources:\n  thing.a:\n    size: 1\n    label: ${uper(\"x\")}\n"
        let (configuration, diagnostics) = await TestSpec.configuration(text)
        #expect(configuration == nil)
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary == "`uper()` is not a function mlinfra knows")
        #expect(error.detail.hasSuffix("Did you mean `upper`?"))
        #expect(error.location == SourceLocation(file: "main.yaml", line: 6, column: 14))
    }

    @Test(arguments: [
        ("upper()", "`upper()` takes 1 argument, not 0"),
        ("lookup(var.sizes, \"qa\")", "the map has no key \"qa\""),
        ("var.env ? 1 : 2", "the condition of `? :` must be true or false, not a string"),
        ("1 / 0", "division by zero"),
        ("format(\"%s %s\", 1)", "`format()` has more verbs than values"),
        ("tonumber(\"eight\")", "\"eight\" is not a number"),
        ("local.nothing", "`local.nothing` is not declared"),
        ("var.env +", "`${var.env +}` is not an expression mlinfra understands: it ends where a value should be"),
        ("{ a = 1, a = 2 }", "`${{ a = 1, a = 2 }}` is not an expression mlinfra understands: the key `a` is given twice"),
        ("[1, 2", "`${[1, 2}` is not an expression mlinfra understands: expected `]` before the end"),
        ("{ a 1 }", "`${{ a 1 }}` is not an expression mlinfra understands: expected `=` after `a`, found `1 }`"),
    ])
    func mistakesAreDiagnostics(_ line: String, _ summary: String) async throws {
        let (value, diagnostics) = try await evaluate(line)
        #expect(value == nil)
        #expect(diagnostics.errors.first?.summary == summary)
        #expect(diagnostics.errors.first?.location?.file == "<console>")
    }

    @Test func whatIsBuiltFromASecretIsSecret() async throws {
        #expect(try await value("local.bearer") == "(sensitive)")
        #expect(try await value("upper(var.token)") == "(sensitive)")
        #expect(try await value("length(var.token)") == "(sensitive)")
        #expect(try await value("var.token == \"x\" ? \"a\" : \"b\"") == "(sensitive)")
        #expect(try await value("sensitive(var.env)") == "(sensitive)")
        // In a list or a map literal, only the element that holds the secret is secret.
        #expect(try await value("[var.env, var.token]") == "[\"prod\", (sensitive)]")
        #expect(try await value("{ user = var.env, token = var.token }") == "{ token = (sensitive), user = \"prod\" }")
        // A secret in a diagnostic is scrubbed.
        let (_, diagnostics) = try await evaluate("tonumber(var.token)")
        #expect(!diagnostics.items.map(\.description).joined().contains("s3cr3t-token"))
    }

    @Test func aSecretBuiltByAFunctionStaysOutOfPlanAndState() async throws {
        let harness = Harness()
        let text = spec + "\nresources:\n  thing.a:\n    size: 1\n    label: ${local.bearer}\n"
        let plan = try await harness.plan(text)
        #expect(plan.changes.first?.sensitive.contains("label") == true)
        try await harness.apply(text)
        let stateText = try String(contentsOfFile: harness.statePath, encoding: .utf8)
        #expect(!stateText.contains("s3cr3t-token"))
    }

    @Test func envIsRefusedWhereAValueIsNotSecret() async throws {
        setenv("MLINFRA_FN_TEST_TOKEN", "env-secret-value", 1)
        let text = specHead + """
            resources:
              thing.a:
                size: 1
                label: ${env("MLINFRA_FN_TEST_TOKEN")}
            """
        let (configuration, _) = await TestSpec.configuration(text)
        let c = try #require(configuration)
        let diagnostics = await c.validateWithProviders()
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary == "a value read with `env()` goes to `label` of `thing.a`, which is not sensitive")
        #expect(error.detail.contains("sensitive(env(\"NAME\"))"))
        #expect(error.location == SourceLocation(file: "main.yaml", line: 6, column: 14))
        #expect(!diagnostics.items.map(\.description).joined().contains("env-secret-value"))
    }

    @Test func envMarkedSensitiveOrInASecretAttributeIsKeptSecret() async throws {
        setenv("MLINFRA_FN_TEST_TOKEN2", "env-secret-two", 1)
        let harness = Harness()
        let text = specHead + """
            resources:
              thing.a:
                size: 1
                label: ${sensitive(env("MLINFRA_FN_TEST_TOKEN2"))}
                secret: ${env("MLINFRA_FN_TEST_TOKEN2")}
            """
        let plan = try await harness.plan(text)
        #expect(plan.changes.first?.sensitive.isSuperset(of: ["label", "secret"]) == true)
        try await harness.apply(text)
        let stateText = try String(contentsOfFile: harness.statePath, encoding: .utf8)
        #expect(!stateText.contains("env-secret-two"))
        let (shown, _) = ExpressionConsole(configuration: try await harness.configuration(text), state: try await harness.state())
            .evaluate("env(\"MLINFRA_FN_TEST_TOKEN2\")")
        #expect(shown == "(sensitive)")
    }

    @Test func aLocalThatRefersToAResourceIsADependency() async throws {
        let text = specHead + """
            locals:
              owner: ${thing.a.url}
            resources:
              thing.a: { size: 1 }
              thing.b:
                size: 2
                ref: ${local.owner}
            """
        let c = try await Harness().configuration(text)
        #expect(c.instance("thing.b")?.dependencies == ["thing.a"])
        let harness = Harness()
        try await harness.apply(text)
        let state = try await harness.state()
        #expect(state.resource("thing.b")?.inputs["ref"] == state.resource("thing.a")?.attributes["url"])
    }

    /// A backend URL built by a local from a sensitive variable is a secret: taken, and no warning
    /// that the password does not come from a sensitive variable.
    @Test func aBackendURLBuiltByALocalFromASecretIsASecret() throws {
        let text = specHead + """
            variables:
              password: { type: string, default: pw-123, sensitive: true }
            locals:
              url: ${format("postgres://ml:%s@127.0.0.1/db", var.password)}
              plain: postgres://ml:written-out@127.0.0.1/db
            backend: { postgres: { url: "${local.url}" } }
            """
        func resolve(_ text: String) throws -> (StateBackend?, Diagnostics) {
            let spec = try #require(SpecLoader.load(sources: [("main.yaml", text)]).0)
            let (variables, _) = VariableValues.resolve(spec, inputs: VariableInputs(environment: [:]))
            var diagnostics = Diagnostics()
            let backend = StateBackend.resolve(spec: spec, variables: variables, workspace: "default", diagnostics: &diagnostics, environment: [:])
            return (backend, diagnostics)
        }
        let (backend, diagnostics) = try resolve(text)
        guard case .postgres(let settings)? = backend else { Issue.record("not a postgres backend: \(String(describing: backend))"); return }
        #expect(settings.url == "postgres://ml:pw-123@127.0.0.1/db")
        #expect(diagnostics.items.isEmpty, "\(diagnostics.items)")
        // The same URL written out in a local is no secret, and is warned about.
        let (_, warned) = try resolve(text.replacingOccurrences(of: "${local.url}", with: "${local.plain}"))
        #expect(warned.items.contains { $0.summary.contains("does not come from a sensitive variable") })
    }

    @Test func aCycleOfLocalsIsReportedWithTheCycle() async throws {
        let text = specHead + """
            locals:
              a: ${local.b}
              b: ${format("%s", local.c)}
              c: ${local.a}
            """
        let (configuration, diagnostics) = await TestSpec.configuration(text)
        #expect(configuration == nil)
        let error = try #require(diagnostics.errors.first)
        #expect(error.summary.hasPrefix("the locals refer to each other in a circle: local."))
        #expect(["a", "b", "c"].allSatisfy { error.summary.contains("local.\($0)") })
        #expect((4...6).contains(error.location?.line ?? 0))
    }

    @Test func aConditionalTakesOnlyTheBranchItChooses() async throws {
        // The branch not taken would fail (no such file); it is not evaluated.
        #expect(try await value("var.env == \"prod\" ? \"p\" : file(\"missing.txt\")") == "\"p\"")
    }

    @Test func consoleReadsResourcesFromState() async throws {
        let harness = Harness()
        let text = specHead + "resources:\n  thing.a: { size: 4, label: hi }\n"
        try await harness.apply(text)
        let console = ExpressionConsole(configuration: try await harness.configuration(text), state: try await harness.state())
        #expect(console.evaluate("thing.a.size * 2").0 == "8")
        #expect(console.evaluate("label=${upper(thing.a.label)}").0 == "\"label=HI\"")
    }
}
