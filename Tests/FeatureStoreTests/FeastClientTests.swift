import FeatureStore
import Foundation
import HTTPTesting
import MLInfraHTTP
import MLInfraTesting
import Testing

/// The real Feast SDK (`feast.FeatureStore` with its `remote` online store) reads online
/// features from our feature server, with a bearer token (`auth: { type: oidc, token_env_var }`)
/// over plain HTTP and over TLS (`cert:`); without the token it is refused. The Feast repo
/// declares the same entity and view, as a team's repo would.
@Suite struct FeastClientTests {
    static func python() throws -> String { try PeerPython.require(["feast"]) }

    static let script = #"""
        import json, os, sys
        from datetime import timedelta
        from feast import Entity, FeatureStore, FeatureView, Field, FileSource, ValueType
        from feast.types import Float64, Int64

        repo = sys.argv[1]
        store = FeatureStore(repo_path=repo)
        customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
        stats = FeatureView(
            name="customer_stats", entities=[customer], ttl=timedelta(days=1),
            schema=[Field(name="total_spend", dtype=Float64), Field(name="txn_count", dtype=Int64),
                    Field(name="avg_basket", dtype=Float64)],
            source=FileSource(path=os.path.join(repo, "unused.parquet"), timestamp_field="event_timestamp"))
        store.apply([customer, stats])
        rows = store.get_online_features(
            features=["customer_stats:total_spend", "customer_stats:txn_count"],
            entity_rows=[{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 4}]).to_dict()
        out = {"rows": rows}
        os.environ[os.environ["TOKEN_VARIABLE"]] = "not-a-token"
        try:
            FeatureStore(repo_path=repo).get_online_features(
                features=["customer_stats:total_spend"], entity_rows=[{"customer_id": 1}]).to_dict()
            out["wrong_token"] = "served"
        except Exception as e:
            out["wrong_token"] = type(e).__name__ + ": " + str(e)[:200]
        print(json.dumps(out))
        """#

    @Test(.timeLimit(.minutes(3)), arguments: [false, true])
    func theFeastSDKReadsOnlineFeaturesWithATokenOverHTTPAndTLS(overTLS: Bool) async throws {
        let dir = TempDir()
        let store = try OnlineTests.store(dir, clock: ManualClock("2024-01-10T00:00:00Z"))
        let tokens = AccessTokens(file: URL(fileURLWithPath: dir.path).appendingPathComponent("tokens.json"))
        let (_, token) = try tokens.create(name: "feast", scopes: ["features:read"])
        let certificate = try TestCertificate()
        defer { certificate.remove() }
        var policy = ServerPolicy(server: "features", tokens: tokens)
        if overTLS { policy.tls = try ServerTLS(certificate: certificate.certificate, key: certificate.key) }
        let (port, running) = try await OnlineHTTPServerTests.serve(FeatureServer(store: store, policy: policy))
        defer { running.cancel() }

        let repo = dir.path + "/feast_repo"
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        try """
            project: mlinfra_client_test
            registry: \(repo)/registry.db
            provider: local
            online_store:
              type: remote
              path: \(overTLS ? "https" : "http")://127.0.0.1:\(port)
            \(overTLS ? "  cert: \(certificate.certificate)" : "")
            auth:
              type: oidc
              token_env_var: MLINFRA_FEAST_TOKEN
            entity_key_serialization_version: 3

            """.write(toFile: repo + "/feature_store.yaml", atomically: true, encoding: .utf8)
        try "print('unused')\n".write(toFile: repo + "/unused.py", atomically: true, encoding: .utf8)
        let scriptFile = dir.path + "/feast_client.py"
        try Self.script.write(toFile: scriptFile, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["MLINFRA_FEAST_TOKEN"] = token
        environment["TOKEN_VARIABLE"] = "MLINFRA_FEAST_TOKEN"
        environment["FEAST_USAGE"] = "False"
        let r = try run(try Self.python(), [scriptFile, repo], environment: environment)
        #expect(r.status == 0, "\(r.output)")
        let last = r.output.split(separator: "\n").last.map(String.init) ?? ""
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(r.output)")
        let rows = try #require(answer["rows"] as? [String: Any], "\(answer)")
        #expect((rows["customer_id"] as? [Int]) == [1, 2, 4], "\(rows)")
        #expect((rows["total_spend"] as? [Any])?.prefix(2).compactMap { $0 as? Double } == [1.5, 2.5], "\(rows)")
        #expect((rows["txn_count"] as? [Any])?.prefix(2).compactMap { $0 as? Int } == [10, 20], "\(rows)")
        #expect((rows["total_spend"] as? [Any])?.last is NSNull, "customer 4 was never seen: \(rows)")
        let refused = answer["wrong_token"] as? String ?? ""
        #expect(refused != "served" && refused.contains("401"), "\(refused)")
    }

    static let parity = #"""
        import json, os, shutil, sys
        from datetime import timedelta
        import pandas as pd
        from feast import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource, ValueType
        from feast.types import Float64, Int64

        csv, url, work = sys.argv[1], sys.argv[2], sys.argv[3]
        frame = pd.read_csv(csv).drop(columns=["created_timestamp"])
        frame["event_timestamp"] = pd.to_datetime(frame["event_timestamp"], utc=True)
        parquet = os.path.join(work, "stats.parquet")
        frame.to_parquet(parquet)

        def repo(name, online):
            path = os.path.join(work, name)
            os.makedirs(path)
            with open(os.path.join(path, "feature_store.yaml"), "w") as f:
                f.write(f"project: parity\nregistry: {path}/registry.db\nprovider: local\nonline_store:\n{online}\n"
                        "entity_key_serialization_version: 3\n")
            store = FeatureStore(repo_path=path)
            customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)
            stats = FeatureView(name="customer_stats", entities=[customer], ttl=timedelta(days=1),
                schema=[Field(name="total_spend", dtype=Float64), Field(name="txn_count", dtype=Int64),
                        Field(name="avg_basket", dtype=Float64)],
                source=FileSource(path=parquet, timestamp_field="event_timestamp"))
            store.apply([customer, stats, FeatureService(name="scoring", features=[stats[["total_spend", "avg_basket"]]])])
            return store

        feast = repo("feast", f"  type: sqlite\n  path: {work}/online.db")
        feast.materialize(start_date=pd.Timestamp("2023-01-01", tz="UTC"), end_date=pd.Timestamp("2024-01-10", tz="UTC"))
        ours = repo("ours", f"  type: remote\n  path: {url}")
        rows = [{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 4}]
        out = {}
        for name, kwargs in {
            "features": dict(features=["customer_stats:total_spend", "customer_stats:txn_count", "customer_stats:avg_basket"]),
            "full_feature_names": dict(features=["customer_stats:total_spend", "customer_stats:avg_basket"], full_feature_names=True),
            "feature_service": None,
        }.items():
            answers = []
            for store in (feast, ours):
                k = kwargs if kwargs is not None else dict(features=store.get_feature_service("scoring"))
                response = store.get_online_features(entity_rows=rows, **k)
                answers.append({"values": response.to_dict(),
                                "statuses": [[int(s) for s in r.statuses] for r in response.proto.results]})
            out[name] = {"feast": answers[0], "mlinfra": answers[1]}
        print(json.dumps(out))
        """#

    /// The same rows materialized into Feast 0.67's own sqlite online store and into ours: the
    /// SDK's `get_online_features(...)` gives the same values and statuses through both, for a
    /// feature list, `full_feature_names` and a feature service. (Customer 3's row is older than
    /// the ttl; we refuse to serve it, Feast serves it: docs/decisions/feature-store-semantics.md.)
    /// Our server reads its SQLite store, then its Redis store.
    @Test(.timeLimit(.minutes(3)), arguments: OnlineKind.allCases)
    func theFeastSDKGetsWhatFeastsOwnSqliteStoreGives(_ kind: OnlineKind) async throws {
        let dir = TempDir()
        let store = try OnlineTests.store(dir, online: try await kind.setting(), clock: ManualClock("2024-01-10T00:00:00Z"))
        try store.apply(FeatureService(name: "scoring", features: [MaterializationTests.refs[0], MaterializationTests.refs[2]]))
        let (port, running) = try await OnlineHTTPServerTests.serve(FeatureServer(store: store))
        defer { running.cancel() }
        let work = dir.path + "/feast"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let script = dir.path + "/parity.py"
        try Self.parity.write(toFile: script, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["FEAST_USAGE"] = "False"
        let r = try run(try Self.python(), [script, dir.path + "/f.csv", "http://127.0.0.1:\(port)", work], environment: environment)
        #expect(r.status == 0, "\(r.output)")
        let last = r.output.split(separator: "\n").last.map(String.init) ?? ""
        let cases = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: [String: Any]], "\(r.output)")
        #expect(cases.count == 3)
        for (name, answers) in cases {
            let feast = try JSONSerialization.data(withJSONObject: answers["feast"] ?? [:], options: .sortedKeys)
            let ours = try JSONSerialization.data(withJSONObject: answers["mlinfra"] ?? [:], options: .sortedKeys)
            #expect(feast == ours, "\(name): Feast \(String(decoding: feast, as: UTF8.self)) vs ours \(String(decoding: ours, as: UTF8.self))")
        }
    }
}
