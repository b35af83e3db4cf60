import Foundation
import Testing

/// `mlinfra console`: expressions from standard input, evaluated against the spec and state.
@Suite struct ConsoleCommandTests {
    @Test func consoleEvaluatesLinesFromStandardInput() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 2) + """
            variables:
              env: { type: string, default: prod }
              token: { type: string, default: console-secret-9, sensitive: true }
            locals:
              replicas: '${var.env == "prod" ? 4 : 1}'   # quoted: YAML reads an unquoted ": " as a key
            """)
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        let r = try await h.run(["console", "--spec", "."], input: """
            format("%s-%d", upper(var.env), local.replicas)
            item.i1.size + 10
            url=${item.i0.url}
            var.token
            length(var.token)

            """)
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines == ["\"PROD-4\"", "11", "\"url=disk://item.i0\"", "(sensitive)", "(sensitive)"])
        #expect(!r.out.contains("console-secret-9") && !r.err.contains("console-secret-9"))
    }

    @Test func aWrongLineIsADiagnosticAndExitsOne() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        let r = try await h.run(["console"], input: "uper(\"x\")\nlower(\"OK\")\n")
        #expect(r.status == 1)
        #expect(r.err.contains("<console>:1:1"))
        #expect(r.err.contains("Did you mean `upper`?"))
        #expect(r.out == "\"ok\"\n")
    }
}
