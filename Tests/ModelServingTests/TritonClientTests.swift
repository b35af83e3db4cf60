import CaptureStorage
import Foundation
import HTTPTesting
import Logging
import MLInfraHTTP
import ModelRegistry
import ServingProvider
import Testing

@testable import ModelServing

/// The real `tritonclient` and `kserve` clients (KServe v2 / Open Inference Protocol over HTTP):
/// against a replica that asks for a bearer token, over plain HTTP and over TLS (readiness, model
/// metadata and inference work with the token, and a call without it is refused); and against an
/// endpoint router serving an MLflow-logged XGBoost model from its registered directory, every
/// call of the protocol in JSON and binary tensors, FP32 and FP64, equal to xgboost's predictions.
@Suite struct TritonClientTests {
    static func python() throws -> String { try PeerPython.require(["tritonclient.http"]) }

    static let script = #"""
        import json, os, sys
        import numpy as np
        import tritonclient.http as httpclient
        from tritonclient.utils import InferenceServerException

        url, token, tls = sys.argv[1], sys.argv[2], sys.argv[3] == "tls"
        options = {"ssl": True, "ssl_options": {"ca_certs": os.environ["CA_FILE"]}, "insecure": False} if tls else {}
        client = httpclient.InferenceServerClient(url=url, **options)
        auth = {"Authorization": "Bearer " + token}
        out = {"ready": client.is_server_ready(headers=auth)}
        out["metadata"] = client.get_model_metadata("lin", headers=auth)
        out["server"] = client.get_server_metadata(headers=auth)
        out["model_ready"] = client.is_model_ready("lin", headers=auth)
        out["version_ready"] = client.is_model_ready("lin", model_version="1", headers=auth)
        out["other_version_ready"] = client.is_model_ready("lin", model_version="9", headers=auth)
        try:
            client.get_model_metadata("nope", headers=auth)
        except InferenceServerException as e:
            out["missing_model"] = str(e)
        x = httpclient.InferInput("input", [2, 2], "FP32")
        x.set_data_from_numpy(np.array([[1, 1], [2, 3]], dtype=np.float32), binary_data=False)
        result = client.infer("lin", [x], headers=auth)
        versioned = client.infer("lin", [x], model_version="1", headers=auth)
        out["versioned"] = versioned.as_numpy(versioned.get_response()["outputs"][0]["name"]).tolist()
        out["outputs"] = [o["name"] for o in result.get_response()["outputs"]]
        out["predictions"] = result.as_numpy(out["outputs"][0]).tolist()
        try:
            client.infer("lin", [x])
            out["anonymous"] = "served"
        except InferenceServerException as e:
            out["anonymous"] = str(e.status())
        print(json.dumps(out))
        """#

    @Test(arguments: [false, true])
    func tritonclientInfersWithATokenOverHTTPAndTLS(overTLS: Bool) async throws {
        let handler = ReplicaHandler(
            runtime: LinearModel(weights: [1, 2], intercept: 0, link: .identity, featureNames: ["a", "b"]),
            modelName: "lin", endpointName: "ep", version: "lin/1")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("triton-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokens = AccessTokens(file: dir.appendingPathComponent("tokens.json"))
        let (_, token) = try tokens.create(name: "app", scopes: ["serving:read"])
        var policy = ServerPolicy(server: "serving", maxBodyBytes: ReplicaServer.maxBody, tokens: tokens)
        let certificate = try TestCertificate()
        defer { certificate.remove() }
        if overTLS { policy.tls = try ServerTLS(certificate: certificate.certificate, key: certificate.key) }
        var logger = Logger(label: "test-replica")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let app = ReplicaServer.application(handler: handler, logger: logger, policy: policy) { continuation.yield($0) }
        let task = Task { try await app.run() }
        defer { task.cancel() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())

        let scriptFile = dir.appendingPathComponent("triton_client.py")
        try Self.script.write(to: scriptFile, atomically: true, encoding: .utf8)
        let r = try run(try Self.python(), [scriptFile.path, "127.0.0.1:\(port)", token, overTLS ? "tls" : "plain"],
                        environment: ProcessInfo.processInfo.environment.merging(["CA_FILE": certificate.certificate]) { $1 })
        #expect(r.status == 0, "\(r.output)")
        let last = r.output.split(separator: "\n").last.map(String.init) ?? ""
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any], "\(r.output)")
        #expect(answer["ready"] as? Bool == true)
        #expect((answer["metadata"] as? [String: Any])?["name"] as? String == "lin", "\(answer)")
        let predictions = try #require(answer["predictions"] as? [Any], "\(answer)")
        let flat = predictions.flatMap { ($0 as? [Double]) ?? [($0 as? Double) ?? .nan] }
        #expect(flat == [3, 8], "\(answer)")
        #expect(answer["anonymous"] as? String == "401", "\(answer)")
        #expect((answer["server"] as? [String: Any])?["name"] as? String == "mlinfra-replica", "\(answer)")
        #expect(answer["model_ready"] as? Bool == true && answer["version_ready"] as? Bool == true, "\(answer)")
        #expect(answer["other_version_ready"] as? Bool == false, "\(answer)")
        #expect((answer["missing_model"] as? String)?.contains("no model \"nope\" here") == true, "the error prints as text: \(answer)")
        #expect((answer["versioned"] as? [Any]).map { $0.flatMap { ($0 as? [Double]) ?? [($0 as? Double) ?? .nan] } } == [3, 8], "\(answer)")
    }

    /// Trains a small XGBoost classifier, saves it with `mlflow.xgboost.save_model` (MLflow's
    /// default format: `model.ubj`) and prints the rows and xgboost's own predictions for them.
    static let trainer = #"""
        import json, sys
        import numpy as np
        import xgboost as xgb
        import mlflow.xgboost

        rng = np.random.default_rng(7)
        X = rng.normal(size=(200, 4)).astype(np.float32)
        y = ((X[:, 0] + 0.5 * X[:, 1] * X[:, 2] - X[:, 3]) > 0).astype(np.float32)
        booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, xgb.DMatrix(X, label=y), num_boost_round=12)
        # pip_requirements given: MLflow would otherwise infer them in a second Python process (~10 s here).
        mlflow.xgboost.save_model(booster, sys.argv[1], pip_requirements=[f"xgboost=={xgb.__version__}"])
        rows = X[:6]
        print(json.dumps({"rows": rows.tolist(), "predictions": booster.predict(xgb.DMatrix(rows)).tolist()}))
        """#

    /// Every call tritonclient and kserve's REST client make, JSON and binary, FP32 and FP64; one process.
    static let clients = #"""
        import asyncio, json, sys
        import numpy as np
        import tritonclient.http as httpclient
        from tritonclient.utils import InferenceServerException
        from kserve import InferenceRESTClient, InferRequest, InferInput, RESTConfig
        from kserve.protocol.infer_type import RequestedOutput

        url, token, rows = sys.argv[1], sys.argv[2], np.array(json.loads(sys.argv[3]))
        # A fresh dict per call: tritonclient adds Inference-Header-Content-Length to the headers it is given.
        auth = lambda: {"Authorization": "Bearer " + token}
        out = {}
        client = httpclient.InferenceServerClient(url=url)
        out["live"] = client.is_server_live(headers=auth())
        out["ready"] = client.is_server_ready(headers=auth())
        out["server"] = client.get_server_metadata(headers=auth())
        out["model_ready"] = client.is_model_ready("fraud", headers=auth())
        out["version_ready"] = client.is_model_ready("fraud", model_version="1", headers=auth())
        out["other_version_ready"] = client.is_model_ready("fraud", model_version="9", headers=auth())
        out["metadata"] = client.get_model_metadata("fraud", headers=auth())
        out["version_metadata"] = client.get_model_metadata("fraud", model_version="1", headers=auth())
        out["config"] = client.get_model_config("fraud", headers=auth())
        out["version_config"] = client.get_model_config("fraud", model_version="1", headers=auth())
        for dtype in ["FP32", "FP64"]:
            for binary in [False, True]:
                x = httpclient.InferInput("input-0", list(rows.shape), dtype)
                x.set_data_from_numpy(rows.astype(np.float32 if dtype == "FP32" else np.float64), binary_data=binary)
                wanted = [httpclient.InferRequestedOutput("probability", binary_data=binary)]
                key = f"triton {dtype} {'binary' if binary else 'json'}"
                try:
                    result = client.infer("fraud", [x], outputs=wanted, headers=auth())
                    out[key] = result.as_numpy("probability").tolist()
                    out[key + " output"] = result.get_output("probability")
                except InferenceServerException as e:
                    out[key] = str(e)
        # No outputs named: tritonclient asks for binary_data_output; with a version in the path.
        x = httpclient.InferInput("input-0", list(rows.shape), "FP32")
        x.set_data_from_numpy(rows.astype(np.float32))
        versioned = client.infer("fraud", [x], model_version="1", headers=auth())
        out["triton versioned"] = versioned.as_numpy(versioned.get_response()["outputs"][0]["name"]).tolist()
        fp16 = httpclient.InferInput("input-0", list(rows.shape), "FP16")
        fp16.set_data_from_numpy(rows.astype(np.float16))
        out["triton FP16 binary"] = client.infer("fraud", [fp16], headers=auth()).as_numpy("probability").tolist()
        out["triton FP16 rows"] = rows.astype(np.float16).astype(np.float32).tolist()
        for name, call in [
            ("missing_model", lambda: client.get_model_metadata("nope", headers=auth())),
            ("strings", lambda: client.infer("fraud", [strings], headers=auth())),
            ("anonymous", lambda: client.is_model_ready("fraud") or client.infer("fraud", [x])),
        ]:
            if name == "strings":
                strings = httpclient.InferInput("words", [1, 4], "BYTES")
                strings.set_data_from_numpy(np.array([["a", "b", "c", "d"]], dtype=object))
            try:
                call()
                out[name] = "served"
            except InferenceServerException as e:
                out[name] = f"{e.status()} {e}"

        async def kserve_calls():
            rest = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
            base = "http://" + url
            out["kserve live"] = await rest.is_server_live(base, headers=auth())
            out["kserve ready"] = await rest.is_server_ready(base, headers=auth())
            out["kserve model_ready"] = await rest.is_model_ready(base, "fraud", headers=auth())
            for dtype in ["FP32", "FP64"]:
                for binary in [False, True]:
                    x = InferInput(name="input-0", shape=list(rows.shape), datatype=dtype)
                    x.set_data_from_numpy(rows.astype(np.float32 if dtype == "FP32" else np.float64), binary_data=binary)
                    request = InferRequest(model_name="fraud", infer_inputs=[x],
                                           request_outputs=[RequestedOutput("probability", parameters={"binary_data": binary})])
                    key = f"kserve {dtype} {'binary' if binary else 'json'}"
                    try:
                        response = await rest.infer(base, request, model_name="fraud", headers=auth())
                        out[key] = response.outputs[0].as_numpy().tolist()
                    except Exception as e:
                        out[key] = str(e)
            try:
                x = InferInput(name="input-0", shape=[1, 3], datatype="FP32")
                x.set_data_from_numpy(np.zeros((1, 3), dtype=np.float32), binary_data=False)
                await rest.infer(base, InferRequest(model_name="fraud", infer_inputs=[x]), model_name="fraud", headers=auth())
                out["kserve bad shape"] = "served"
            except Exception as e:
                out["kserve bad shape"] = str(e)
            await rest.close()

        asyncio.run(kserve_calls())
        print(json.dumps(out))
        """#

    @Test func tritonclientAndKServeCallEveryRouteOfAnMLflowXGBoostDirectoryThroughTheRouter() async throws {
        let python = try PeerPython.require(["tritonclient.http", "kserve", "xgboost", "mlflow.xgboost"])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("triton-mlflow-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }

        // The model directory MLflow writes, registered as a directory version and resolved through its MLmodel.
        let modelDir = dir.appendingPathComponent("model")
        let trained = try #require(try JSONSerialization.jsonObject(
            with: PeerPython.run(python, script: Self.trainer, arguments: [modelDir.path])) as? [String: Any])
        let rows = try #require(trained["rows"] as? [[Double]])
        let expected = try #require(trained["predictions"] as? [Double])
        #expect(FileManager.default.fileExists(atPath: modelDir.appendingPathComponent("model.ubj").path))
        let registry = try ModelRegistry(directory: dir.appendingPathComponent("registry"))
        _ = try registry.register(RegistrationRequest(model: "fraud", artifact: modelDir, format: "mlflow"),
                                  context: ChangeContext(actor: "test", origin: .apply))
        let resolved = try RegistryModelSource(directory: dir.appendingPathComponent("registry"), mlmodel: MLmodelYAML.read).resolve("fraud/1")
        #expect(resolved.format == .xgboostUBJ)
        let runtime = try loadVerifiedModel(resolved)

        let replica = try await LocalReplica.start(ReplicaHandler(runtime: runtime, modelName: "fraud", endpointName: "ep", version: "fraud/1"))
        let table = RoutingTable()
        table.add(version: "fraud/1", port: replica.port)
        table.setWeights(["fraud/1": 100])
        table.setVersionInfo(.init(version: "fraud/1", featureNames: runtime.featureNames, outputNames: runtime.outputNames))
        let store = MemoryCaptureStore()
        let writer = CaptureWriter(store: store, logger: quietLogger)
        let router = EndpointRouter(endpoint: "ep", table: table, client: makeClient(), capture: writer, capturePercent: 100, logger: quietLogger)
        let tokens = AccessTokens(file: dir.appendingPathComponent("tokens.json"))
        let (_, token) = try tokens.create(name: "app", scopes: ["serving:read"])
        let served = try await LocalRouter.start(router, policy: ServerPolicy(server: "serving", maxBodyBytes: ReplicaServer.maxBody, tokens: tokens))
        defer { served.task.cancel() }
        let port = served.port

        let rowsJSON = String(decoding: try JSONSerialization.data(withJSONObject: rows), as: UTF8.self)
        let output = try PeerPython.run(python, script: Self.clients, arguments: ["127.0.0.1:\(port)", token, rowsJSON])
        let answer = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])

        func flat(_ key: String) -> [Double] {
            ((answer[key] as? [Any]) ?? []).flatMap { ($0 as? [Double]) ?? [($0 as? Double) ?? .nan] }
        }
        for key in ["triton FP32 json", "triton FP32 binary", "triton FP64 json", "triton FP64 binary", "triton versioned",
                    "kserve FP32 json", "kserve FP32 binary", "kserve FP64 json", "kserve FP64 binary"] {
            let got = flat(key)
            #expect(got.count == expected.count && zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-6 },
                    "\(key): \(answer[key] ?? "none") vs xgboost \(expected)")
        }
        // Binary output carries its size; JSON output carries data.
        #expect(((answer["triton FP32 binary output"] as? [String: Any])?["parameters"] as? [String: Any])?["binary_data_size"] as? Int == rows.count * 4,
                "\(answer["triton FP32 binary output"] ?? "none")")
        #expect((answer["triton FP32 json output"] as? [String: Any])?["data"] != nil)
        // FP16 rows are rounded by the client; the model sees those values.
        let fp16Rows = try #require(answer["triton FP16 rows"] as? [[Double]])
        // (Compared as Float: Foundation's JSON reading of a double's shortest digits can be off in the last bit.)
        let fp16Expected = runtime.predict(FeatureMatrix(fp16Rows.map { $0.map { Float($0) } }, columns: 4)).values
        #expect(flat("triton FP16 binary").map { Float($0) } == fp16Expected, "\(flat("triton FP16 binary")) vs \(fp16Expected)")

        #expect(answer["live"] as? Bool == true && answer["ready"] as? Bool == true, "\(answer)")
        #expect((answer["server"] as? [String: Any])?["name"] as? String == "mlinfra-router", "\(answer)")
        #expect(answer["model_ready"] as? Bool == true && answer["version_ready"] as? Bool == true, "\(answer)")
        #expect(answer["other_version_ready"] as? Bool == false, "\(answer)")
        for key in ["metadata", "version_metadata"] {
            let metadata = answer[key] as? [String: Any]
            #expect(metadata?["name"] as? String == "fraud" && metadata?["platform"] as? String == "xgboost-ubj", "\(key): \(answer[key] ?? "none")")
        }
        for key in ["config", "version_config"] {
            let input = ((answer[key] as? [String: Any])?["input"] as? [[String: Any]])?.first
            #expect(input?["data_type"] as? String == "TYPE_FP32" && input?["dims"] as? [Int] == [-1, 4], "\(key): \(answer[key] ?? "none")")
        }
        #expect((answer["missing_model"] as? String)?.hasPrefix("404 ") == true && (answer["missing_model"] as? String)?.contains("no model \"nope\"") == true,
                "the error prints as text: \(answer["missing_model"] ?? "none")")
        #expect((answer["strings"] as? String)?.hasPrefix("400 ") == true && (answer["strings"] as? String)?.contains("BYTES") == true
                && (answer["strings"] as? String)?.contains("words") == true, "\(answer["strings"] ?? "none")")
        #expect((answer["anonymous"] as? String)?.hasPrefix("401") == true, "\(answer["anonymous"] ?? "none")")
        #expect(answer["kserve live"] as? Bool == true && answer["kserve ready"] as? Bool == true && answer["kserve model_ready"] as? Bool == true,
                "\(answer)")
        #expect((answer["kserve bad shape"] as? String)?.contains("inputs[0].shape: has 3 features, the model takes 4") == true,
                "\(answer["kserve bad shape"] ?? "none")")

        // Capture reads binary requests and answers as it reads JSON ones: every infer's rows are recorded.
        writer.flush()
        let captured = try store.records(endpoint: "ep", limit: 1_000)
        // 10 answered infers (tritonclient 4 + versioned + FP16, kserve 4) of 6 rows; every row but FP16's as sent.
        #expect(captured.count == 10 * rows.count, "\(captured.count) rows captured")
        let inputs = captured.compactMap { try? JSONSerialization.jsonObject(with: Data($0.inputs.utf8)) as? [String: Double] }
            .map { $0.mapValues { Float($0) } }
        for row in rows {
            let sent = Dictionary(uniqueKeysWithValues: runtime.featureNames.enumerated().map { ($1, Float(row[$0])) })
            #expect(inputs.filter { $0 == sent }.count == 9, "row \(sent) captured \(inputs.filter { $0 == sent }.count) times")
        }
        #expect(captured.allSatisfy { $0.outputs.contains("probability") }, "\(captured.first?.outputs ?? "none")")
        await replica.stop()
    }
}
