import Foundation
import Testing
import MLInfraJSON
@testable import VectorIndex

@Suite struct SearchTests {
    @Test(arguments: Metric.allCases)
    func exactSearchMatchesBruteForce(metric: Metric) throws {
        let records = makeRecords(randomVectors(600, dimension: 20))
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 20, metric: metric, hnsw: nil))
        try collection.upsert(records)
        for query in randomVectors(15, dimension: 20, seed: 99) {
            let result = try collection.query(query, k: 7)
            #expect(result.strategy == .exact)
            #expect(result.matches.map(\.id) == bruteForce(records, query, k: 7, metric: metric))
        }
    }

    @Test func batchedExactSearchMatchesSingleQueries() throws {
        let records = makeRecords(randomVectors(1_500, dimension: 33))
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 33, metric: .l2, hnsw: nil))
        try collection.upsert(records)
        let queries = randomVectors(9, dimension: 33, seed: 5)
        let batched = try collection.exactSearch(queries, k: 5)
        for (query, matches) in zip(queries, batched) {
            #expect(matches.map(\.id) == bruteForce(records, query, k: 5, metric: .l2))
            let first = records.first { $0.id == matches[0].id }!
            let d = zip(first.vector, query).reduce(Float(0)) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            #expect(abs(matches[0].distance - d) < 1e-3)
        }
    }

    @Test(arguments: Metric.allCases)
    func hnswRecallOnRandomData(metric: Metric) throws {
        let records = makeRecords(randomVectors(1_000, dimension: 12))
        let collection = try VectorCollection(
            name: "c", config: CollectionConfig(dimension: 12, metric: metric, hnsw: HNSWParameters(m: 10, efConstruction: 80, efSearch: 64)))
        try collection.upsert(records)
        var total = 0.0
        let queries = randomVectors(30, dimension: 12, seed: 11)
        for query in queries {
            let result = try collection.query(query, k: 10)
            #expect(result.strategy == .hnsw)
            total += recallAt(result.matches.map(\.id), bruteForce(records, query, k: 10, metric: metric))
        }
        #expect(total / Double(queries.count) >= 0.95)
        #expect(collection.unreachableRecordCount() == 0)
    }

    @Test func parallelBuildGivesAGoodGraph() throws {
        let records = makeRecords(randomVectors(2_000, dimension: 10, seed: 3))
        let collection = try VectorCollection(
            name: "c", config: CollectionConfig(dimension: 10, metric: .l2, hnsw: HNSWParameters(m: 8, efConstruction: 64)), buildThreads: 2)
        try collection.upsert(records)
        #expect(collection.count == 2_000)
        var total = 0.0
        for query in randomVectors(30, dimension: 10, seed: 12) {
            total += recallAt(try collection.query(query, k: 10, ef: 80).matches.map(\.id), bruteForce(records, query, k: 10, metric: .l2))
        }
        #expect(total / 30 >= 0.95)
        #expect(collection.unreachableRecordCount() == 0)
    }

    @Test func queryReturnsMetadataDocumentsAndSortedDistances() throws {
        let records = makeRecords(randomVectors(200, dimension: 8))
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 8))
        try collection.upsert(records)
        let result = try collection.query(records[17].vector, k: 5)
        #expect(result.matches[0].id == "r17")
        #expect(result.matches[0].distance < 1e-5)
        #expect(result.matches[0].document == "document 17")
        #expect(result.matches[0].metadata["colour"] == .string("green"))
        #expect(result.matches.map(\.distance) == result.matches.map(\.distance).sorted())
    }

    @Test func upsertReplacesByIdAndGetReturnsWhatWasStored() throws {
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 3, metric: .cosine))
        try collection.upsert([VectorRecord(id: "a", vector: [3, 0, 4], metadata: ["k": .string("v1")])])
        try collection.upsert([VectorRecord(id: "a", vector: [0, 2, 0], metadata: ["k": .string("v2")], document: "doc")])
        #expect(collection.count == 1)
        let got = collection.get(ids: ["a", "missing"])
        #expect(got.count == 1)
        #expect(got[0].metadata["k"] == .string("v2"))
        #expect(got[0].document == "doc")
        #expect(zip(got[0].vector, [0, 2, 0] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(try collection.query([0, 1, 0], k: 3).matches.map(\.id) == ["a"])
    }
}
