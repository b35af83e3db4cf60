import Foundation
import HTTPTesting
import Logging
import MLInfraHTTP
import Testing

@testable import ModelServing

/// The real `tritonclient` (KServe v2 / Open Inference Protocol over HTTP) against a replica
/// that asks for a bearer token, over plain HTTP and over TLS: readiness, model metadata and
/// inference work with the token, and a call without it is refused.
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
}
