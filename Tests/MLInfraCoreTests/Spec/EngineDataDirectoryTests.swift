import Foundation
import Testing

@testable import MLInfraCore

@Suite struct EngineDataDirectoryTests {
    func scratch() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("edd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("spec"), withIntermediateDirectories: true)
        return dir
    }

    @Test func flagWinsAndIsRelativeToTheSpecDirectory() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try "mlinfra: 1\nproject: p\nproviders:\n  local: { data_dir: from-spec }\n".write(
            to: dir.appendingPathComponent("spec/main.yaml"), atomically: true, encoding: .utf8)
        let flag = try EngineDataDirectory.resolve(dataDir: "elsewhere", spec: "spec", currentDirectory: dir.path)
        #expect(flag.path == dir.appendingPathComponent("spec/elsewhere").standardizedFileURL.path)
        let absolute = try EngineDataDirectory.resolve(dataDir: "/srv/x", spec: "spec", currentDirectory: dir.path)
        #expect(absolute.path == "/srv/x")
    }

    @Test func specDataDirIsReadWithVariables() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        try """
            mlinfra: 1
            project: p
            variables:
              root: { type: string, default: engines }
            providers:
              local: { data_dir: "var/${var.root}" }
            """.write(to: dir.appendingPathComponent("spec/main.yaml"), atomically: true, encoding: .utf8)
        let fromSpec = try EngineDataDirectory.resolve(dataDir: nil, spec: "spec/main.yaml", environment: [:], currentDirectory: dir.path)
        #expect(fromSpec.path == dir.appendingPathComponent("spec/var/engines").standardizedFileURL.path)
        let fromEnv = try EngineDataDirectory.resolve(
            dataDir: nil, spec: "spec", environment: ["MLINFRA_VAR_root": "other"], currentDirectory: dir.path)
        #expect(fromEnv.path == dir.appendingPathComponent("spec/var/other").standardizedFileURL.path)
        // The current directory is the spec when it holds YAML files.
        let cwd = try EngineDataDirectory.resolve(dataDir: nil, spec: nil, environment: [:], currentDirectory: dir.appendingPathComponent("spec").path)
        #expect(cwd.path == fromSpec.path)
    }

    @Test func defaultsAndBrokenSpecs() throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(at: dir) }
        // No spec anywhere: .mlinfra in the current directory.
        #expect(try EngineDataDirectory.resolve(dataDir: nil, spec: nil, currentDirectory: dir.path).path
            == dir.appendingPathComponent(".mlinfra").standardizedFileURL.path)
        // A spec without data_dir: .mlinfra beside it.
        try "mlinfra: 1\nproject: p\n".write(to: dir.appendingPathComponent("spec/main.yaml"), atomically: true, encoding: .utf8)
        #expect(try EngineDataDirectory.resolve(dataDir: nil, spec: "spec", currentDirectory: dir.path).path
            == dir.appendingPathComponent("spec/.mlinfra").standardizedFileURL.path)
        // A broken spec is an error that says to fix it or pass --data-dir.
        try "mlinfra: 1\nproject: [unclosed\n".write(to: dir.appendingPathComponent("spec/main.yaml"), atomically: true, encoding: .utf8)
        #expect {
            try EngineDataDirectory.resolve(dataDir: nil, spec: "spec", currentDirectory: dir.path)
        } throws: { "\($0)".contains("pass --data-dir") && "\($0)".contains("main.yaml") }
    }
}
