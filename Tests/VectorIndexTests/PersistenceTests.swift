import Foundation
import Testing
import MLInfraJSON
@testable import VectorIndex

@Suite struct PersistenceTests {
    let config = CollectionConfig(dimension: 8, metric: .cosine, hnsw: HNSWParameters(m: 6, efConstruction: 40, efSearch: 32))

    @Test func reopeningLoadsTheSavedGraphWithoutRebuilding() throws {
        let dir = temporaryDirectory()
        let records = makeRecords(randomVectors(800, dimension: 8, seed: 71))
        let query = randomVectors(1, dimension: 8, seed: 72)[0]
        let before: [String]
        do {
            let store = try VectorStore(directory: dir, buildThreads: 1)
            let collection = try store.createCollection("docs", config: config)
            try collection.upsert(records)
            try collection.delete(ids: ["r0", "r1"])
            try store.saveIndexes()
            before = try collection.query(query, k: 10).matches.map(\.id)
        }
        #expect(FileManager.default.fileExists(atPath: dir + "/index/docs.hnsw"))
        let store = try VectorStore(directory: dir, buildThreads: 1)
        let collection = try store.collection("docs")
        #expect(store.notes.isEmpty, "the index file matched: no rebuild")
        #expect(collection.count == 798)
        #expect(collection.config == config)
        #expect(try collection.query(query, k: 10).matches.map(\.id) == before, "the same graph answers the same")
        #expect(collection.get(ids: ["r5"]).first?.metadata["colour"] == .string("green"))
        #expect(collection.get(ids: ["r0"]).isEmpty)
        #expect(collection.unreachableRecordCount() == 0)
        #expect(try store.listCollections().map(\.count) == [798])
    }

    @Test func aWriteAfterTheLastSaveIsKeptAndTheGraphRebuilt() throws {
        let dir = temporaryDirectory()
        let records = makeRecords(randomVectors(300, dimension: 8, seed: 73))
        do {
            let store = try VectorStore(directory: dir, buildThreads: 1)
            let collection = try store.createCollection("docs", config: config)
            try collection.upsert(Array(records.prefix(200)))
            try store.saveIndexes()
            // As if the process died after this write, before the next index save.
            try collection.upsert(Array(records.suffix(100)))
        }
        let store = try VectorStore(directory: dir, buildThreads: 1)
        let collection = try store.collection("docs")
        #expect(collection.count == 300)
        #expect(store.notes.count == 1)
        #expect(store.notes.first?.contains("rebuilt the graph from 300 records") == true)
        #expect(store.notes.first?.contains("write 1 but the records are at write 2") == true)
        #expect(try collection.query(records[250].vector, k: 1).matches[0].id == "r250")
        try store.saveIndexes()
        let again = try VectorStore(directory: dir, buildThreads: 1)
        _ = try again.collection("docs")
        #expect(again.notes.isEmpty)
    }

    @Test func aCorruptIndexFileIsDetectedAndRebuilt() throws {
        let dir = temporaryDirectory()
        do {
            let store = try VectorStore(directory: dir, buildThreads: 1)
            try store.createCollection("docs", config: config).upsert(makeRecords(randomVectors(100, dimension: 8, seed: 74)))
            try store.saveIndexes()
        }
        let path = dir + "/index/docs.hnsw"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))
        let store = try VectorStore(directory: dir, buildThreads: 1)
        #expect(try store.collection("docs").count == 100)
        #expect(store.notes.first?.contains("checksum") == true)
    }

    @Test func exactCollectionsPersistWithoutAnIndexFile() throws {
        let dir = temporaryDirectory()
        let records = makeRecords(randomVectors(50, dimension: 4, seed: 75))
        do {
            let store = try VectorStore(directory: dir)
            try store.createCollection("flat", config: CollectionConfig(dimension: 4, metric: .l2, hnsw: nil)).upsert(records)
            try store.saveIndexes()
        }
        let store = try VectorStore(directory: dir)
        let result = try store.collection("flat").query(records[3].vector, k: 2)
        #expect(result.strategy == .exact)
        #expect(result.matches[0].id == "r3")
        #expect(!FileManager.default.fileExists(atPath: dir + "/index/flat.hnsw"))
    }

    @Test func createDropAndRefusals() throws {
        let store = try VectorStore(directory: temporaryDirectory())
        try store.createCollection("a", config: config)
        let conflict = #expect(throws: VectorError.self) {
            try store.createCollection("a", config: CollectionConfig(dimension: 9, metric: .cosine))
        }
        #expect(conflict?.code == .conflict)
        #expect(conflict?.message.contains("dimension 8") == true)
        #expect(throws: VectorError.self) { try store.createCollection("../evil", config: config) }
        let missing = #expect(throws: VectorError.self) { try store.collection("b") }
        #expect(missing?.code == .notFound)
        #expect(missing?.message.contains("known collections: a") == true)
        try store.dropCollection("a")
        #expect(try store.listCollections().isEmpty)
    }

    @Test func settingsChangesPersist() throws {
        let dir = temporaryDirectory()
        do {
            let store = try VectorStore(directory: dir, buildThreads: 1)
            let c = try store.createCollection("docs", config: config)
            try c.upsert(makeRecords(randomVectors(100, dimension: 8, seed: 76)))
            try store.createCollection("docs", config: CollectionConfig(dimension: 8, metric: .cosine, hnsw: HNSWParameters(m: 10, efConstruction: 40, efSearch: 32)))
            try store.saveIndexes()
        }
        let store = try VectorStore(directory: dir, buildThreads: 1)
        #expect(try store.collection("docs").config.hnsw?.m == 10)
        #expect(store.notes.isEmpty)
    }
}
