import Foundation
import Testing

@testable import FeatureStore

/// Bad input fails with an error that names the file, line and column.
@Suite struct BadInputTests {
    static func historical(features: String, entities: String, featureTypes: [Feature]? = nil) throws {
        let dir = TempDir()
        let store = try makeStore(
            dir, csv: dir.write("f.csv", features),
            features: featureTypes ?? [Feature(name: "total_spend", type: .float64)])
        _ = try store.historical(
            HistoricalRequest(
                entitiesPath: dir.write("e.csv", entities), features: [FeatureReference(view: "customer_stats", feature: "total_spend")],
                outputPath: dir.file("out.csv")))
    }

    static func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    @Test func missingFeatureColumnNamesTheFileAndTheColumns() {
        let m = Self.message {
            try Self.historical(features: "customer_id,event_timestamp,created_timestamp,spend\n", entities: "customer_id,event_timestamp\n")
        }
        #expect(m.contains("f.csv"))
        #expect(m.contains("no column 'total_spend'"))
        #expect(m.contains("customer_id, event_timestamp, created_timestamp, spend"))
    }

    @Test func missingEntityTimestampColumn() {
        let m = Self.message {
            try Self.historical(features: "customer_id,event_timestamp,created_timestamp,total_spend\n", entities: "customer_id,ts\n1,2024-01-01\n")
        }
        #expect(m.contains("e.csv"))
        #expect(m.contains("no column 'event_timestamp'"))
    }

    @Test func badFeatureTimestampNamesLineAndColumn() {
        let m = Self.message {
            try Self.historical(
                features: "customer_id,event_timestamp,created_timestamp,total_spend\n1,2024-01-01T00:00:00Z,,1\n1,2024-13-01T00:00:00Z,,2\n",
                entities: "customer_id,event_timestamp\n")
        }
        #expect(m.contains("f.csv:3: column 'event_timestamp': '2024-13-01T00:00:00Z' is not a timestamp"))
    }

    @Test func badEntityTimestampNamesLineAndColumn() {
        let m = Self.message {
            try Self.historical(
                features: "customer_id,event_timestamp,created_timestamp,total_spend\n",
                entities: "customer_id,event_timestamp\n1,2024-01-01\n2,yesterday\n")
        }
        #expect(m.contains("e.csv:3: column 'event_timestamp': 'yesterday' is not a timestamp"))
    }

    @Test func valueOfTheWrongTypeNamesLineAndColumn() {
        let m = Self.message {
            try Self.historical(
                features: "customer_id,event_timestamp,created_timestamp,total_spend\n1,2024-01-01T00:00:00Z,,abc\n",
                entities: "customer_id,event_timestamp\n")
        }
        #expect(m.contains("f.csv:2: column 'total_spend': 'abc' is not a float64"))
    }

    @Test func nonIntegerKeyAndShortLine() {
        let m1 = Self.message {
            try Self.historical(
                features: "customer_id,event_timestamp,created_timestamp,total_spend\nx1,2024-01-01T00:00:00Z,,1\n", entities: "customer_id,event_timestamp\n")
        }
        #expect(m1.contains("f.csv:2: column 'customer_id': 'x1' is not an integer join key"))
        let m2 = Self.message {
            try Self.historical(
                features: "customer_id,event_timestamp,created_timestamp,total_spend\n1,2024-01-01T00:00:00Z\n", entities: "customer_id,event_timestamp\n")
        }
        #expect(m2.contains("f.csv:2: column 'created_timestamp': the line has 2 fields, the header has 4"))
    }

    @Test func unknownViewAndFeatureAreNamed() throws {
        let dir = TempDir()
        let store = try makeStore(dir, csv: dir.write("f.csv", "customer_id,event_timestamp\n"))
        #expect(throws: FeatureStoreError.unknownObject(kind: "feature view", name: "nope", known: ["customer_stats"])) {
            _ = try store.definitions().resolve(features: [FeatureReference(view: "nope", feature: "x")], service: nil)
        }
        let m = Self.message { _ = try store.definitions().resolve(features: [FeatureReference(view: "customer_stats", feature: "x")], service: nil) }
        #expect(m.contains("unknown feature of view 'customer_stats' 'x'"))
        #expect(FeatureReference(parsing: "no_colon") == nil)
    }

    @Test func missingEntityFileIsReported() throws {
        let dir = TempDir()
        let store = try makeStore(dir, csv: dir.write("f.csv", "customer_id,event_timestamp,created_timestamp,total_spend,txn_count,avg_basket\n"))
        let m = Self.message {
            _ = try store.historical(
                HistoricalRequest(
                    entitiesPath: dir.file("absent.csv"), features: [FeatureReference(view: "customer_stats", feature: "total_spend")],
                    outputPath: dir.file("o.csv")))
        }
        #expect(m.contains("cannot read \(dir.file("absent.csv")): No such file or directory"))
    }
}

@Suite struct TimestampTests {
    @Test(arguments: [
        ("2024-01-01T00:00:00Z", Int64(1_704_067_200_000_000)),
        ("2024-01-01 00:00:00", 1_704_067_200_000_000),
        ("2024-01-01", 1_704_067_200_000_000),
        ("2024-01-01T02:00:00+02:00", 1_704_067_200_000_000),
        ("2024-01-01T00:00:00.25Z", 1_704_067_200_250_000),
        ("1704067200", 1_704_067_200_000_000),
        ("1969-12-31T23:59:59Z", -1_000_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000),
    ])
    func parses(text: String, expected: Int64) {
        #expect(Timestamp.parse(text) == expected)
    }

    @Test(arguments: ["", "2023-02-29", "2024-01-01T25:00:00Z", "2024-01-01T00:00:00Q", "2024/01/01", "abc", "2024-01-01T00:00"])
    func rejects(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test func formatsRoundTrip() {
        for t in [Int64(0), 1_704_067_200_000_000, -1_000_000, 1_704_067_200_250_000] {
            #expect(Timestamp.parse(Timestamp.format(t)) == t)
        }
        #expect(Timestamp.format(0) == "1970-01-01T00:00:00Z")
    }
}
