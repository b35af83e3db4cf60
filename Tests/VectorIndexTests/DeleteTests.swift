import Foundation
import Testing
import MLInfraJSON
@testable import VectorIndex

@Suite struct DeleteTests {
    @Test func deletedRecordsNeverComeBackAndTheRestStayReachable() throws {
        let records = makeRecords(randomVectors(1_200, dimension: 10, seed: 31))
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 10, hnsw: HNSWParameters(m: 8, efConstruction: 60)))
        try collection.upsert(records)
        let doomed = records.indices.filter { $0 % 3 == 0 }.map { "r\($0)" }
        #expect(try collection.delete(ids: doomed + ["never-existed"]) == doomed.count)
        #expect(collection.count == 1_200 - doomed.count)
        #expect(collection.pendingDeletes == 0, "a third deleted: the graph was repaired at once")
        #expect(collection.unreachableRecordCount() == 0)
        let survivors = records.filter { !Set(doomed).contains($0.id) }
        var total = 0.0
        for query in randomVectors(30, dimension: 10, seed: 32) {
            let found = try collection.query(query, k: 10).matches.map(\.id)
            #expect(Set(found).isDisjoint(with: doomed))
            total += recallAt(found, bruteForce(survivors, query, k: 10, metric: .l2))
        }
        #expect(total / 30 >= 0.95)
        // Every surviving record can still be found by its own vector.
        for record in survivors.prefix(200) {
            #expect(try collection.query(record.vector, k: 1, ef: 50).matches.first?.id == record.id)
        }
    }

    @Test func fewDeletesAreMarkedThenPurgedByCompact() throws {
        let records = makeRecords(randomVectors(1_000, dimension: 8, seed: 41))
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 8, hnsw: HNSWParameters(m: 6, efConstruction: 40)))
        try collection.upsert(records)
        try collection.delete(ids: ["r1", "r2", "r3"])
        #expect(collection.pendingDeletes == 3)
        #expect(collection.unreachableRecordCount() == 0)
        #expect(try collection.query(records[2].vector, k: 3).matches.allSatisfy { !["r1", "r2", "r3"].contains($0.id) })
        collection.compact()
        #expect(collection.pendingDeletes == 0)
        #expect(collection.unreachableRecordCount() == 0)
        try collection.upsert([VectorRecord(id: "new", vector: records[2].vector)])
        #expect(try collection.query(records[2].vector, k: 1).matches[0].id == "new", "freed slots are reused")
    }

    @Test func deletingEverythingThenInsertingAgainWorks() throws {
        let records = makeRecords(randomVectors(300, dimension: 8, seed: 51))
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 8, hnsw: HNSWParameters(m: 6, efConstruction: 40)))
        try collection.upsert(records)
        try collection.delete(ids: records.map(\.id))
        #expect(collection.count == 0)
        #expect(try collection.query(records[0].vector, k: 5).matches.isEmpty)
        try collection.upsert(Array(records.prefix(50)))
        #expect(try collection.query(records[7].vector, k: 1).matches[0].id == "r7")
        #expect(collection.unreachableRecordCount() == 0)
    }

    @Test func changingMOrEfConstructionRebuildsKeepingRecords() throws {
        let records = makeRecords(randomVectors(500, dimension: 8, seed: 61))
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 8, hnsw: HNSWParameters(m: 6, efConstruction: 40)))
        try collection.upsert(records)
        #expect(try collection.updateIndex(HNSWParameters(m: 6, efConstruction: 40, efSearch: 99)) == false)
        #expect(collection.config.hnsw?.efSearch == 99)
        #expect(try collection.updateIndex(HNSWParameters(m: 10, efConstruction: 40, efSearch: 99)) == true)
        #expect(collection.count == 500)
        #expect(try collection.query(records[9].vector, k: 1).matches[0].id == "r9")
        #expect(try collection.updateIndex(nil) == true)
        #expect(try collection.query(records[9].vector, k: 1).strategy == .exact)
    }
}
