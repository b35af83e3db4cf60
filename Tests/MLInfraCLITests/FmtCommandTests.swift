import Foundation
import Testing

/// `mlinfra fmt` as CI and an editor's save hook run it.
@Suite struct FmtCommandTests {
    static let messy = "mlinfra: 1\nproject:   e2e\nproviders:\n    disk: {dir: objects,latency: 0s}\nresources:\n    # one item\n    item.a: { size: 1, label: one }\n"
    static let canonical = "mlinfra: 1\nproject: e2e\nproviders:\n  disk: { dir: objects, latency: 0s }\nresources:\n  # one item\n  item.a: { size: 1, label: one }\n"

    @Test func checkReportsDiffShowsAndPlainFmtWrites() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", Self.messy)
        let check = try await h.run("fmt", "--check")
        #expect(check.status == 3 && check.out == "main.yaml\n", "\(check.status) \(check.out)\(check.err)")
        #expect(h.read("main.yaml") == Self.messy, "--check wrote the file")

        let diff = try await h.run("fmt", "--check", "--diff")
        #expect(diff.out.contains("--- main.yaml\n+++ main.yaml (formatted)\n@@ -1,7 +1,7 @@\n mlinfra: 1\n-project:   e2e\n+project: e2e\n"), "\(diff.out)")
        #expect(diff.out.contains("-    disk: {dir: objects,latency: 0s}\n+  disk: { dir: objects, latency: 0s }\n"), "\(diff.out)")

        let write = try await h.run("fmt")
        #expect(write.status == 0 && write.out == "main.yaml\n", "\(write.out)\(write.err)")
        #expect(h.read("main.yaml") == Self.canonical)
        #expect(try await h.run("fmt", "--check").status == 0)
        // The formatted spec is the same spec: nothing to change after applying the original.
        #expect(try await h.run("validate").status == 0)
    }

    @Test func recursiveFormatsSubdirectoriesAndABrokenFileIsLeftAndNamed() async throws {
        let h = try CLIHarness()
        try h.write("main.yaml", Self.canonical)
        try FileManager.default.createDirectory(at: h.directory.appendingPathComponent("modules/serving"), withIntermediateDirectories: true)
        try h.write("modules/serving/main.yaml", "a:\n    b: 1\n")
        try h.write("modules/broken.yaml", "a: [1, 2\n")
        let flat = try await h.run("fmt", "--check")
        #expect(flat.status == 0, "without -recursive only the directory itself: \(flat.out)\(flat.err)")
        let r = try await h.run("fmt", "-recursive")
        #expect(r.status == 1, "\(r.out)\(r.err)")
        #expect(r.out.contains("modules/serving/main.yaml"), "\(r.out)")
        #expect(r.err.contains("modules/broken.yaml") && r.err.contains("modules/broken.yaml:1:"), "\(r.err)")
        #expect(h.read("modules/serving/main.yaml") == "a:\n  b: 1\n")
        #expect(h.read("modules/broken.yaml") == "a: [1, 2\n", "a file that does not parse was changed")
        let missing = try await h.run("fmt", "nowhere")
        #expect(missing.status == 1 && missing.err.contains("nowhere: no such file or directory"), "\(missing.err)")
    }
}
