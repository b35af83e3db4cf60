import Foundation
import Testing

@testable import FeatureStore

/// Correctness against the peer harness's oracle (a committed fixture, see Fixtures/peers-seed42/README.md):
/// the documented point-in-time rule computed plainly with pandas, and Feast's own output.
@Suite struct OracleTests {
    struct Row: Equatable {
        var cells: [String: String]
    }

    /// Rows of a CSV with a header, keyed by `row_id`.
    static func table(_ text: String) -> [String: [String: String]] {
        let rows = csvRows(text)
        let header = rows[0]
        var out: [String: [String: String]] = [:]
        for r in rows.dropFirst() {
            var m: [String: String] = [:]
            for (i, h) in header.enumerated() { m[h] = i < r.count ? r[i] : "" }
            out[m["row_id"]!] = m
        }
        return out
    }

    /// Numbers compare as doubles; empty (null) equals empty.
    static func same(_ a: String?, _ b: String?) -> Bool {
        let x = a ?? ""
        let y = b ?? ""
        if x.isEmpty || y.isEmpty { return x.isEmpty && y.isEmpty }
        if let dx = Double(x), let dy = Double(y) { return dx == dy }
        return x == y
    }

    static let features = ["total_spend", "txn_count", "avg_basket"]

    static func ours() throws -> (TempDir, [String: [String: String]]) {
        let dir = TempDir()
        let store = try makeStore(dir, csv: fixtureDirectory + "/customer_features.csv", ttl: 172_800)
        let summary = try store.historical(
            HistoricalRequest(
                entitiesPath: fixtureDirectory + "/entity_df.csv",
                features: features.map { FeatureReference(view: "customer_stats", feature: $0) }, outputPath: dir.file("out.csv")))
        #expect(summary.entityRows == 1000)
        return (dir, table(dir.read("out.csv")))
    }

    @Test func historicalEqualsThePlainRuleOracleRowForRow() throws {
        let (_, ours) = try Self.ours()
        let spec = Self.table(try String(contentsOfFile: fixtureDirectory + "/historical_spec.csv", encoding: .utf8))
        #expect(ours.count == 1000)
        #expect(spec.count == 1000)
        var mismatches: [String] = []
        for (id, expected) in spec {
            guard let got = ours[id] else { mismatches.append("row \(id) missing"); continue }
            for column in ["customer_id", "event_timestamp", "case"] + Self.features where !Self.same(got[column], expected[column]) {
                mismatches.append("row \(id) \(column): ours \(got[column] ?? "nil"), oracle \(expected[column] ?? "nil")")
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(10))")
    }

    @Test func entityRowsAreWrittenInInputOrderWithCellsUnchanged() throws {
        let (dir, _) = try Self.ours()
        let input = csvRows(try String(contentsOfFile: fixtureDirectory + "/entity_df.csv", encoding: .utf8))
        let output = csvRows(dir.read("out.csv"))
        #expect(output.count == input.count)
        #expect(output[0] == input[0] + Self.features)
        for (a, b) in zip(input, output) { #expect(Array(b.prefix(a.count)) == a) }
    }

    /// Feast deviation 1: its file store drops entity rows that have feature rows, none inside [t − ttl, t].
    /// The rule keeps them, with null features.
    @Test func rowsFeastDropsAreKeptWithNulls() throws {
        let (_, ours) = try Self.ours()
        let feast = Self.table(try String(contentsOfFile: fixtureDirectory + "/historical_feast.csv", encoding: .utf8))
        let dropped = ours.keys.filter { feast[$0] == nil }
        #expect(dropped.count == 126)
        for id in dropped {
            for f in Self.features { #expect(ours[id]![f] == "", "row \(id) \(f)") }
        }
        let cases = Set(dropped.map { ours[$0]!["case"]! })
        #expect(cases.isSuperset(of: ["ttl_edge_outside", "before_first_row", "after_ttl_window", "before_any_data"]))
    }

    /// Feast deviation 2: on an event-time tie it returns the earlier-created row; the rule says the later one.
    @Test func eventTimeTiesGoToTheLaterCreatedRowNotFeastsChoice() throws {
        let (_, ours) = try Self.ours()
        let feast = Self.table(try String(contentsOfFile: fixtureDirectory + "/historical_feast.csv", encoding: .utf8))
        // Feature rows by (customer, event time), to see which rows tie.
        let featureRows = csvRows(try String(contentsOfFile: fixtureDirectory + "/customer_features.csv", encoding: .utf8)).dropFirst()
        var byTime: [String: [[String]]] = [:]
        for r in featureRows { byTime[r[0] + "@" + r[1], default: []].append(r) }
        var differing = 0
        for (id, f) in feast {
            let o = ours[id]!
            guard !Self.features.allSatisfy({ Self.same(o[$0], f[$0]) }) else { continue }
            differing += 1
            let candidates = byTime.values.filter { rows in rows.count == 2 && rows.contains { Self.same($0[3], o["total_spend"]) } }
            #expect(candidates.count == 1, "row \(id): ours is not one side of an event-time tie")
            guard let pair = candidates.first else { continue }
            let later = pair.max { micros($0[2]) < micros($1[2]) }!
            let earlier = pair.min { micros($0[2]) < micros($1[2]) }!
            #expect(Self.same(o["total_spend"], later[3]), "row \(id): ours must be the later-created row")
            #expect(Self.same(f["total_spend"], earlier[3]), "row \(id): Feast took the earlier-created row")
        }
        #expect(differing == 35)
    }

    @Test func materializingEverythingEqualsTheOnlineOracle() throws {
        let dir = TempDir()
        let store = try makeStore(dir, csv: fixtureDirectory + "/customer_features.csv", ttl: 0)
        _ = try store.materialize(start: micros("2023-12-29T00:00:00Z"), end: micros("2024-02-03T00:00:00Z"))
        let expected = csvRows(try String(contentsOfFile: fixtureDirectory + "/online_spec.csv", encoding: .utf8)).dropFirst()
        let ids = expected.map { FeatureValue.int(Int64($0[0])!) }
        let response = try store.onlineFeatures(
            features: Self.features.map { FeatureReference(view: "customer_stats", feature: $0) }, entities: EntityKeys("customer_id", ids))
        for (i, row) in expected.enumerated() {
            for (j, f) in Self.features.enumerated() {
                let got = response.column(f)!.values[i]
                let want = row[j + 1]
                switch got {
                case .null: #expect(want.isEmpty, "customer \(row[0]) \(f)")
                case .double(let d): #expect(Double(want) == d, "customer \(row[0]) \(f)")
                case .int(let n): #expect(Int64(want) == n, "customer \(row[0]) \(f)")
                default: Issue.record("unexpected \(got)")
                }
            }
        }
    }
}
