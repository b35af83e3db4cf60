import Foundation
import Testing

@testable import FeatureStore

/// The point-in-time rule at its edges, on small hand-made files.
@Suite struct PointInTimeTests {
    static let header = "customer_id,event_timestamp,created_timestamp,total_spend,txn_count,avg_basket\n"

    static func join(
        _ features: String, entities: String, ttl: Int64 = 0, created: String? = "created_timestamp",
        refs: [String] = ["customer_stats:total_spend"], full: Bool = false, format: HistoricalFormat = .csv, keyType: ValueType = .int64
    ) throws -> (summary: HistoricalSummary, text: String) {
        let dir = TempDir()
        let store = try makeStore(dir, csv: dir.write("f.csv", features), ttl: ttl, created: created, keyType: keyType)
        let summary = try store.historical(
            HistoricalRequest(
                entitiesPath: dir.write("e.csv", entities), features: try FeatureReference.parseList(refs), fullFeatureNames: full,
                outputPath: dir.file("out"), format: format))
        return (summary, dir.read("out"))
    }

    @Test func upperBoundIsInclusiveAndLaterRowsAreIgnored() throws {
        let (_, text) = try Self.join(
            Self.header + """
                1,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,1.5,1,1
                1,2024-01-02T00:00:00Z,2024-01-02T00:00:00Z,2.5,1,1
                1,2024-01-02T00:00:01Z,2024-01-02T00:00:01Z,3.5,1,1
                """,
            entities: "customer_id,event_timestamp\n1,2024-01-02T00:00:00Z\n1,2024-01-01T12:00:00Z\n1,2023-12-31T23:59:59Z\n")
        #expect(text == "customer_id,event_timestamp,total_spend\n1,2024-01-02T00:00:00Z,2.5\n1,2024-01-01T12:00:00Z,1.5\n1,2023-12-31T23:59:59Z,\n")
    }

    @Test(arguments: [
        ("2024-01-03T00:00:00Z", "2.5"),  // exactly ttl after the row: inclusive
        ("2024-01-03T00:00:01Z", ""),  // one second past: null, and the row is kept
    ])
    func ttlLowerBoundIsInclusive(entityTime: String, expected: String) throws {
        let (_, text) = try Self.join(
            Self.header + "7,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,2.5,1,1\n",
            entities: "customer_id,event_timestamp\n7,\(entityTime)\n", ttl: 172_800)
        #expect(text == "customer_id,event_timestamp,total_spend\n7,\(entityTime),\(expected)\n")
    }

    @Test func zeroTTLMeansNoLowerBound() throws {
        let (_, text) = try Self.join(
            Self.header + "7,2020-01-01T00:00:00Z,,4.25,1,1\n", entities: "customer_id,event_timestamp\n7,2024-06-01T00:00:00Z\n", ttl: 0)
        #expect(text.hasSuffix("7,2024-06-01T00:00:00Z,4.25\n"))
    }

    @Test func eventTimeTieGoesToTheLaterCreatedRowWhateverTheFileOrder() throws {
        for order in [0, 1] {
            let later = "3,2024-01-01T00:00:00Z,2024-01-01T00:09:00Z,9.5,9,9\n"
            let earlier = "3,2024-01-01T00:00:00Z,2024-01-01T00:01:00Z,1.5,1,1\n"
            let (_, text) = try Self.join(
                Self.header + (order == 0 ? later + earlier : earlier + later),
                entities: "customer_id,event_timestamp\n3,2024-01-01T05:00:00Z\n",
                refs: ["customer_stats:total_spend", "customer_stats:txn_count"])
            #expect(text.hasSuffix("3,2024-01-01T05:00:00Z,9.5,9\n"))
        }
    }

    @Test func aFullTieGoesToTheRowLastInTheFile() throws {
        let (_, text) = try Self.join(
            Self.header + "3,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,1.5,1,1\n3,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,2.5,1,1\n",
            entities: "customer_id,event_timestamp\n3,2024-01-02T00:00:00Z\n")
        #expect(text.hasSuffix(",2.5\n"))
    }

    @Test func leftJoinKeepsUnknownAndKeylessEntitiesAndEveryColumnUnchanged() throws {
        let (summary, text) = try Self.join(
            Self.header + "1,2024-01-01T00:00:00Z,,5,2,3\n",
            entities: "note,customer_id,event_timestamp,extra\r\n\"a, b\",1,2024-01-05T00:00:00Z,x\r\n\"say \"\"hi\"\"\",99,2024-01-05T00:00:00Z,\r\nz,,2024-01-05T00:00:00Z,y\r\n",
            refs: ["customer_stats:total_spend", "customer_stats:avg_basket"])
        #expect(
            text == #"""
                note,customer_id,event_timestamp,extra,total_spend,avg_basket
                "a, b",1,2024-01-05T00:00:00Z,x,5,3
                "say ""hi""",99,2024-01-05T00:00:00Z,,,
                z,,2024-01-05T00:00:00Z,y,,

                """#)
        #expect(summary.matched == ["customer_stats": 1])
    }

    @Test func aNullInTheWinningRowStaysNullEvenIfAnOlderRowHasAValue() throws {
        let (_, text) = try Self.join(
            Self.header + "1,2024-01-01T00:00:00Z,,5,2,3\n1,2024-01-02T00:00:00Z,,6,2,\n",
            entities: "customer_id,event_timestamp\n1,2024-01-03T00:00:00Z\n", refs: ["customer_stats:avg_basket"])
        #expect(text.hasSuffix("1,2024-01-03T00:00:00Z,\n"))
    }

    @Test func severalViewsWithFullFeatureNames() throws {
        let dir = TempDir()
        let store = try makeStore(dir, csv: dir.write("a.csv", Self.header + "1,2024-01-01T00:00:00Z,,5,2,3\n"), ttl: 0)
        try store.apply(Entity(name: "merchant", joinKeys: ["merchant_id"], valueType: .string))
        try store.apply(
            FeatureView(
                name: "merchant_stats", entities: ["merchant"],
                source: .csv(dir.write("m.csv", "merchant_id,ts,risk\nm-1,2024-01-01T00:00:00Z,0.25\nm-2,2024-01-01T00:00:00Z,0.75\n"), timestamp: "ts"),
                features: [Feature(name: "risk", type: .float32)]))
        _ = try store.historical(
            HistoricalRequest(
                entitiesPath: dir.write("e.csv", "customer_id,merchant_id,event_timestamp\n1,m-2,2024-01-02T00:00:00Z\n1,m-3,2024-01-02T00:00:00Z\n"),
                features: try FeatureReference.parseList(["customer_stats:txn_count", "merchant_stats:risk", "customer_stats:total_spend"]),
                fullFeatureNames: true, outputPath: dir.file("out.csv")))
        #expect(
            dir.read("out.csv") == """
                customer_id,merchant_id,event_timestamp,customer_stats__txn_count,merchant_stats__risk,customer_stats__total_spend
                1,m-2,2024-01-02T00:00:00Z,2,0.75,5
                1,m-3,2024-01-02T00:00:00Z,2,,5

                """)
    }

    @Test func compositeKeysJoinOnEveryKey() throws {
        let dir = TempDir()
        let store = try LocalFeatureStore(directory: dir.path + "/store")
        try store.apply(Entity(name: "customer", joinKeys: ["customer_id"]))
        try store.apply(Entity(name: "merchant", joinKeys: ["merchant_id"], valueType: .string))
        try store.apply(
            FeatureView(
                name: "pair", entities: ["customer", "merchant"],
                source: .csv(dir.write("p.csv", "customer_id,merchant_id,event_timestamp,n\n1,a,2024-01-01T00:00:00Z,10\n1,b,2024-01-01T00:00:00Z,20\n")),
                features: [Feature(name: "n", type: .int64)]))
        _ = try store.historical(
            HistoricalRequest(
                entitiesPath: dir.write("e.csv", "customer_id,merchant_id,event_timestamp\n1,b,2024-01-02T00:00:00Z\n2,a,2024-01-02T00:00:00Z\n"),
                features: [FeatureReference(view: "pair", feature: "n")], outputPath: dir.file("out.csv")))
        #expect(dir.read("out.csv").hasSuffix("1,b,2024-01-02T00:00:00Z,20\n2,a,2024-01-02T00:00:00Z,\n"))
    }

    @Test func jsonLinesCarryTypedValuesAndNulls() throws {
        let (_, text) = try Self.join(
            Self.header + "1,2024-01-01T00:00:00Z,,5.5,2,\n", entities: "customer_id,event_timestamp,case\n1,2024-01-02T00:00:00Z,x\n2,2024-01-02T00:00:00Z,\n",
            refs: ["customer_stats:total_spend", "customer_stats:txn_count", "customer_stats:avg_basket"], format: .jsonl)
        #expect(
            text == """
                {"customer_id":1,"event_timestamp":"2024-01-02T00:00:00Z","case":"x","total_spend":5.5,"txn_count":2,"avg_basket":null}
                {"customer_id":2,"event_timestamp":"2024-01-02T00:00:00Z","case":null,"total_spend":null,"txn_count":null,"avg_basket":null}

                """)
    }

    @Test func aColumnNameClashAsksForFullFeatureNames() throws {
        #expect(throws: FeatureStoreError.self) {
            _ = try Self.join(Self.header, entities: "customer_id,event_timestamp,total_spend\n", refs: ["customer_stats:total_spend"])
        }
        let (_, text) = try Self.join(Self.header, entities: "customer_id,event_timestamp,total_spend\n", refs: ["customer_stats:total_spend"], full: true)
        #expect(text == "customer_id,event_timestamp,total_spend,customer_stats__total_spend\n")
    }

    @Test func sqliteTableSourcesJoinLikeCSV() throws {
        let dir = TempDir()
        let db = dir.file("src.sqlite")
        let setup = Process()
        setup.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        setup.arguments = ["python3", "-c", """
            import sqlite3; c = sqlite3.connect('\(db)')
            c.execute('create table stats (customer_id integer, event_timestamp text, created_timestamp integer, total_spend real, txn_count integer, avg_basket real)')
            c.executemany('insert into stats values (?,?,?,?,?,?)', [(1,'2024-01-01T00:00:00Z',100,1.5,1,None),(1,'2024-01-01T00:00:00Z',200,2.5,2,3.0),(2,'2024-01-05T00:00:00Z',None,9.0,9,9.0)])
            c.commit()
            """]
        try setup.run()
        setup.waitUntilExit()
        #expect(setup.terminationStatus == 0)
        let store = try LocalFeatureStore(directory: dir.path + "/store")
        try store.apply(Entity(name: "customer", joinKeys: ["customer_id"]))
        try store.apply(
            FeatureView(
                name: "customer_stats", entities: ["customer"], source: .sqlite(db, table: "stats", createdTimestamp: "created_timestamp"),
                features: [Feature(name: "total_spend", type: .float64), Feature(name: "txn_count", type: .int64), Feature(name: "avg_basket", type: .float64)]))
        _ = try store.historical(
            HistoricalRequest(
                entitiesPath: dir.write("e.csv", "customer_id,event_timestamp\n1,2024-01-02T00:00:00Z\n2,2024-01-02T00:00:00Z\n"),
                features: try FeatureReference.parseList(["customer_stats:total_spend", "customer_stats:txn_count", "customer_stats:avg_basket"]),
                outputPath: dir.file("out.csv")))
        #expect(dir.read("out.csv") == "customer_id,event_timestamp,total_spend,txn_count,avg_basket\n1,2024-01-02T00:00:00Z,2.5,2,3.0\n2,2024-01-02T00:00:00Z,,,\n")
    }

    /// Enough rows to use hash buckets and chunked parsing; compared with a brute-force rule.
    /// 500 keys: about 120 rows per key (groups sorted by the standard sort); 30,000 keys over
    /// 110,000 rows: rows placed in buckets by several threads and small groups sorted by
    /// insertion, plus one key holding a tenth of the rows; string keys: interned on one thread,
    /// then placed in buckets. Event times fall on ten-minute marks and created times on three
    /// values, so many rows tie in full and the latest in the file has to win, across chunks.
    @Test(arguments: [(500, 60_000, false, false), (30_000, 110_000, true, false), (3_000, 70_000, false, true)])
    func largeInputsTakeTheParallelPathAndAgreeWithASimpleScan(keys: Int, count: Int, skewed: Bool, stringKeys: Bool) throws {
        var rng = SystemRandomNumberGenerator()
        let keyText: (Int) -> String = { stringKeys ? "c\($0)" : "\($0)" }
        var features = Self.header
        var rows: [(Int, Int64, Int64, Int)] = []
        for i in 0..<count {
            let id = skewed && i % 10 == 0 ? 7 : Int.random(in: 0..<keys, using: &rng)
            let ts = Int64.random(in: 0..<1_440, using: &rng) * 600
            let cts = ts + Int64.random(in: 0..<3, using: &rng)
            rows.append((id, ts, cts, i))
            features += "\(keyText(id)),\(ts),\(cts),\(i),1,1\n"
        }
        var entities = "customer_id,event_timestamp\n"
        var queries: [(Int, Int64)] = []
        for _ in 0..<20_000 {
            let q = (Int.random(in: 0..<(keys + keys / 25), using: &rng), Int64.random(in: 0..<86_400 * 11, using: &rng))
            queries.append(q)
            entities += "\(keyText(q.0)),\(q.1)\n"
        }
        let ttl: Int64 = 86_400
        let (_, text) = try Self.join(features, entities: entities, ttl: ttl, keyType: stringKeys ? .string : .int64)
        let out = csvRows(text).dropFirst().map { $0[2] }
        var byID: [Int: [(Int, Int64, Int64, Int)]] = [:]
        for r in rows { byID[r.0, default: []].append(r) }
        for (k, q) in queries.enumerated() {
            let best = (byID[q.0] ?? []).filter { $0.1 <= q.1 && $0.1 >= q.1 - ttl }.max { ($0.1, $0.2, $0.3) < ($1.1, $1.2, $1.3) }
            #expect(out[k] == (best.map { String($0.3) } ?? ""), "query \(k)")
            if out[k] != (best.map { String($0.3) } ?? "") { break }
        }
    }
}
