import Foundation
import Testing

/// The example external provider (Python, providers/examples/python-files) driven through plan and apply.
@Suite struct PluginEndToEndTests {
    static let example = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("providers/examples/python-files/provider.py")

    func sha256(_ path: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        p.arguments = [path]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return String(text.prefix(64))
    }

    func spec(sha: String, greeting: String) -> String {
        """
        mlinfra: 1
        project: notes
        providers:
          files:
            command: \(Self.example.path)
            sha256: "\(sha)"
            config: { root: out }
        resources:
          text_file.readme: { path: README.txt, content: "\(greeting) from mlinfra" }
          text_file.copy: { path: COPY.txt, content: "readme sha: ${text_file.readme.sha256}" }
        outputs:
          readme_sha: ${text_file.readme.sha256}
        """
    }

    @Test func pythonProviderPlansAppliesDetectsDriftAndDestroys() async throws {
        let h = try CLIHarness()
        let sha = try sha256(Self.example.path)
        try h.write("main.yaml", spec(sha: sha, greeting: "Hello"))
        let plan = try await h.run("plan", "--detailed-exitcode")
        #expect(plan.status == 2, "\(plan.err)")
        #expect(plan.out.contains("Plan: 2 to add, 0 to change, 0 to destroy."))
        let apply = try await h.run("apply", "--auto-approve")
        #expect(apply.status == 0, "\(apply.err)")
        #expect(h.read("out/README.txt") == "Hello from mlinfra")
        #expect(h.read("out/COPY.txt")?.hasPrefix("readme sha: ") == true)
        #expect(try await h.run("plan", "--detailed-exitcode").status == 0)

        try "edited by hand".write(to: h.directory.appendingPathComponent("out/README.txt"), atomically: true, encoding: .utf8)
        let drift = try await h.run("plan", "--detailed-exitcode")
        #expect(drift.status == 2)
        #expect(drift.out.contains("Objects have changed outside of mlinfra"))
        #expect(drift.out.contains("text_file.readme will be updated in-place"))
        #expect(try await h.run("apply", "--auto-approve").status == 0)
        #expect(h.read("out/README.txt") == "Hello from mlinfra")

        #expect(try await h.run("destroy", "--auto-approve").status == 0)
        #expect(h.read("out/README.txt") == nil)
    }

    @Test func pluginIsShutDownWhenTheCommandEnds() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", spec(sha: try sha256(Self.example.path), greeting: "Hi"))
        let trace = h.directory.appendingPathComponent("trace.log").path
        #expect(try await h.run(["plan"], env: ["EXAMPLE_PROVIDER_TRACE": trace]).status == 0)
        let calls = (try String(contentsOfFile: trace, encoding: .utf8)).split(separator: "\n").map(String.init)
        #expect(calls.first == "initialize", "\(calls)")
        #expect(calls.contains("plan"), "\(calls)")
        #expect(calls.last == "shutdown", "\(calls)")
        // A failing command shuts its plugins down too.
        try? FileManager.default.removeItem(atPath: trace)
        try h.write("main.yaml", spec(sha: try sha256(Self.example.path), greeting: "Hi").replacingOccurrences(
            of: "resources:\n", with: "resources:\n  text_file.bad: { path: [7] }\n"))
        let failed = try await h.run(["apply", "--auto-approve"], env: ["EXAMPLE_PROVIDER_TRACE": trace])
        #expect(failed.status == 1, "\(failed.out)\(failed.err)")
        let failedCalls = (try? String(contentsOfFile: trace, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        #expect(failedCalls.first == "initialize", "\(failedCalls)")
        #expect(failedCalls.last == "shutdown", "\(failedCalls)")
    }

    @Test func wrongPluginHashIsRefusedBeforeItRuns() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", spec(sha: String(repeating: "0", count: 64), greeting: "Hi"))
        let r = try await h.run("plan")
        #expect(r.status == 1)
        #expect(r.err.contains("sha256"), "\(r.err)")
        #expect(h.read("out/README.txt") == nil)
    }
}
