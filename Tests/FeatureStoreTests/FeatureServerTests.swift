import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import FeatureStore

/// The HTTP API speaks Feast's JSON.
@Suite struct FeatureServerTests {
    static func app(_ dir: TempDir) throws -> some ApplicationProtocol {
        let store = try OnlineTests.store(dir, clock: ManualClock("2024-01-10T00:00:00Z"))
        try store.apply(FeatureService(name: "basket", features: [FeatureReference(view: "customer_stats", feature: "avg_basket")]))
        return FeatureServer(store: store).application(port: 0)
    }

    static func json(_ buffer: ByteBuffer) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as! [String: Any]
    }

    @Test func responseHasFeastsShape() async throws {
        let dir = TempDir()
        try await Self.app(dir).test(.router) { client in
            let body = #"{"features":["customer_stats:total_spend","customer_stats:avg_basket"],"entities":{"customer_id":[1,2,3,4]}}"#
            try await client.execute(uri: "/get-online-features", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                let text = String(buffer: response.body)
                #expect(
                    text == #"{"metadata":{"feature_names":["customer_id","total_spend","avg_basket"]},"results":["#
                        + #"{"values":[1,2,3,4],"statuses":["PRESENT","PRESENT","PRESENT","PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z","1970-01-01T00:00:00Z","1970-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},"#
                        + #"{"values":[1.5,2.5,null,null],"statuses":["PRESENT","PRESENT","OUTSIDE_MAX_AGE","NOT_FOUND"],"event_timestamps":["2024-01-09T12:00:00Z","2024-01-09T12:00:00Z","2024-01-01T00:00:00Z","1970-01-01T00:00:00Z"]},"#
                        + #"{"values":[2.5,null,null,null],"statuses":["PRESENT","PRESENT","OUTSIDE_MAX_AGE","NOT_FOUND"],"event_timestamps":["2024-01-09T12:00:00Z","2024-01-09T12:00:00Z","2024-01-01T00:00:00Z","1970-01-01T00:00:00Z"]}]}"#)
            }
        }
    }

    @Test func featureServiceAndFullFeatureNames() async throws {
        let dir = TempDir()
        try await Self.app(dir).test(.router) { client in
            let body = #"{"feature_service":"basket","entities":{"customer_id":[1]},"full_feature_names":true}"#
            try await client.execute(uri: "/get-online-features", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                let json = try Self.json(response.body)
                let names = (json["metadata"] as! [String: Any])["feature_names"] as! [String]
                #expect(names == ["customer_id", "customer_stats__avg_basket"])
                let results = json["results"] as! [[String: Any]]
                #expect(results[1]["values"] as! [Double] == [2.5])
            }
        }
    }

    @Test(arguments: [
        (#"not json"#, "body"),
        (#"{"entities":{"customer_id":[1]}}"#, "features"),
        (#"{"features":["customer_stats:total_spend"],"feature_service":"basket","entities":{"customer_id":[1]}}"#, "features"),
        (#"{"features":["customer_stats"],"entities":{"customer_id":[1]}}"#, "features"),
        (#"{"features":["customer_stats:nope"],"entities":{"customer_id":[1]}}"#, "features"),
        (#"{"features":["customer_stats:total_spend"]}"#, "entities"),
        (#"{"features":["customer_stats:total_spend"],"entities":{"customer_id":1}}"#, "entities.customer_id"),
        (#"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1]},"full_feature_names":"yes"}"#, "full_feature_names"),
        (#"{"features":["customer_stats:total_spend"],"entities":{"customer_id":[1]},"extra":1}"#, "extra"),
        (#"{"features":["customer_stats:total_spend"],"entities":{"driver_id":[1]}}"#, "entities"),
    ])
    func badRequestsAnswer400NamingTheField(body: String, field: String) async throws {
        let dir = TempDir()
        try await Self.app(dir).test(.router) { client in
            try await client.execute(uri: "/get-online-features", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == .badRequest)
                let error = try Self.json(response.body)["error"] as! [String: Any]
                #expect(error["field"] as? String == field)
                #expect((error["message"] as? String)?.isEmpty == false)
            }
        }
    }

    @Test func healthAnswers() async throws {
        let dir = TempDir()
        try await Self.app(dir).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test func servesOverARealSocketOnLoopback() async throws {
        let dir = TempDir()
        try await Self.app(dir).test(.live) { client in
            let body = #"{"features":["customer_stats:txn_count"],"entities":{"customer_id":[2]}}"#
            try await client.execute(uri: "/get-online-features", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                let results = try Self.json(response.body)["results"] as! [[String: Any]]
                #expect(results[1]["values"] as! [Int] == [20])
            }
        }
    }
}
