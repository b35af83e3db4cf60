import Foundation
import Testing

/// Every YAML example in the README, `docs/` and the providers' READMEs is a spec (or the part
/// of one it says) that `validate` accepts as written: a user who copies it gets no error but for
/// the files it names, which are theirs to supply. A block that is not a spec says why in an
/// HTML comment right above it: `<!-- example: not a spec (REASON) -->`.
@Suite struct DocumentedExamplesTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    struct Example: Sendable, CustomTestStringConvertible {
        var file: String
        var line: Int
        var text: String
        var testDescription: String { "\(file):\(line)" }
    }

    static var documents: [String] {
        var paths = ["README.md"]
        let fm = FileManager.default
        if let walker = fm.enumerator(atPath: repository.appendingPathComponent("docs").path) {
            paths += walker.compactMap { $0 as? String }.filter { $0.hasSuffix(".md") }.map { "docs/\($0)" }
        }
        let providers = (try? fm.contentsOfDirectory(atPath: repository.appendingPathComponent("providers").path)) ?? []
        paths += providers.map { "providers/\($0)/README.md" }.filter { fm.fileExists(atPath: repository.appendingPathComponent($0).path) }
        paths.append("providers/README.md")
        return paths.sorted()
    }

    /// The ```yaml blocks of every document, but those marked as not a spec.
    static var examples: [Example] {
        var out: [Example] = []
        for path in documents {
            guard let text = try? String(contentsOf: repository.appendingPathComponent(path), encoding: .utf8) else { continue }
            let lines = text.components(separatedBy: "\n")
            var i = 0
            while i < lines.count {
                defer { i += 1 }
                guard lines[i].trimmingCharacters(in: .whitespaces) == "```yaml" else { continue }
                let marked = (i > 0 && lines[i - 1].hasPrefix("<!-- example: not a spec ("))
                let start = i + 1
                var end = start
                while end < lines.count && lines[end].trimmingCharacters(in: .whitespaces) != "```" { end += 1 }
                if !marked { out.append(Example(file: path, line: start, text: lines[start..<end].joined(separator: "\n"))) }
                i = end
            }
        }
        return out
    }

    @Test func theDocumentsHaveExamples() {
        #expect(Self.examples.count >= 4, "\(Self.examples.map(\.testDescription))")
        #expect(Self.examples.contains { $0.file == "README.md" } && Self.examples.contains { $0.file == "docs/monitoring.md" })
    }

    @Test(arguments: examples) func eachExampleValidates(_ example: Example) async throws {
        // The shipped binary: it has the postgres backend that the team-mode example names.
        let h = try CLIHarness(binary: CLIHarness.productsDirectory.appendingPathComponent("mlinfra").path)
        // A part of a spec gets the two lines every spec starts with.
        var spec = example.text
        if !spec.contains("mlinfra: 1") { spec = "mlinfra: 1\nproject: docs-example\n" + spec }
        try h.write("main.yaml", spec)
        // Variables without a default get a value, as a user would pass one.
        var env: [String: String] = [:]
        for name in ["pg_url"] { env["MLINFRA_VAR_\(name)"] = "postgres://docs@127.0.0.1:9/docs" }
        for name in ["alert_token"] { env["MLINFRA_VAR_\(name)"] = "docs-example" }
        let r = try await h.run(["validate", "--no-color", "--format", "json"], env: env)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any], "\(r.out)\(r.err)")
        let diagnostics = (document["diagnostics"] as? [[String: Any]]) ?? []
        for d in diagnostics where d["severity"] as? String == "error" {
            let summary = d["summary"] as? String ?? ""
            // The files an example names are the user's: only their absence may be reported.
            let named = summary.contains("file not found: ") && example.text.contains(summary.components(separatedBy: "file not found: ")[1].components(separatedBy: " ")[0])
            #expect(named, "\(example.file):\(example.line): \(summary) — \(d["detail"] as? String ?? "")")
        }
    }
}
