import Foundation
import ModelRegistry
import ModelRegistryTesting
import Testing

/// A version registered from a directory (an MLflow model folder), on SQLite and PostgreSQL:
/// addressed by a hash over its sorted entries, exported file for file with every file checked,
/// and refused where one file is expected.
@Suite struct DirectoryVersionTests {
    /// An MLflow-shaped model folder under `root/name`.
    static func folder(_ root: URL, _ name: String, model: String = #"{"learner": {}}"#) throws -> URL {
        let dir = root.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("code"), withIntermediateDirectories: true)
        try Data("flavors:\n  xgboost: {model_data: model.xgb}\n".utf8).write(to: dir.appendingPathComponent("MLmodel"))
        try Data(model.utf8).write(to: dir.appendingPathComponent("model.xgb"))
        try Data("xgboost==3.2.0\n".utf8).write(to: dir.appendingPathComponent("requirements.txt"))
        try Data("#!/bin/sh\necho hi\n".utf8).write(to: dir.appendingPathComponent("code/run.sh"))
        chmod(dir.appendingPathComponent("code/run.sh").path, 0o755)
        return dir
    }

    static func files(_ dir: URL) -> [String: Data] {
        var out: [String: Data] = [:]
        let walker = FileManager.default.enumerator(atPath: dir.path)
        while let relative = walker?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: dir.appendingPathComponent(relative).path, isDirectory: &isDirectory)
            if !isDirectory.boolValue { out[relative] = FileManager.default.contents(atPath: dir.appendingPathComponent(relative).path) }
        }
        return out
    }

    @Test(arguments: RegistryBackend.allCases) func aDirectoryIsRegisteredByItsManifestAndExportedFileForFile(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let dir = try Self.folder(f.root, "model")
        let v = try f.registry.register(RegistrationRequest(model: "churn", artifact: dir, format: "mlflow"), context: .command())
        #expect(v.kind == .directory)
        #expect(v.size == Int64(Self.files(dir).values.reduce(0) { $0 + $1.count }))
        #expect(try ModelRegistry.sha256(ofArtifact: dir) == v.sha256, "plan time computes the sha256 registration records")

        let resolved = try f.reopen().resolve("models:/churn/1")
        #expect(resolved.kind == .directory)
        let out = f.root.appendingPathComponent("exported")
        let size = try f.registry.exportArtifact(resolved, to: out)
        #expect(size == v.size)
        #expect(Self.files(out) == Self.files(dir))
        let mode = try FileManager.default.attributesOfItem(atPath: out.appendingPathComponent("code/run.sh").path)[.posixPermissions] as? Int
        #expect(mode == 0o755)
        #expect(throws: RegistryError.self) { try f.registry.loadArtifact(resolved) }
        #expect(throws: RegistryError.self) { try f.registry.exportArtifact(resolved, to: out) }  // it exists now
    }

    @Test func theHashIsOverTheSortedEntriesNotTheirOrderOrTimes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("dirhash-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let a = try Self.folder(root, "a")
        let b = try Self.folder(root, "b")
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 0)], ofItemAtPath: b.appendingPathComponent("MLmodel").path)
        #expect(try ModelRegistry.sha256(ofArtifact: a) == ModelRegistry.sha256(ofArtifact: b))
        try Data("xgboost==3.2.1\n".utf8).write(to: b.appendingPathComponent("requirements.txt"))
        #expect(try ModelRegistry.sha256(ofArtifact: a) != ModelRegistry.sha256(ofArtifact: b), "a file's bytes")
        let c = try Self.folder(root, "c")
        try FileManager.default.moveItem(at: c.appendingPathComponent("MLmodel"), to: c.appendingPathComponent("MLmodel.yaml"))
        #expect(try ModelRegistry.sha256(ofArtifact: a) != ModelRegistry.sha256(ofArtifact: c), "a file's name")
        let d = try Self.folder(root, "d")
        chmod(d.appendingPathComponent("code/run.sh").path, 0o644)
        #expect(try ModelRegistry.sha256(ofArtifact: a) != ModelRegistry.sha256(ofArtifact: d), "a file's executable bit")
    }

    @Test(arguments: RegistryBackend.allCases) func aTamperedFileOfADirectoryIsRefusedAndNothingIsWritten(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let dir = try Self.folder(f.root, "model", model: #"{"learner": {"trees": 7}}"#)
        _ = try f.registry.register(RegistrationRequest(model: "churn", artifact: dir, format: "mlflow"), context: .command())
        let modelFile = try ModelRegistry.sha256(ofFile: dir.appendingPathComponent("model.xgb"))
        try f.tamper(sha256: modelFile, with: Data(#"{"learner": {"trees": 8}}"#.utf8))
        #expect { try f.reopen().resolve("models:/churn/1") } throws: { error in
            (error as? RegistryError)?.code == .artifactCorrupted && "\(error)".contains("file model.xgb")
        }
    }

    @Test func symbolicLinksAndEmptyDirectoriesAreRefusedWithTheReason() throws {
        let f = try RegistryFixture()
        let linked = try Self.folder(f.root, "linked")
        try FileManager.default.createSymbolicLink(atPath: linked.appendingPathComponent("passwd").path, withDestinationPath: "/etc/passwd")
        #expect { try f.registry.register(RegistrationRequest(model: "m", artifact: linked), context: .command()) } throws: {
            "\($0)".contains("not a regular file")
        }
        let empty = f.root.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        #expect { try f.registry.register(RegistrationRequest(model: "m", artifact: empty), context: .command()) } throws: {
            "\($0)".contains("holds no files")
        }
        #expect(try f.registry.model("m") == nil, "nothing was registered")
    }
}
