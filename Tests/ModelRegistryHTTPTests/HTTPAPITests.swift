import Foundation
import Hummingbird
import HummingbirdTesting
import ModelRegistry
import ModelRegistryTesting
import HTTPTesting
import ModelRegistryHTTP
import MLInfraHTTP
import Testing

/// Decodes a response body as a JSON object.
func jsonObject(_ buffer: ByteBuffer) throws -> [String: Any] {
    let data = Data(buffer.readableBytesView)
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(String(decoding: data, as: UTF8.self))")
}

func body(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

@Suite struct NativeHTTPAPITests {
    @Test(arguments: RegistryBackend.allCases)
    func uploadResolveDownloadAndMoveAnAlias(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/models/fraud/versions?format=linear-json&tag=dataset=q1", method: .post, headers: [.contentType: "application/octet-stream"], body: body("{\"w\":[1]}")) { r in
                #expect(r.status == .created)
                let json = try jsonObject(r.body)
                #expect(json["version"] as? Int == 1)
                #expect(json["format"] as? String == "linear-json")
                #expect((json["tags"] as? [String: String]) == ["dataset": "q1"])
                #expect((json["sha256"] as? String)?.count == 64)
            }
            try await client.execute(uri: "/api/v1/models/fraud/aliases/production", method: .put, headers: [.contentType: "application/json"], body: body(#"{"version": 1, "reason": "first"}"#)) { r in
                #expect(r.status == .ok)
                let json = try jsonObject(r.body)
                #expect(json["version"] as? Int == 1)
                #expect(json["previous_version"] is NSNull)
            }
            try await client.execute(uri: "/api/v1/resolve?uri=models:/fraud@production", method: .get) { r in
                #expect(r.status == .ok)
                let json = try jsonObject(r.body)
                #expect(json["name"] as? String == "fraud")
                #expect(json["version"] as? Int == 1)
                #expect(json["via"] as? String == "@production")
            }
            try await client.execute(uri: "/api/v1/models/fraud/versions/1/artifact", method: .get) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body) == "{\"w\":[1]}")
                #expect(r.headers[.modelSha256]?.count == 64)
            }
            try await client.execute(uri: "/api/v1/models/fraud/history", method: .get) { r in
                let object = try jsonObject(r.body)
                let entries = try #require(object["entries"] as? [[String: Any]])
                #expect(entries.map { $0["action"] as? String } == ["model.create", "version.create", "alias.set"])
                #expect(entries.last?["origin"] as? String == "api")
                #expect(entries.last?["reason"] as? String == "first")
            }
            try await client.execute(uri: "/api/v1/models", method: .get) { r in
                let object = try jsonObject(r.body)
                let models = try #require(object["models"] as? [[String: Any]])
                #expect(models.map { $0["name"] as? String } == ["fraud"])
                #expect((models.first?["aliases"] as? [String: Int]) == ["production": 1])
            }
        }
    }

    @Test func badInputAnswers400NamingTheField() async throws {
        let f = try RegistryFixture()
        try f.register("fraud", "x")
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/models/fraud/aliases/production", method: .put, headers: [.contentType: "application/json"], body: body(#"{"version": "two"}"#)) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "version")
            }
            try await client.execute(uri: "/api/v1/models", method: .post, headers: [.contentType: "application/json"], body: body(#"{"description": "no name"}"#)) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "name")
            }
            try await client.execute(uri: "/api/v1/models", method: .post, headers: [.contentType: "application/json"], body: body("not json")) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "body")
            }
            try await client.execute(uri: "/api/v1/resolve?uri=models:/fraud", method: .get) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "uri")
            }
            try await client.execute(uri: "/api/v1/models/fraud/versions/x", method: .get) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "version")
            }
            try await client.execute(uri: "/api/v1/models/ghost", method: .get) { r in
                #expect(r.status == .notFound)
            }
        }
    }

    @Test func protectedAliasIsForbiddenOverHTTP() async throws {
        let f = try RegistryFixture()
        try f.register("fraud", "x")
        try f.registry.updateModel("fraud", protectedAliases: ["production"], context: applyContext)
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/models/fraud/aliases/production", method: .put, headers: [.contentType: "application/json"], body: body(#"{"version": 1}"#)) { r in
                #expect(r.status == .forbidden)
                let json = try jsonObject(r.body)
                #expect(json["code"] as? String == "protectedAlias")
                #expect((json["hint"] as? String)?.contains("mlinfra apply") == true)
            }
        }
        #expect(try f.registry.aliasTarget("fraud", "production") == nil)
    }

    @Test(arguments: RegistryBackend.allCases)
    func tamperedArtifactIsNotServed(_ backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        let v = try f.register("fraud", "good")
        try f.tamper(sha256: v.sha256, with: Data("evil".utf8))
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/models/fraud/versions/1/artifact", method: .get) { r in
                #expect(r.status == .internalServerError)
                let response = try jsonObject(r.body)
                #expect(response["code"] as? String == "artifactCorrupted")
            }
        }
    }
}

@Suite struct MLflowAPIShapeTests {
    @Test func registeredModelAndVersionShapesMatchMLflow() async throws {
        let f = try RegistryFixture()
        let artifact = try f.artifact("{\"w\": 1}")
        let app = Application(router: RegistryHTTPServer(registry: f.registry, sourceRoots: [f.root]).router())
        try await app.test(.router) { client in
            let base = "/api/2.0/mlflow"
            try await client.execute(uri: "\(base)/registered-models/create", method: .post, headers: [.contentType: "application/json"],
                                     body: body(#"{"name": "fraud", "tags": [{"key": "team", "value": "risk"}]}"#)) { r in
                #expect(r.status == .ok)
                let object = try jsonObject(r.body)
                let model = try #require(object["registered_model"] as? [String: Any])
                #expect(model["name"] as? String == "fraud")
                #expect(model["creation_timestamp"] is Int)
                #expect((model["tags"] as? [[String: String]]) == [["key": "team", "value": "risk"]])
            }
            try await client.execute(uri: "\(base)/model-versions/create", method: .post, headers: [.contentType: "application/json"],
                                     body: body(#"{"name": "fraud", "source": "file://\#(artifact.path)", "run_id": "r1"}"#)) { r in
                #expect(r.status == .ok)
                let object = try jsonObject(r.body)
                let version = try #require(object["model_version"] as? [String: Any])
                #expect(version["version"] as? String == "1")
                #expect(version["status"] as? String == "READY")
                #expect(version["current_stage"] as? String == "None")
                #expect(version["run_id"] as? String == "r1")
                #expect(version["source"] as? String == "file://\(artifact.path)")
            }
            try await client.execute(uri: "\(base)/registered-models/alias", method: .post, headers: [.contentType: "application/json"],
                                     body: body(#"{"name": "fraud", "alias": "champion", "version": "1"}"#)) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "\(base)/registered-models/alias?name=fraud&alias=champion", method: .get) { r in
                let object = try jsonObject(r.body)
                let version = try #require(object["model_version"] as? [String: Any])
                #expect(version["aliases"] as? [String] == ["champion"])
            }
            try await client.execute(uri: "\(base)/registered-models/get?name=fraud", method: .get) { r in
                let object = try jsonObject(r.body)
                let model = try #require(object["registered_model"] as? [String: Any])
                #expect((model["aliases"] as? [[String: String]]) == [["alias": "champion", "version": "1"]])
                #expect((model["latest_versions"] as? [[String: Any]])?.count == 1)
            }
            try await client.execute(uri: "\(base)/model-versions/search?filter=name%3D%27fraud%27&max_results=5", method: .get) { r in
                let object = try jsonObject(r.body)
                let versions = try #require(object["model_versions"] as? [[String: Any]])
                #expect(versions.count == 1)
            }
            try await client.execute(uri: "\(base)/model-versions/get-download-uri?name=fraud&version=1", method: .get) { r in
                let response = try jsonObject(r.body)
                #expect(response["artifact_uri"] as? String == "mlflow-artifacts:/mlinfra-registry/fraud/1")
            }
            // The artifact proxy lists and serves the version's file from the registry's copy.
            var listed: [[String: Any]] = []
            try await client.execute(uri: "/api/2.0/mlflow-artifacts/artifacts?path=mlinfra-registry/fraud/1", method: .get) { r in
                listed = try #require(try jsonObject(r.body)["files"] as? [[String: Any]])
            }
            #expect(listed.count == 1 && listed.first?["is_dir"] as? Bool == false)
            let name = try #require(listed.first?["path"] as? String)
            try await client.execute(uri: "/api/2.0/mlflow-artifacts/artifacts/mlinfra-registry/fraud/1/\(name)", method: .get) { r in
                #expect(r.status == .ok)
                #expect(String(buffer: r.body) == #"{"w": 1}"#)
            }
            try await client.execute(uri: "/api/2.0/mlflow-artifacts/artifacts/mlinfra-registry/fraud/1/\(name)", method: .put,
                                     headers: [.contentType: "text/plain"], body: body("other")) { r in
                #expect(r.status == .badRequest)
                let json = try jsonObject(r.body)
                #expect(json["field"] as? String == "path")
            }
        }
    }

    @Test func errorsUseMLflowCodes() async throws {
        let f = try RegistryFixture()
        try f.register("fraud", "x")
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        try await app.test(.router) { client in
            let base = "/api/2.0/mlflow"
            try await client.execute(uri: "\(base)/registered-models/get?name=ghost", method: .get) { r in
                #expect(r.status == .notFound)
                let response = try jsonObject(r.body)
                #expect(response["error_code"] as? String == "RESOURCE_DOES_NOT_EXIST")
            }
            try await client.execute(uri: "\(base)/registered-models/create", method: .post, headers: [.contentType: "application/json"], body: body(#"{"name": "fraud"}"#)) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["error_code"] as? String == "RESOURCE_ALREADY_EXISTS")
            }
            try await client.execute(uri: "\(base)/model-versions/get?name=fraud&version=abc", method: .get) { r in
                #expect(r.status == .badRequest)
                let json = try jsonObject(r.body)
                #expect(json["error_code"] as? String == "INVALID_PARAMETER_VALUE")
                #expect(json["field"] as? String == "version")
            }
            try await client.execute(uri: "\(base)/model-versions/create", method: .post, headers: [.contentType: "application/json"],
                                     body: body(#"{"name": "fraud", "source": "runs:/abc/model"}"#)) { r in
                #expect(r.status == .notFound)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "source")
            }
            try await client.execute(uri: "\(base)/experiments/get-by-name?experiment_name=ghost", method: .get) { r in
                #expect(r.status == .notFound)
                let response = try jsonObject(r.body)
                #expect(response["error_code"] as? String == "RESOURCE_DOES_NOT_EXIST")
            }
            try await client.execute(uri: "\(base)/experiments/create", method: .post, headers: [.contentType: "application/json"],
                                     body: body(#"{"name": "Default"}"#)) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["error_code"] as? String == "RESOURCE_ALREADY_EXISTS")
            }
            var runID = ""
            try await client.execute(uri: "\(base)/runs/create", method: .post, headers: [.contentType: "application/json"],
                                     body: body(#"{"experiment_id": "0", "run_name": "r"}"#)) { r in
                let run = try jsonObject(r.body)["run"] as? [String: Any]
                runID = (run?["info"] as? [String: Any])?["run_id"] as? String ?? ""
            }
            for (value, status) in [("0.5", HTTPResponse.Status.ok), ("0.7", .badRequest)] {
                try await client.execute(uri: "\(base)/runs/log-parameter", method: .post, headers: [.contentType: "application/json"],
                                         body: body(#"{"run_id": "\#(runID)", "key": "C", "value": "\#(value)"}"#)) { r in
                    #expect(r.status == status)
                    if status != .ok {
                        let response = try jsonObject(r.body)
                        #expect(response["field"] as? String == "params")
                        #expect((response["message"] as? String)?.contains("already '0.5'") == true)
                    }
                }
            }
            try await client.execute(uri: "\(base)/experiments/create", method: .post, headers: [.contentType: "application/json"],
                                     body: body(#"{"experiment_id": "x"}"#)) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "name")
            }
            try await client.execute(uri: "\(base)/runs/log-inputs", method: .post, headers: [.contentType: "application/json"], body: body("{}")) { r in
                #expect(r.status == .notFound)
                let response = try jsonObject(r.body)
                #expect(response["error_code"] as? String == "ENDPOINT_NOT_FOUND")
                #expect((response["message"] as? String)?.contains("/api/2.0/mlflow/runs/log-inputs") == true)
            }
            try await client.execute(uri: "\(base)/logged-models/m-0000", method: .get) { r in
                #expect(r.status == .notFound)
                let response = try jsonObject(r.body)
                #expect(response["error_code"] as? String == "RESOURCE_DOES_NOT_EXIST")
                #expect(response["field"] as? String == "model_id")
            }
            try await client.execute(uri: "\(base)/runs/log-metric", method: .post, headers: [.contentType: "application/json"],
                                     body: body(#"{"run_id": "r", "key": "loss", "value": "high", "timestamp": 1}"#)) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "value")
            }
            try await client.execute(uri: "\(base)/registered-models/search?filter=owner%3D%27x%27", method: .get) { r in
                #expect(r.status == .badRequest)
                let response = try jsonObject(r.body)
                #expect(response["field"] as? String == "filter")
            }
        }
    }

    @Test(arguments: [
        ("name = 'fraud'", ["fraud"]), ("name LIKE 'fr%'", ["fraud", "fresh"]), ("name ILIKE 'FR%'", ["fraud", "fresh"]),
        ("name != 'fraud'", ["churn", "fresh"]), ("tags.team = 'risk' AND name LIKE '%d'", ["fraud"]),
        ("tags.`team` = 'growth'", ["churn"]), ("", ["churn", "fraud", "fresh"]),
        ("name IN ('fraud', 'churn')", ["churn", "fraud"]), ("name NOT IN ('fraud')", ["churn", "fresh"]),
    ])
    func searchFilters(_ filter: String, _ expected: [String]) async throws {
        let f = try RegistryFixture()
        try f.registry.createModel("fraud", tags: ["team": "risk"], context: .command())
        try f.registry.createModel("fresh", tags: ["team": "risk"], context: .command())
        try f.registry.createModel("churn", tags: ["team": "growth"], context: .command())
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        let query = filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/2.0/mlflow/registered-models/search?filter=\(query)", method: .get) { r in
                #expect(r.status == .ok)
                let models = try jsonObject(r.body)["registered_models"] as? [[String: Any]] ?? []
                #expect(models.map { $0["name"] as? String ?? "" } == expected)
            }
        }
    }

    @Test(arguments: [
        ("version_number > 1", ["fraud/2", "fraud/3"]), ("version_number >= 2 AND version_number < 3", ["fraud/2"]),
        ("name IN ('fraud', 'churn') and version_number <= 1", ["churn/1", "fraud/1"]),
        ("tags.stage ILIKE 'CAND%'", ["fraud/3"]), ("version_number != 3 and name = 'fraud'", ["fraud/2", "fraud/1"]),
    ])
    func versionSearchFilters(_ filter: String, _ expected: [String]) async throws {
        let f = try RegistryFixture()
        for i in 1...3 { try f.register("fraud", "\(i)", tags: i == 3 ? ["stage": "candidate"] : [:]) }
        try f.register("churn", "x")
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        let query = filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/2.0/mlflow/model-versions/search?filter=\(query)&order_by=name%20DESC", method: .get) { r in
                #expect(r.status == .ok)
                let versions = try jsonObject(r.body)["model_versions"] as? [[String: Any]] ?? []
                #expect(Set(versions.map { "\($0["name"] as? String ?? "")/\($0["version"] as? String ?? "")" }) == Set(expected))
            }
        }
    }

    @Test(arguments: ["version_number >", "name IN ('a'", "name IN 'a'", "version_number ~ 2", "name = 'a' AND"])
    func malformedVersionFiltersNameTheFilter(_ filter: String) async throws {
        let f = try RegistryFixture()
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        let query = filter.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/2.0/mlflow/model-versions/search?filter=\(query)", method: .get) { r in
                #expect(r.status == .badRequest)
                let json = try jsonObject(r.body)
                #expect(json["error_code"] as? String == "INVALID_PARAMETER_VALUE")
                #expect(json["field"] as? String == "filter")
            }
        }
    }

    @Test func searchPagesWithTokens() async throws {
        let f = try RegistryFixture()
        for i in 1...5 { try f.register("m", "\(i)") }
        let app = Application(router: RegistryHTTPServer(registry: f.registry).router())
        try await app.test(.router) { client in
            var token: String? = nil
            var seen: [String] = []
            repeat {
                let uri = "/api/2.0/mlflow/model-versions/search?max_results=2&order_by=version_number%20ASC" + (token.map { "&page_token=\($0)" } ?? "")
                try await client.execute(uri: uri, method: .get) { r in
                    let json = try jsonObject(r.body)
                    seen += (json["model_versions"] as? [[String: Any]] ?? []).compactMap { $0["version"] as? String }
                    token = json["next_page_token"] as? String
                }
            } while token != nil
            #expect(seen == ["1", "2", "3", "4", "5"])
        }
    }
}

/// Drives the real `mlflow` Python client against a live server.
@Suite struct MLflowClientTests {
    static func python() throws -> String { try PeerPython.require(["mlflow"]) }

    /// Plain; with the server requiring a token (`MLFLOW_TRACKING_TOKEN`); with a token over
    /// TLS (`MLFLOW_TRACKING_SERVER_CERT_PATH`); and plain on a registry kept in PostgreSQL.
    @Test(arguments: [(false, false, RegistryBackend.sqlite), (true, false, .sqlite), (true, true, .sqlite), (false, false, .postgres)])
    func realMlflowClientRegistersSearchesAndResolvesAliases(withToken: Bool, overTLS: Bool, backend: RegistryBackend) async throws {
        let f = try await RegistryFixture.make(backend)
        try f.registry.createModel("guarded", context: .command())
        try f.registry.updateModel("guarded", protectedAliases: ["production"], context: applyContext)
        let artifact1 = try f.artifact(#"{"weights": [1.0]}"#, name: "model-1.json")
        let artifact2 = try f.artifact(#"{"weights": [2.0]}"#, name: "model-2.json")
        let script = f.root.appendingPathComponent("client.py")
        try Data(MLflowClientTests.script.utf8).write(to: script)

        var policy = ServerPolicy(server: "registry")
        var token: String?
        if withToken {
            let tokens = AccessTokens(file: f.root.appendingPathComponent("tokens.json"))
            token = try tokens.create(name: "trainer", scopes: ["registry:write"]).1
            policy.tokens = tokens
        }
        let certificate = try TestCertificate()
        defer { certificate.remove() }
        if overTLS { policy.tls = try ServerTLS(certificate: certificate.certificate, key: certificate.key) }
        let server = RegistryHTTPServer(registry: f.registry, sourceRoots: [f.root], policy: policy)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let serving = Task { try await server.run(port: 0) { continuation.yield($0) } }
        defer { serving.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        let process = Process()
        process.executableURL = URL(fileURLWithPath: try MLflowClientTests.python())
        let uri = "\(overTLS ? "https" : "http")://127.0.0.1:\(port)"
        process.arguments = [script.path, uri, artifact1.path, artifact2.path]
        var environment = ProcessInfo.processInfo.environment
        environment["MLFLOW_TRACKING_URI"] = uri
        if overTLS { environment["MLFLOW_TRACKING_SERVER_CERT_PATH"] = certificate.certificate }
        environment["GIT_PYTHON_REFRESH"] = "quiet"
        environment["MLFLOW_TRACKING_TOKEN"] = token
        process.environment = environment
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        let status: Int32 = try await withCheckedThrowingContinuation { done in
            process.terminationHandler = { done.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { done.resume(throwing: error) }
        }
        let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(status == 0, "mlflow client failed:\n\(stdout)\n\(stderr.suffix(3000))")
        #expect(stdout.contains("MLFLOW-CLIENT-OK"))

        // What the client did is in the registry, audited as API changes.
        #expect(try f.registry.resolve("models:/fraud@champion").version == 2)
        #expect(try f.registry.versions(of: "fraud").map(\.stage) == [.archived, .production])
        let log = try f.registry.history(of: "fraud")
        #expect(log.contains { $0.action == "alias.set" && $0.origin == .api })
        #expect(try f.registry.aliasTarget("guarded", "production") == nil)
    }

    static let script = #"""
        import sys
        import mlflow
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        uri, artifact1, artifact2 = sys.argv[1], sys.argv[2], sys.argv[3]
        mlflow.set_registry_uri(uri)
        client = MlflowClient(registry_uri=uri)

        def expect_error(code, fn, *args, **kw):
            try:
                fn(*args, **kw)
            except MlflowException as e:
                assert e.error_code == code, (e.error_code, str(e))
                return
            raise AssertionError(f"expected {code}")

        rm = client.create_registered_model("fraud", tags={"team": "risk"}, description="from the mlflow client")
        assert rm.name == "fraud", rm
        expect_error("RESOURCE_ALREADY_EXISTS", client.create_registered_model, "fraud")

        v1 = client.create_model_version("fraud", source=artifact1, run_id="run-1", tags={"mlinfra.format": "linear-json"})
        v2 = client.create_model_version("fraud", source="file://" + artifact2, run_id="run-2")
        assert str(v1.version) == "1" and str(v2.version) == "2", (v1.version, v2.version)
        assert v1.status == "READY", v1.status

        client.set_registered_model_alias("fraud", "champion", v1.version)
        client.set_registered_model_alias("fraud", "champion", v2.version)
        got = client.get_model_version_by_alias("fraud", "champion")
        assert str(got.version) == "2", got
        assert "champion" in got.aliases, got.aliases
        assert client.get_registered_model("fraud").aliases == {"champion": "2"}

        found = client.search_model_versions("name='fraud'")
        assert sorted(str(v.version) for v in found) == ["1", "2"], found
        assert [m.name for m in client.search_registered_models(filter_string="name LIKE 'fr%'")] == ["fraud"]
        assert client.search_registered_models(filter_string="name = 'nothing'") == []

        client.set_model_version_tag("fraud", "1", "validated", "true")
        assert client.get_model_version("fraud", "1").tags["validated"] == "true"
        assert client.get_model_version("fraud", "1").run_id == "run-1"

        client.transition_model_version_stage("fraud", "1", "Production")
        client.transition_model_version_stage("fraud", "2", "Production", archive_existing_versions=True)
        assert client.get_model_version("fraud", "1").current_stage == "Archived"
        latest = client.get_latest_versions("fraud", stages=["Production"])
        assert [str(v.version) for v in latest] == ["2"], latest
        assert client.get_model_version_download_uri("fraud", "2") == "mlflow-artifacts:/mlinfra-registry/fraud/2"

        client.set_registered_model_alias("fraud", "tmp", "1")
        client.delete_registered_model_alias("fraud", "tmp")
        expect_error("RESOURCE_DOES_NOT_EXIST", client.get_model_version_by_alias, "fraud", "tmp")
        expect_error("RESOURCE_DOES_NOT_EXIST", client.get_registered_model, "ghost")
        expect_error("PERMISSION_DENIED", client.set_registered_model_alias, "guarded", "production", "1")

        print("MLFLOW-CLIENT-OK")
        """#
}
