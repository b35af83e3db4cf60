import Foundation
import Testing

/// Hostile specs through the real command: each must end quickly with exit 1 and a located diagnostic.
@Suite struct BadInputTests {
    static let cases: [(String, [UInt8], String)] = [
        ("empty", [], "the spec is empty"),
        ("garbage", (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919 &+ 13) }, "main.yaml:"),
        ("tabs", Array("mlinfra: 1\nproject: x\nresources:\n\tthing.a: {}\n".utf8), "tabs"),
        ("unclosed quote", Array("mlinfra: 1\nproject: \"x\nresources: {}\n".utf8), "main.yaml:"),
        ("deep nesting", Array(("mlinfra: 1\nproject: x\nresources: " + String(repeating: "[", count: 10_000)).utf8), "main.yaml:"),
        ("alias bomb", Array(BadInputTests.billionLaughs.utf8), "main.yaml:"),
    ]

    static let billionLaughs: String = {
        var text = "mlinfra: 1\nproject: x\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for i in 1...9 {
            text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        return text + "resources: *a9\n"
    }()

    @Test(arguments: 0..<cases.count)
    func hostileSpecIsRefusedQuickly(_ index: Int) async throws {
        let (name, bytes, needle) = Self.cases[index]
        let h = try CLIHarness()
        try Data(bytes).write(to: h.directory.appendingPathComponent("main.yaml"))
        let started = Date()
        let r = try await h.run("validate")
        // A hang detector, not a timing: the whole suite runs in parallel on two cores.
        #expect(Date().timeIntervalSince(started) < 120, "\(name) took too long")
        #expect(r.status == 1, "\(name): \(r.out) \(r.err)")
        #expect(r.err.contains(needle), "\(name): \(r.err.prefix(500))")
    }

    @Test func tenMegabyteSpecIsHandled() async throws {
        let h = try CLIHarness()
        var text = "mlinfra: 1\nproject: big\nproviders:\n  disk: { dir: objects, echo: true }\nresources:\n"
        var i = 0
        while text.utf8.count < 10_000_000 {
            text += "  item.r\(i): { size: \(i), label: \"\(String(repeating: "x", count: 40))\" }\n"
            i += 1
        }
        try h.write("main.yaml", text)
        let started = Date()
        let r = try await h.run("validate")
        #expect(r.status == 0, "\(r.err.prefix(500))")
        #expect(r.out.contains("\(i) resource instance(s)"))
        #expect(Date().timeIntervalSince(started) < 180)
    }

    @Test func unreadableStateIsRefusedAndKept() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", diskSpec(count: 1))
        try h.write("state/e2e.mlstate.json", "{ this is not a state file")
        let r = try await h.run("apply", "--auto-approve")
        #expect(r.status == 1)
        #expect(r.err.contains("e2e.mlstate.json"), "\(r.err)")
        #expect(h.read("state/e2e.mlstate.json") == "{ this is not a state file")
        #expect(h.objects().isEmpty)
    }

    @Test func secretsStayOutOfEveryOutput() async throws {
        let h = try CLIHarness()
        let spec = "mlinfra: 1\nproject: e2e\nvariables:\n  token: { type: string, sensitive: true }\nproviders:\n  disk: { dir: objects }\nresources:\n  item.a: { size: 1, label: \"${var.token}\", secret: \"${var.token}\" }\noutputs:\n  t: ${var.token}\n"
        try h.write("main.yaml", spec)
        let env = ["MLINFRA_VAR_token": "p4ssw0rd-xyz"]
        var seen = ""
        for args in [["plan"], ["plan", "--format", "json"], ["plan", "--format", "markdown"], ["apply", "--auto-approve"],
                     ["show"], ["show", "--format", "json"], ["output"], ["state", "show", "item.a"], ["plan", "--var", "token=12"]] {
            let r = try await h.run(args, env: env)
            seen += r.out + r.err
        }
        #expect(!seen.contains("p4ssw0rd-xyz"))
        #expect(seen.contains("(sensitive)"))
        #expect(h.read("state/e2e.mlstate.json")?.contains("p4ssw0rd-xyz") == false)
    }
}
