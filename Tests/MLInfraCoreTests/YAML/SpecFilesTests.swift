import Foundation
import MLInfraCore
import Testing

@Suite("Spec files: one file or a directory of YAML files")
struct SpecFilesTests {
    @Test func directoryListsYAMLFilesSortedByName() throws {
        let dir = try makeYAMLTestDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["b.yaml", "a.yml", "C.yaml", "notes.txt", ".hidden.yaml", "x.yaml.bak"] {
            try Data("k: v\n".utf8).write(to: dir.appendingPathComponent(name))
        }
        try FileManager.default.createDirectory(
            at: dir.appendingPathComponent("nested.yaml"), withIntermediateDirectories: true)
        try Data("k: v\n".utf8).write(to: dir.appendingPathComponent("nested.yaml/inner.yaml"))

        let (files, diagnostics) = SpecFiles.list(dir.path)
        #expect(diagnostics.isEmpty)
        #expect(files == ["C.yaml", "a.yml", "b.yaml"].map { dir.path + "/" + $0 })
        let (withSlash, _) = SpecFiles.list(dir.path + "/")
        #expect(withSlash == files)
    }

    @Test func singleFileIsTheSpec() throws {
        let dir = try makeYAMLTestDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("spec.conf").path
        try Data("k: v\n".utf8).write(to: URL(fileURLWithPath: file))
        let (files, diagnostics) = SpecFiles.list(file)
        #expect(diagnostics.isEmpty)
        #expect(files == [file])
    }

    @Test func emptyDirectoryIsAnError() throws {
        let dir = try makeYAMLTestDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (files, diagnostics) = SpecFiles.list(dir.path)
        #expect(files.isEmpty)
        #expect(diagnostics.errors.first?.summary == "the spec directory \(dir.path) has no *.yaml or *.yml files")
    }

    /// Skipping such a file would plan to destroy every resource it declares.
    @Test func aSpecFileThatCannotBeReadIsAnErrorNotSkipped() throws {
        let dir = try makeYAMLTestDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("k: v\n".utf8).write(to: dir.appendingPathComponent("main.yaml"))
        try FileManager.default.createSymbolicLink(
            atPath: dir.appendingPathComponent("models.yaml").path, withDestinationPath: dir.appendingPathComponent("gone.yaml").path)
        #expect(mkfifo(dir.appendingPathComponent("pipe.yml").path, 0o600) == 0)
        let (files, diagnostics) = SpecFiles.list(dir.path)
        #expect(files.isEmpty)
        let summaries = diagnostics.errors.map(\.summary)
        #expect(summaries.contains { $0.hasPrefix("cannot read the spec file \(dir.path)/models.yaml") }, "\(summaries)")
        #expect(summaries.contains("the spec file \(dir.path)/pipe.yml is not a regular file"), "\(summaries)")
        let (document, loaded) = SpecLoader.load(path: dir.path)
        #expect(document == nil)
        #expect(loaded.hasErrors)
    }

    @Test func missingPathIsAnError() {
        let (files, diagnostics) = SpecFiles.list("/nonexistent/spec")
        #expect(files.isEmpty)
        #expect(diagnostics.errors.first?.summary.hasPrefix("cannot read the spec /nonexistent/spec") == true)
    }

    @Test func loadReadsEveryFileAndKeepsEachFilesLocations() throws {
        let dir = try makeYAMLTestDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("a: 1\n".utf8).write(to: dir.appendingPathComponent("1-main.yaml"))
        try Data("# nothing yet\n".utf8).write(to: dir.appendingPathComponent("2-empty.yaml"))
        try Data("b:\n  c: 2\n  c: 3\n".utf8).write(to: dir.appendingPathComponent("3-more.yml"))

        let (documents, diagnostics) = SpecFiles.load(dir.path)
        #expect(documents.map(\.file) == [dir.path + "/1-main.yaml", dir.path + "/3-more.yml"])
        #expect(documents[1].root.node(at: ["b", "c"])?.location == SourceLocation(file: dir.path + "/3-more.yml", line: 2, column: 6))
        #expect(diagnostics.errors.map(\.summary) == ["`c` is already defined at \(dir.path)/3-more.yml:2:3"])
    }
}
