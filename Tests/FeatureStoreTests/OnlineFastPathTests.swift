import Foundation
import Testing

@testable import FeatureStore

/// The feature server's fast path (`ScannedRequest`, plans found by the request's bytes) answers
/// exactly as the full parser does, byte for byte, and leaves everything else to it.
@Suite struct OnlineFastPathTests {
    static func bytes(_ text: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        Array(text.utf8).withUnsafeBytes(body)
    }

    /// A store with the fixture view, a service, and a view keyed by two join keys.
    static func store(_ dir: TempDir) throws -> LocalFeatureStore {
        let store = try OnlineTests.store(dir, clock: ManualClock("2024-01-10T00:00:00Z"))
        try store.apply(FeatureService(name: "fraud", features: [MaterializationTests.refs[1], MaterializationTests.refs[0]]))
        let csv = dir.write("pairs.csv", "user,shop,event_timestamp,score\nab\u{e9},1,2024-01-01T00:00:00Z,1\nab\u{e9},2,2024-01-01T00:00:00Z,2\n")
        try store.apply(Entity(name: "user", joinKeys: ["user"], valueType: .string))
        try store.apply(Entity(name: "shop", joinKeys: ["shop"], valueType: .int64))
        try store.apply(FeatureView(name: "pairs", entities: ["user", "shop"], source: .csv(csv), features: [Feature(name: "score", type: .int64)]))
        _ = try store.materialize(start: 0, end: micros("2024-01-10T00:00:00Z"))
        return store
    }

    /// Requests in the common shape: the scanner takes them.
    static let common = [
        #"{"features":["customer_stats:total_spend","customer_stats:txn_count","customer_stats:avg_basket"],"entities":{"customer_id":[1]}}"#,
        #"{"features":["customer_stats:avg_basket"],"entities":{"customer_id":[1,2,3,4,-5,0]}}"#,
        #" { "entities" : { "customer_id" : [ 2 , 1 ] } , "features" : [ "customer_stats:txn_count" ] , "full_feature_names" : true } "#,
        #"{"feature_service":"fraud","entities":{"customer_id":["2","1","x"]},"full_feature_names":false}"#,
        #"{"features":[" customer_stats:txn_count ","customer_stats:txn_count"],"entities":{"customer_id":[3]}}"#,
        #"{"features":["pairs:score","customer_stats:total_spend"],"entities":{"user":["abé","abé","x"],"shop":[2,1,1],"customer_id":[1,2,3]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[999999999999999999,-999999999999999999]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[]}}"#,
        #"{"features":["customer_stats:nope"],"entities":{"customer_id":[1]}}"#,
        #"{"features":["nope:total_spend"],"entities":{"customer_id":[1]}}"#,
        #"{"features":["customer_stats"],"entities":{"customer_id":[1]}}"#,
        #"{"features":["pairs:score"],"entities":{"user":["abé"]}}"#,
        #"{"features":["pairs:score"],"entities":{"user":["abé"],"shop":[1,2]}}"#,
        #"{"feature_service":"nope","entities":{"customer_id":[1]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":["one"]}}"#,
        // The Feast SDK's remote online store (0.67) sends this shape.
        #"{"entities": {"customer_id": [1, 2]}, "full_feature_names": false, "include_feature_view_version_metadata": false, "features": ["customer_stats:total_spend"]}"#,
    ]

    /// Requests the scanner leaves to the full parser (escapes, other numbers, unknown or repeated
    /// fields, both or neither of features and service, malformed JSON).
    static let others = [
        #"{"features":["customer_stats:tot\u0061l_spend"],"entities":{"customer_id":[1]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1.0, 2.5, 1e0]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[9223372036854775807, 12345678901234567890]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[01]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[true, null]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1],"customer_id":[2]}}"#,
        #"{"features":["customer_stats:total_spend"],"features":["customer_stats:txn_count"],"entities":{"customer_id":[1]}}"#,
        #"{"features":["customer_stats:total_spend"],"feature_service":"fraud","entities":{"customer_id":[1]}}"#,
        #"{"entities":{"customer_id":[1]}}"#,
        #"{"features":null,"feature_service":"fraud","entities":{"customer_id":[1]}}"#,
        #"{"features":[],"entities":{"customer_id":[1]}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1]},"extra":1}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":1}}"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1]}} x"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1]"#,
        #"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1]},"full_feature_names":"yes"}"#,
        #"[1,2]"#,
        "",
    ]

    @Test func answersEqualTheFullParsersByteForByte() throws {
        let dir = TempDir()
        let store = try Self.store(dir)
        for (i, body) in (Self.common + Self.others).enumerated() {
            Self.bytes(body) { raw in
                // Twice: the second time the plan comes from the bytes cache.
                for _ in 0..<2 {
                    let fast = OnlineJSON.handle(bytes: raw, store: store)
                    let full = OnlineJSON.handleFully(bytes: raw, store: store)
                    #expect(fast.status == full.status, "request \(i): \(body)")
                    #expect(String(decoding: fast.body, as: UTF8.self) == String(decoding: full.body, as: UTF8.self), "request \(i): \(body)")
                }
                #expect((ScannedRequest.scan(raw) != nil) == (i < Self.common.count), "request \(i) scanned: \(body)")
            }
        }
        // The common requests that succeed do succeed (the comparison is not between two errors).
        Self.bytes(Self.common[5]) { raw in
            let answer = OnlineJSON.handle(bytes: raw, store: store)
            #expect(answer.status == 200)
            #expect(String(decoding: answer.body, as: UTF8.self).contains(#""values":[2,1,null]"#))
        }
    }

    @Test func plansFoundByBytesFollowDefinitionChanges() throws {
        let dir = TempDir()
        let store = try Self.store(dir)
        let body = #"{"feature_service":"fraud","entities":{"customer_id":[1]}}"#
        Self.bytes(body) { raw in
            let before = String(decoding: OnlineJSON.handle(bytes: raw, store: store).body, as: UTF8.self)
            #expect(before.contains(#"["customer_id","txn_count","total_spend"]"#))
        }
        // The service changes under the same request bytes; the cached plan must not answer.
        try store.apply(FeatureService(name: "fraud", features: [MaterializationTests.refs[2]]))
        Self.bytes(body) { raw in
            let after = String(decoding: OnlineJSON.handle(bytes: raw, store: store).body, as: UTF8.self)
            #expect(after.contains(#"["customer_id","avg_basket"]"#))
        }
    }
}
