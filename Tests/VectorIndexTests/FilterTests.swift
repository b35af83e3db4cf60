import Foundation
import Testing
import MLInfraJSON
@testable import VectorIndex

@Suite struct FilterTests {
    static let records = makeRecords(randomVectors(400, dimension: 8))

    static func ids(_ filter: String) throws -> Set<String> {
        let f = try WhereFilter.parse(json: filter)
        return Set(records.filter { f.matches($0.metadata) }.map(\.id))
    }

    static func expected(_ predicate: (Int) -> Bool) -> Set<String> {
        Set((0..<400).filter(predicate).map { "r\($0)" })
    }

    @Test func everyOperatorSelectsTheRightRecords() throws {
        #expect(try Self.ids(#"{"colour": "red"}"#) == Self.expected { $0 % 4 == 0 })
        #expect(try Self.ids(#"{"colour": {"$eq": "blue"}}"#) == Self.expected { $0 % 4 == 2 })
        #expect(try Self.ids(#"{"colour": {"$ne": "blue"}}"#) == Self.expected { $0 % 4 != 2 })
        #expect(try Self.ids(#"{"i": {"$gt": 390}}"#) == Self.expected { $0 > 390 })
        #expect(try Self.ids(#"{"i": {"$gte": 390}}"#) == Self.expected { $0 >= 390 })
        #expect(try Self.ids(#"{"price": {"$lt": 1.5}}"#) == Self.expected { Double($0) / 10 < 1.5 })
        #expect(try Self.ids(#"{"price": {"$lte": 1.5}}"#) == Self.expected { Double($0) / 10 <= 1.5 })
        #expect(try Self.ids(#"{"i": {"$in": [1, 2, 300]}}"#) == ["r1", "r2", "r300"])
        #expect(try Self.ids(#"{"colour": {"$nin": ["red", "green"]}}"#) == Self.expected { $0 % 4 >= 2 })
        #expect(try Self.ids(#"{"$and": [{"colour": "red"}, {"i": {"$lt": 20}}]}"#) == Self.expected { $0 % 4 == 0 && $0 < 20 })
        #expect(try Self.ids(#"{"$or": [{"i": 5}, {"i": {"$gte": 398}}]}"#) == ["r5", "r398", "r399"])
        #expect(try Self.ids(#"{"even": true}"#) == Self.expected { $0 % 2 == 0 })
        #expect(try Self.ids(#"{"tags": "fizz"}"#) == Self.expected { $0 % 3 == 0 })
        #expect(try Self.ids(#"{"tags": {"$in": ["y"]}}"#) == Self.expected { $0 % 3 != 0 })
        #expect(try Self.ids(#"{"i": 7.0}"#) == ["r7"], "an int field equals a float with the same value")
        #expect(try Self.ids(#"{"colour": "red", "i": {"$lt": 9}}"#) == ["r0", "r4", "r8"], "fields side by side are joined by $and")
    }

    @Test func missingFieldsMatchOnlyNegations() throws {
        #expect(try Self.ids(#"{"nothing": "x"}"#).isEmpty)
        #expect(try Self.ids(#"{"nothing": {"$ne": "x"}}"#).count == 400)
        #expect(try Self.ids(#"{"nothing": {"$nin": ["x"]}}"#).count == 400)
        #expect(try Self.ids(#"{"nothing": {"$gt": 1}}"#).isEmpty)
        #expect(try Self.ids(#"{"colour": {"$gt": 1}}"#).isEmpty, "ordering a string against a number matches nothing")
    }

    @Test(arguments: [
        (#"{"i": {"$between": 3}}"#, "where.i.$between"),
        (#"{"$not": [{"i": 1}]}"#, "where.$not"),
        (#"{"i": {"$gt": "a"}}"#, "where.i.$gt"),
        (#"{"i": {"$in": []}}"#, "where.i.$in"),
        (#"{"$and": [{"i": 1}, 3]}"#, "where.$and[1]"),
        (#"{"i": [1, 2]}"#, "where.i"),
        (#"[1]"#, "where"),
        (#"{"i": "#, "where"),
        ("{}", "where"),
    ])
    func badFiltersAreRefusedNamingThePath(json: String, field: String) {
        let error = #expect(throws: VectorError.self) { try WhereFilter.parse(json: json) }
        #expect(error?.field == field)
    }

    @Test func filteredQueriesReturnOnlyMatchingRecordsClosestFirst() throws {
        let records = makeRecords(randomVectors(2_000, dimension: 8, seed: 21))
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 8, hnsw: HNSWParameters(m: 4, efConstruction: 60)))
        try collection.upsert(records)
        let filter = try WhereFilter.parse(json: #"{"even": true}"#)
        var total = 0.0
        for query in randomVectors(20, dimension: 8, seed: 4) {
            let result = try collection.query(query, k: 10, ef: 40, where: filter)
            #expect(result.strategy == .hnsw, "half the records match: the graph is worth searching")
            #expect(result.matches.count == 10)
            #expect(result.matches.allSatisfy { $0.metadata["even"] == .bool(true) })
            total += recallAt(result.matches.map(\.id), bruteForce(records, query, k: 10, metric: .l2, filter: filter))
        }
        #expect(total / 20 >= 0.95)
    }

    @Test func selectiveFilterFallsBackToExactSearchAndReturnsK() throws {
        var records = makeRecords(randomVectors(1_500, dimension: 8, seed: 8))
        for i in stride(from: 0, to: 1_500, by: 125) { records[i].metadata["rare"] = .bool(true) }
        let collection = try VectorCollection(name: "c", config: CollectionConfig(dimension: 8, hnsw: HNSWParameters(m: 8, efConstruction: 40, efSearch: 10)))
        try collection.upsert(records)
        let filter = try WhereFilter.parse(json: #"{"rare": true}"#)
        let query = randomVectors(1, dimension: 8, seed: 77)[0]
        let result = try collection.query(query, k: 10, where: filter)
        #expect(result.strategy == .filteredExact)
        #expect(result.candidates == 12)
        #expect(result.matches.map(\.id) == bruteForce(records, query, k: 10, metric: .l2, filter: filter))
        let few = try collection.query(query, k: 50, where: filter)
        #expect(few.matches.count == 12, "all matching records when fewer than k match")
        let none = try collection.query(query, k: 5, where: WhereFilter.parse(json: #"{"colour": "purple"}"#))
        #expect(none.matches.isEmpty)
    }
}
