import ArgumentParser
import Foundation
import MLInfraCore
import Testing
import MLInfraJSON
import MLInfraTesting
import VectorIndex
@testable import VectorProvider

@Suite struct VectorsCommandTests {
    let dir = NSTemporaryDirectory() + "vectors-cli-\(UUID().uuidString)"

    func makeStore() throws -> VectorStore {
        let store = try VectorStore(directory: VectorStore.directory(dataDir: dir, store: "main"), buildThreads: 1)
        try store.createCollection("docs", config: CollectionConfig(dimension: 3, metric: .cosine))
        return store
    }

    func run(_ arguments: [String]) async throws {
        var command = try VectorsCommand.parseAsRoot(arguments)
        if var asyncCommand = command as? any AsyncParsableCommand {
            try await asyncCommand.run()
        } else {
            try command.run()
        }
    }

    @Test func upsertReadsJSONLinesAndSavesTheIndex() async throws {
        _ = try makeStore()
        let file = dir + "/records.jsonl"
        let lines = [
            #"{"id": "a", "vector": [1, 0, 0], "metadata": {"lang": "en"}, "document": "alpha"}"#,
            "",
            #"{"id": "b", "vector": [0, 1, 0], "metadata": {"lang": "de", "tags": ["x", "y"]}}"#,
        ]
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try await run(["upsert", "docs", "--file", file, "--data-dir", dir])
        #expect(FileManager.default.fileExists(atPath: dir + "/vectors/main/index/docs.hnsw"))
        let reopened = try VectorStore(directory: dir + "/vectors/main")
        let docs = try reopened.collection("docs")
        #expect(reopened.notes.isEmpty, "the CLI saved the index after its write")
        #expect(docs.count == 2)
        #expect(docs.get(ids: ["b"]).first?.metadata["tags"] == .strings(["x", "y"]))
        try await run(["delete", "main/docs", "--ids", "a", "--data-dir", dir])
        #expect(try VectorStore(directory: dir + "/vectors/main").collection("docs").count == 1)
    }

    @Test func badLinesAreRefusedWithFileAndLine() async throws {
        _ = try makeStore()
        let file = dir + "/bad.jsonl"
        try "{\"id\": \"a\", \"vector\": [1, 0, 0]}\n{\"id\": \"b\", \"vector\": [1, 0]}\n".write(toFile: file, atomically: true, encoding: .utf8)
        do {
            try await run(["upsert", "docs", "--file", file, "--data-dir", dir])
            Issue.record("expected a refusal")
        } catch let error as CommandFailure {
            #expect(error.message.contains("record 'b'.vector: has 2 components, but collection 'docs' has dimension 3"))
            #expect(error.message.contains("nothing was upserted"))
        }
        try "{\"id\": \"a\", \"vector\": [1, 0, 0]}\n{oops\n".write(toFile: file, atomically: true, encoding: .utf8)
        do {
            try await run(["upsert", "docs", "--file", file, "--data-dir", dir])
            Issue.record("expected a refusal")
        } catch let error as CommandFailure {
            #expect(error.message == "\(file):2: not valid JSON")
        }
        #expect(try VectorStore(directory: dir + "/vectors/main").collection("docs").count == 0)
    }

    @Test func unknownCollectionsAndFiltersAreExplained() async throws {
        _ = try makeStore()
        do {
            try await run(["query", "nope", "--vector", "[1, 0, 0]", "--data-dir", dir])
            Issue.record("expected a refusal")
        } catch let error as CommandFailure {
            #expect(error.message.contains("no collection 'nope'"))
            #expect(error.message.contains("stores: main"))
        }
        do {
            try await run(["query", "docs", "--vector", "[1, 0, 0]", "--where", #"{"n": {"$gt": "x"}}"#, "--data-dir", dir])
            Issue.record("expected a refusal")
        } catch let error as CommandFailure {
            #expect(error.message.hasPrefix("--where.n.$gt: needs a number"))
        }
    }

    @Test func commandsReachAPgvectorStoreThroughURLEnv() async throws {
        let server = try await PostgresTestServer.sharedPgvector()
        let database = try await server.createFreshDatabase("cli")
        let store = try PgVectorStore(configuration: server.configuration(database: database), schema: "team", location: "test database")
        try await store.ensureCollection("docs", config: CollectionConfig(dimension: 3, metric: .cosine))
        let variable = "MLINFRA_TEST_VECTORS_URL_\(UUID().uuidString.prefix(6))"
        setenv(variable, server.url(database: database), 1)
        defer { unsetenv(variable) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let file = dir + "/records.jsonl"
        try [
            #"{"id": "a", "vector": [1, 0, 0], "metadata": {"lang": "en"}}"#,
            #"{"id": "b", "vector": [0, 1, 0], "metadata": {"lang": "de"}}"#,
        ].joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try await run(["upsert", "docs", "--file", file, "--url-env", variable])
        #expect(try await store.count("docs", where: nil) == 2, "NAME alone finds the one schema holding it")
        try await run(["delete", "team/docs", "--ids", "a", "--url-env", variable])
        #expect(try await store.get("docs", ids: ["a", "b"]).map(\.id) == ["b"])
        do {
            try await run(["count", "docs", "--url-env", variable + "_UNSET"])
            Issue.record("expected a refusal")
        } catch let error as CommandFailure {
            #expect(error.message.contains("the environment variable is not set"))
        }
        await store.close()
    }
}
