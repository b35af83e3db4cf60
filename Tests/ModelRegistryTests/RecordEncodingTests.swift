import Foundation
import Testing

@testable import ModelRegistry

/// The hand-written audit JSON and tag columns say what JSONEncoder said before them.
@Suite struct RecordEncodingTests {
    static func encoderJSON(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static let awkward = "a \"quoted\" path/with\\back\tslash\n\u{01} é 🚀"

    @Test func snapshotsMatchJSONEncoder() throws {
        let version = VersionRecord(
            model: "m", version: 7, source: "/tmp/" + Self.awkward, sha256: String(repeating: "ab", count: 32), size: 1234,
            format: "xgboost-json", description: Self.awkward, tags: ["z": "last", "a": Self.awkward, "m/k": ""], runId: "run-1",
            dataset: nil, gitCommit: "abc", status: "READY", stage: "None", createdBy: "me", createdAt: 1, updatedAt: 2)
        #expect(VersionSnapshot(version).auditJSON == (try Self.encoderJSON(VersionSnapshot(version))))
        let model = ModelRecord(
            name: "m", description: Self.awkward, tags: ["team": "risk", "b": "2"], protectedAliases: ["production", "a\"b"],
            lastVersion: 3, createdAt: 1, updatedAt: 2)
        #expect(ModelSnapshot(model).auditJSON == (try Self.encoderJSON(ModelSnapshot(model))))
        #expect(AliasSnapshot(version: 12).auditJSON == (try Self.encoderJSON(AliasSnapshot(version: 12))))
        #expect(StageSnapshot(stage: "Production").auditJSON == (try Self.encoderJSON(StageSnapshot(stage: "Production"))))
        #expect(ModelSnapshot(ModelRecord(name: "e", description: "", tags: [:], protectedAliases: [], lastVersion: 0, createdAt: 0, updatedAt: 0)).auditJSON
            == #"{"description":"","protected_aliases":[],"tags":{}}"#)
    }

    @Test func tagsAndListsReadBackThroughTheRegistry() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reg-enc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let registry = try ModelRegistry(directory: dir)
        let context = ChangeContext(actor: "t", origin: .command)
        try registry.createModel("m", description: Self.awkward, tags: ["k": Self.awkward], protectedAliases: ["production"], context: context)
        let artifact = dir.appendingPathComponent("a.bin")
        try Data("bytes".utf8).write(to: artifact)
        let v = try registry.register(RegistrationRequest(model: "m", artifact: artifact, format: "file", tags: ["x/y": Self.awkward]), context: context)
        let read = try #require(try registry.version("m", v.version))
        #expect(read.tags == ["x/y": Self.awkward])
        #expect(read == v)
        let model = try #require(try registry.model("m"))
        #expect(model.tags == ["k": Self.awkward])
        #expect(model.protectedAliases == ["production"])
    }
}
