import Foundation
import Testing
import MLInfraJSON
@testable import VectorIndex

@Suite struct RefusalTests {
    let collection = try! VectorCollection(name: "docs", config: CollectionConfig(dimension: 4, metric: .cosine))

    @Test func wrongDimensionIsRefusedNamingTheRecord() throws {
        try collection.upsert([VectorRecord(id: "ok", vector: [1, 0, 0, 0])])
        let error = #expect(throws: VectorError.self) {
            try collection.upsert([VectorRecord(id: "a", vector: [1, 2, 3, 4]), VectorRecord(id: "b", vector: [1, 2, 3])])
        }
        #expect(error?.field == "records[1].vector")
        #expect(error?.description.contains("has 3 components, but collection 'docs' has dimension 4") == true)
        #expect(collection.count == 1, "a refused batch changes nothing")
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteComponentsAreRefused(bad: Float) throws {
        let error = #expect(throws: VectorError.self) {
            try collection.upsert([VectorRecord(id: "a", vector: [1, bad, 0, 0])])
        }
        #expect(error?.field == "records[0].vector[1]")
        #expect(error?.message.contains("finite") == true)
        let queryError = #expect(throws: VectorError.self) { try collection.query([bad, 0, 0, 0]) }
        #expect(queryError?.field == "vector[0]")
    }

    /// Float distances of such vectors overflow to infinity and order neighbours wrongly.
    @Test func magnitudesTooLargeForFloatDistancesAreRefused() {
        let huge: Float = 1e19
        let error = #expect(throws: VectorError.self) { try collection.upsert([VectorRecord(id: "a", vector: [huge, 0, 0, 0])]) }
        #expect(error?.field == "records[0].vector")
        #expect(error?.message.contains("magnitude") == true)
        let queryError = #expect(throws: VectorError.self) { try collection.query([huge, huge, 0, 0]) }
        #expect(queryError?.field == "vector")
    }

    @Test func largeButAllowedMagnitudesKeepTheirNeighbours() throws {
        let l2 = try VectorCollection(name: "big", config: CollectionConfig(dimension: 2, metric: .l2))
        let scale: Float = 1e18
        try l2.upsert([
            VectorRecord(id: "near", vector: [1 * scale, 1 * scale]), VectorRecord(id: "far", vector: [-1 * scale, -1 * scale]),
            VectorRecord(id: "mid", vector: [1 * scale, -1 * scale]),
        ])
        #expect(try l2.query([0.9 * scale, 0.8 * scale], k: 3).matches.map(\.id) == ["near", "mid", "far"])
    }

    @Test func zeroVectorIsRefusedForCosine() {
        let error = #expect(throws: VectorError.self) { try collection.upsert([VectorRecord(id: "z", vector: [0, 0, 0, 0])]) }
        #expect(error?.message.contains("cosine") == true)
    }

    @Test func duplicateAndEmptyIdsAreRefused() {
        let dup = #expect(throws: VectorError.self) {
            try collection.upsert([VectorRecord(id: "a", vector: [1, 0, 0, 0]), VectorRecord(id: "a", vector: [0, 1, 0, 0])])
        }
        #expect(dup?.field == "records[1].id")
        let empty = #expect(throws: VectorError.self) { try collection.upsert([VectorRecord(id: "", vector: [1, 0, 0, 0])]) }
        #expect(empty?.field == "records[0].id")
    }

    @Test func badKAndSettingsAreRefused() {
        #expect(throws: VectorError.invalidField("k", "must be between 1 and 10000, got 0")) { try collection.query([1, 0, 0, 0], k: 0) }
        let bad = #expect(throws: VectorError.self) {
            try VectorCollection(name: "x", config: CollectionConfig(dimension: 0))
        }
        #expect(bad?.field == "dimension")
        let badM = #expect(throws: VectorError.self) {
            try VectorCollection(name: "x", config: CollectionConfig(dimension: 4, hnsw: HNSWParameters(m: 1)))
        }
        #expect(badM?.field == "hnsw.m")
    }
}
