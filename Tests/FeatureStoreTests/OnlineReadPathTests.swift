import Foundation
import Synchronization
import Testing

@testable import FeatureStore
import MLInfraJSON

/// The online read path: pooled reader connections, compiled plans, the request parser and the
/// byte-level response writer.
@Suite struct OnlineReadPathTests {
    static let header = MaterializationTests.header
    static let refs = MaterializationTests.refs

    /// A store over one source row (total_spend 8 on 2024-01-08) that reads, and a second handle
    /// on the same directory that materializes, as another process would.
    static func twoHandles(_ dir: TempDir) throws -> (reader: LocalFeatureStore, writer: LocalFeatureStore) {
        let clock = ManualClock("2024-01-10T00:00:00Z")
        let csv = dir.write("f.csv", header + "1,2024-01-08T00:00:00Z,,8,1,1\n")
        let reader = try makeStore(dir, csv: csv, clock: clock.read)
        return (reader, try LocalFeatureStore(directory: reader.directory, clock: clock.read))
    }

    @Test func anotherInstanceMaterializingIsSeenByTheNextRead() throws {
        let dir = TempDir()
        let (reader, writer) = try Self.twoHandles(dir)
        // Warm the reader: a compiled plan and a pooled connection that saw "nothing materialized".
        let before = try reader.onlineFeatures(features: Self.refs, entities: EntityKeys("customer_id", [.int(1)]))
        #expect(before.column("total_spend")!.statuses == [.notFound])
        _ = try writer.materialize(start: 0, end: micros("2024-01-09T00:00:00Z"))
        #expect(try MaterializationTests.spend(reader, [1]) == [.double(8)])
        // A newer row replaces it; an older backfill does not.
        dir.write("f.csv", Self.header + "1,2024-01-09T00:00:00Z,,9,1,1\n1,2024-01-02T00:00:00Z,,2,1,1\n")
        _ = try writer.materialize(start: micros("2024-01-08T12:00:00Z"), end: micros("2024-01-09T00:00:00Z"))
        #expect(try MaterializationTests.spend(reader, [1]) == [.double(9)])
        _ = try writer.materialize(start: 0, end: micros("2024-01-03T00:00:00Z"))
        let after = try reader.onlineFeatures(features: Self.refs, entities: EntityKeys("customer_id", [.int(1)]))
        #expect(after.column("total_spend")!.values == [.double(9)])
        #expect(after.column("total_spend")!.eventTimestamps == [micros("2024-01-09T00:00:00Z")])
    }

    /// The feature server keeps a read transaction open (`holdReadLock`) so the requests' WAL
    /// locks cost no system call; requests must still see each commit at once, and moving the held
    /// snapshot to the newest commit must let a checkpoint copy everything.
    @Test func aHeldReadLockNeitherHidesCommitsNorKeepsFramesFromTheCheckpoint() throws {
        let dir = TempDir()
        let (reader, writer) = try Self.twoHandles(dir)
        reader.reader.holdReadLock()
        defer { reader.reader.releaseReadLock() }
        _ = try writer.materialize(start: 0, end: micros("2024-01-09T00:00:00Z"))
        #expect(try MaterializationTests.spend(reader, [1]) == [.double(8)])
        dir.write("f.csv", Self.header + "1,2024-01-09T00:00:00Z,,9,1,1\n")
        _ = try writer.materialize(start: micros("2024-01-08T12:00:00Z"), end: micros("2024-01-09T00:00:00Z"))
        #expect(try MaterializationTests.spend(reader, [1]) == [.double(9)])

        // Held on the snapshot before the last commit, the lock keeps its frames in the WAL…
        let stuck = try writer.pool.writeWithoutTransaction { try $0.checkpoint(.passive) }
        #expect(stuck.checkpointedFrameCount < stuck.walFrameCount)
        // …until it moves to the newest commit, as the server does every 20 ms.
        reader.reader.holdReadLock()
        let done = try writer.pool.writeWithoutTransaction { try $0.checkpoint(.passive) }
        #expect(done.walFrameCount > 0 && done.checkpointedFrameCount == done.walFrameCount)
        #expect(try MaterializationTests.spend(reader, [1]) == [.double(9)])
    }

    @Test func readersRunningDuringMaterializationSeeWholeCommits() async throws {
        let dir = TempDir()
        // Every row has total_spend = txn_count = avg_basket, so a read mixing two rows would show.
        func rows(_ day: Int) -> String {
            Self.header + (1...50).map { "\($0),2024-01-\(String(format: "%02d", day))T00:00:00Z,,\(day),\(day),\(day)" }.joined(separator: "\n") + "\n"
        }
        let csv = dir.write("f.csv", rows(1))
        let store = try makeStore(dir, csv: csv, clock: { micros("2024-02-01T00:00:00Z") })
        _ = try store.materialize(start: 0, end: micros("2024-02-01T00:00:00Z"))
        let writer = try LocalFeatureStore(directory: store.directory)
        final class Shared: Sendable {
            let done = Atomic<Bool>(false)
            let problems = Mutex<[String]>([])
        }
        let shared = Shared()
        let readers = DispatchGroup()
        for _ in 0..<3 {
            readers.enter()
            DispatchQueue.global().async {
                defer { readers.leave() }
                var last = 0.0
                while !shared.done.load(ordering: .relaxed) {
                    do {
                        let r = try store.onlineFeatures(features: Self.refs, entities: EntityKeys("customer_id", (1...50).map { .int($0) }))
                        let spend = r.column("total_spend")!.values, count = r.column("txn_count")!.values
                        for i in 0..<50 {
                            // One read is one snapshot: a materialization commits all 50 at once.
                            guard case .double(let s) = spend[i], case .int(let c) = count[i], s == Double(c), spend[i] == spend[0] else {
                                shared.problems.withLock { $0.append("entity \(i + 1): \(spend[i]) / \(count[i])") }
                                return
                            }
                            if s < last { shared.problems.withLock { $0.append("went back from \(last) to \(s)") } }
                            last = max(last, s)
                        }
                    } catch {
                        shared.problems.withLock { $0.append("\(error)") }
                        return
                    }
                }
            }
        }
        for day in 2...12 {
            dir.write("f.csv", rows(day))
            _ = try writer.materialize(start: 0, end: micros("2024-02-01T00:00:00Z"))
        }
        shared.done.store(true, ordering: .relaxed)
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in readers.notify(queue: .global()) { c.resume() } }
        #expect(shared.problems.withLock { $0 } == [])
        #expect(try MaterializationTests.spend(store, [1, 50]) == [.double(12), .double(12)])
    }

    @Test func compiledPlansFollowDefinitionChanges() throws {
        let dir = TempDir()
        let store = try OnlineTests.store(dir, clock: ManualClock("2024-01-10T00:00:00Z"))
        try store.apply(FeatureService(name: "svc", features: [Self.refs[1]]))
        let first = try store.onlineFeatures(service: "svc", entities: EntityKeys("customer_id", [.int(1)]))
        #expect(first.featureNames == ["customer_id", "txn_count"])
        // Another instance redefines the service: the next read uses the new definition.
        let other = try LocalFeatureStore(directory: store.directory)
        try other.apply(FeatureService(name: "svc", features: [Self.refs[0], Self.refs[2]]))
        let second = try store.onlineFeatures(service: "svc", entities: EntityKeys("customer_id", [.int(1)]))
        #expect(second.featureNames == ["customer_id", "total_spend", "avg_basket"])
        #expect(second.columns[1].values == [.double(1.5)])
        // The same feature twice, across two requests with equal but distinct arrays.
        let twice = [Self.refs[0], Self.refs[0]]
        for _ in 0..<2 {
            let r = try store.onlineFeatures(features: Array(twice), entities: EntityKeys("customer_id", [.int(1), .int(9)]))
            #expect(r.columns[1] == r.columns[2])
            #expect(r.columns[1].statuses == [.present, .notFound])
        }
    }

    @Test(arguments: OnlineKind.allCases) func compositeAndNonASCIIStringKeys(_ kind: OnlineKind) async throws {
        let dir = TempDir()
        let csv = dir.write("f.csv", "user,shop,event_timestamp,score\nab\u{e9},1,2024-01-01T00:00:00Z,1\nab\u{e9},2,2024-01-01T00:00:00Z,2\n")
        let store = try LocalFeatureStore(directory: dir.path + "/store", online: try await kind.setting())
        try store.apply(Entity(name: "user", joinKeys: ["user"], valueType: .string))
        try store.apply(Entity(name: "shop", joinKeys: ["shop"], valueType: .int64))
        try store.apply(
            FeatureView(name: "v", entities: ["user", "shop"], source: .csv(csv), features: [Feature(name: "score", type: .int64)]))
        _ = try store.materialize(start: 0, end: micros("2024-02-01T00:00:00Z"))
        let r = try store.onlineFeatures(
            features: [FeatureReference(view: "v", feature: "score")],
            entities: EntityKeys(
                names: ["user", "shop"],
                columns: ["user": [.string("ab\u{e9}"), .string("ab\u{e9}"), .string("ab\u{e9}"), .null], "shop": [.int(2), .string("1"), .int(3), .int(1)]]))
        #expect(r.featureNames == ["user", "shop", "score"])
        #expect(r.columns[2].values == [.int(2), .int(1), .null, .null])
        #expect(r.columns[2].statuses == [.present, .present, .notFound, .notFound])
    }

    @Test func requestParserHandlesEscapesNumbersAndRefusesBadJSON() throws {
        let body = #" { "features" : [ "customer_stats:tot\u0061l_spend" ], "entities": {"customer_id": [1, 2.0, "3", -4, 1e0]}, "full_feature_names": false } "#
        let req = try OnlineJSON.parseRequest(Data(body.utf8))
        #expect(req.features == [Self.refs[0]])
        #expect(req.entities.columns["customer_id"]! == [.int(1), .double(2), .string("3"), .int(-4), .double(1)])
        var reader = JSONReader(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(reader.document() == nil)
        let strings = #"["a\"b\\c\/d\n", "\ud83d\ude00", "\u00e9"]"#
        Data(strings.utf8).withUnsafeBytes { bytes in
            var r = JSONReader(bytes)
            guard case .array(let items)? = r.document() else { Issue.record("not parsed"); return }
            let texts = items.compactMap { if case .string(let s) = $0 { s } else { nil } }
            #expect(texts == ["a\"b\\c/d\n", "😀", "é"])
        }
        for bad in [
            #"{"features":["a:b"],}"#, #"{"features":["a:b"]} x"#, #"{"a":01}"#, #"{"a":"\ud83d"}"#, #"{"a":"x"#,
            #"{"a":tru}"#, #"{"a":-}"#, #"{"a":1.}"#, #"{"a":"\q"}"#, "{\"a\":\"\u{01}\"}", String(repeating: "[", count: 10_000),
        ] {
            #expect(throws: FeatureStoreError.badRequest(field: "body", message: "expected a JSON object with \"features\" or \"feature_service\" and \"entities\"")) {
                _ = try OnlineJSON.parseRequest(Data(bad.utf8))
            }
        }
    }

    @Test func timestampBytesMatchTheFormatter() {
        var values: [Int64] = [0, 1, -1, 999_999, 1_704_067_200_000_000, 1_704_067_200_123_456, -62_135_596_800_000_000, 253_402_300_799_999_999]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 { values.append(Int64.random(in: -70_000_000_000_000_000...260_000_000_000_000_000, using: &rng)) }
        for v in values {
            var out: [UInt8] = []
            Timestamp.write(v, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == Timestamp.format(v))
        }
        // Years before 0 and far outside 0–9999 format without trapping, with a signed year.
        #expect(Timestamp.format(-100_000_000_000_000_000).hasPrefix("-1199-"))
        #expect(Timestamp.format(-62_198_755_200_000_000) == "-0001-01-01T00:00:00Z")
        for v: Int64 in [.min, .max, -100_000_000_000_000_000] {
            var out: [UInt8] = []
            Timestamp.write(v, into: &out)
            #expect(String(decoding: out, as: UTF8.self) == Timestamp.format(v))
        }
        for v: Int64 in [0, 7, -7, 1234567890, .max, .min] {
            var out: [UInt8] = []
            appendDecimal(v, to: &out)
            #expect(String(decoding: out, as: UTF8.self) == String(v))
        }
    }

    @Test func responseBytesEscapeStringsAndNonFiniteNumbers() {
        let response = OnlineResponse(
            featureNames: ["k", "a\"b"], rowCount: 2, keyValues: [[.string("x\ny"), .int(2)]],
            values: [.double(.infinity), .string("q\"\\\u{1}")], statuses: [.present, .present], eventTimestamps: [0, 1_500_000])
        let text = OnlineJSON.encode(response)
        #expect(
            text == #"{"metadata":{"feature_names":["k","a\"b"]},"results":[{"values":["x\ny",2],"statuses":["PRESENT","PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},{"values":[null,"q\"\\\u0001"],"statuses":["PRESENT","PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:01.500000Z"]}]}"#)
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8))) != nil)
    }
}
