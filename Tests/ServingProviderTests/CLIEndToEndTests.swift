import Foundation
import MLInfraTesting
import NIOCore
import Testing

@testable import ModelServing
@testable import ServingProvider

/// Runs the real `mlinfra` executable in a directory, waiting for it off the task pool.
struct CLI {
    let binary: String
    let directory: URL
    /// Added to this process's environment (e.g. `MLINFRA_VAR_…`).
    var environment: [String: String] = [:]

    typealias Run = TestRun

    @discardableResult
    func run(_ args: String...) async throws -> Run { try await run(args) }

    @discardableResult
    func run(_ args: [String]) async throws -> Run {
        let (p, out, err) = TestProcess.prepare(binary, args, in: directory, environment: environment)
        try p.run()
        return await TestProcess.finish(p, out: out, err: err)
    }
}

/// The issue's end-to-end scenario through a spec and the `mlinfra` CLI: a spec with a registry,
/// a feature view and an endpoint → `mlinfra apply` → requests served (instances, and entities
/// read from the online store) → the alias moved in the spec → `mlinfra apply` → a client sending
/// requests throughout sees zero errors → a replica SIGKILLed under load: zero client errors, the
/// replica restarted → load raised: replicas grow to max; load stopped: they shrink after the
/// (2 s) stabilization window, not before. The agent and replicas are stopped at the end, even on failure.
@Suite(.serialized, .enabled(if: TestBinary.path != nil, "needs the mlinfra executable beside the tests (swift build --build-tests)"))
struct CLIEndToEndTests {
    static func spec(port: Int, aliasVersion: String, features: String = "${feature_view.stats.id}") -> String {
        """
        mlinfra: 1
        project: serving-e2e
        providers:
          local: { data_dir: .mlinfra }
        resources:
          registry.main: {}
        \(ScorerModel.resources(aliasOn: aliasVersion))
          feature_store.shop: {}
          entity.customer:
            store: ${feature_store.shop}
            join_keys: [customer_id]
          feature_view.stats:
            store: ${feature_store.shop}
            entities: ["${entity.customer}"]
            source: { csv: data/stats.csv }
            features: { x: float64, y: float64 }
          feature_view.recent:
            store: ${feature_store.shop}
            entities: ["${entity.customer}"]
            source: { csv: data/recent.csv }
            features: { x: float64, y: float64 }
          feature_service.scoring:
            store: ${feature_store.shop}
            features: ["recent:y", "recent:x"]
            depends_on: [feature_view.recent]
          endpoint.scorer:
            model: ${model_alias.production.uri}
            features: \(features)
            port: \(port)
            replicas: { min: 2, max: 3 }
            autoscaling: { metric: concurrency, target: 1, scale_down_window: 2s }
            ready_timeout: 60s
        """
    }

    struct StatusDocument: Decodable {
        var status: EndpointStatus?
        var decisions: [ScalingDecision]
    }

    static func status(_ cli: CLI, decisions: Int = 10) async throws -> StatusDocument? {
        let r = try await cli.run("endpoints", "status", "scorer", "--format", "json", "--decisions", String(decisions))
        guard r.status == 0 else { return nil }
        return try? JSONDecoder().decode(StatusDocument.self, from: Data(r.out.utf8))
    }

    /// Polls `mlinfra endpoints status` until `condition` holds.
    static func waitStatus(_ cli: CLI, _ what: String, timeout: Double, _ condition: (EndpointStatus, [ScalingDecision]) -> Bool) async throws
        -> EndpointStatus
    {
        let deadline = Date().addingTimeInterval(timeout)
        var last: EndpointStatus?
        while Date() < deadline {
            if let doc = try await status(cli), let s = doc.status {
                last = s
                if condition(s, doc.decisions) { return s }
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
        Issue.record("timed out after \(timeout)s waiting for: \(what); last status: \(String(describing: last))")
        throw CancellationError()
    }

    static func predictEntities(_ client: HTTPClientPool, port: Int, _ ids: [Int]) async throws -> [String: Any] {
        let reply = try await client.execute(port: port, path: "/predict", body: ByteBuffer(string: #"{"entities": {"customer_id": \#(ids)}}"#), timeout: 10)
        #expect(reply.status == 200, "\(String(buffer: reply.body))")
        return try #require(try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any])
    }

    @Test func specApplyRolloutCrashAndAutoscalingThroughTheCLI() async throws {
        let dir = temporaryDirectory()
        let cli = CLI(binary: TestBinary.path!, directory: dir)
        let port = freePort()
        let client = HTTPClientPool()
        let load = LoadGenerator(port: port, client: client)
        let started = Date()
        var seenPIDs: Set<Int32> = []
        do {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("models"), withIntermediateDirectories: true)
            for (name, intercept) in [("v1", 0), ("v2", 100)] {
                _ = try EndToEndTests.writeLinear(dir.appendingPathComponent("models"), "\(name).json", intercept: Double(intercept))
            }
            let now = Int(Date().timeIntervalSince1970)
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("data"), withIntermediateDirectories: true)
            try "customer_id,event_timestamp,x,y\n1,\(now - 60),3,4\n2,\(now - 60),,5\n"
                .write(to: dir.appendingPathComponent("data/stats.csv"), atomically: true, encoding: .utf8)
            try "customer_id,event_timestamp,x,y\n1,\(now - 60),30,40\n"
                .write(to: dir.appendingPathComponent("data/recent.csv"), atomically: true, encoding: .utf8)
            try Self.spec(port: port, aliasVersion: "v1").write(to: dir.appendingPathComponent("main.yaml"), atomically: true, encoding: .utf8)

            // apply: registry, features and the endpoint; the agent starts; apply returns once it serves.
            let apply = try await cli.run("apply", "--auto-approve")
            #expect(apply.status == 0, "\(apply.out)\(apply.err)")
            guard apply.status == 0 else { throw CancellationError() }
            var s = try await Self.waitStatus(cli, "endpoint ready on scorer/1", timeout: 10) { s, _ in s.ready && s.servedVersion == "scorer/1" }
            #expect(s.readyReplicas == 2)

            // Entities: features from the online store (before materializing: not found, so missing).
            let empty = try await Self.predictEntities(client, port: port, [1])
            #expect(empty["predictions"] as? [Double] == [0])
            #expect((empty["feature_statuses"] as? [String: [String]])?["x"] == ["NOT_FOUND"])
            let materialize = try await cli.run("features", "materialize", "--store", "shop", "0", "now")
            #expect(materialize.status == 0, "\(materialize.out)\(materialize.err)")
            let v1 = try await Self.predictEntities(client, port: port, [1, 2, 3])
            #expect(v1["predictions"] as? [Double] == [7, 5, 0], "\(v1)")
            #expect(v1["version"] as? String == "scorer/1")
            #expect((v1["feature_statuses"] as? [String: [String]])?["x"] == ["PRESENT", "NULL_VALUE", "NOT_FOUND"])

            load.setConcurrency(2)
            try await EndToEndTests.waitUntil("requests served", timeout: 20) { load.snapshot.ok > 30 }

            // The promotion: one line of the spec, applied while requests flow.
            try Self.spec(port: port, aliasVersion: "v2").write(to: dir.appendingPathComponent("main.yaml"), atomically: true, encoding: .utf8)
            let promote = try await cli.run("apply", "--auto-approve")
            #expect(promote.status == 0, "\(promote.out)\(promote.err)")
            s = try await Self.waitStatus(cli, "rolled out to scorer/2, old replicas stopped", timeout: 30) { s, _ in
                s.ready && s.versions.map(\.version) == ["scorer/2"] && s.readyReplicas == 2
            }
            let afterRollout = load.snapshot.versions["scorer/2"] ?? 0
            try await EndToEndTests.waitUntil("scorer/2 answers", timeout: 20) { (load.snapshot.versions["scorer/2"] ?? 0) > afterRollout + 20 }
            let v2 = try await Self.predictEntities(client, port: port, [1])
            #expect(v2["predictions"] as? [Double] == [107])

            // SIGKILL a replica under load: the router retries, the agent restarts it.
            let victim = try #require(s.versions.first?.replicas.first { $0.state == .ready })
            seenPIDs.formUnion(s.versions.flatMap(\.replicas).map(\.pid))
            kill(victim.pid, SIGKILL)
            s = try await Self.waitStatus(cli, "killed replica restarted", timeout: 20) { s, _ in
                s.ready && s.versions.first?.replicas.contains { $0.restarts >= 1 && $0.state == .ready } == true
                    && !s.versions.flatMap(\.replicas).contains { $0.pid == victim.pid }
            }
            seenPIDs.formUnion(s.versions.flatMap(\.replicas).map(\.pid))

            // Load raised: replicas grow to max.
            load.setConcurrency(16)
            s = try await Self.waitStatus(cli, "scaled up to 3 replicas", timeout: 20) { s, _ in s.readyReplicas == 3 }
            seenPIDs.formUnion(s.versions.flatMap(\.replicas).map(\.pid))
            // Load stopped: back to min, but only after the 2 s window.
            load.setConcurrency(0)
            let stoppedAt = Date()
            s = try await Self.waitStatus(cli, "scaled down to 2 replicas", timeout: 20) { s, _ in
                s.versions.first?.desiredReplicas == 2 && s.versions.first?.replicas.count == 2
            }
            // The stabilization window: the scale-down comes only once no recommendation of the last
            // 2 s asked for more, i.e. at least 2 s after the last decision that saw the load.
            let decisions = try #require(try await Self.status(cli, decisions: 50)).decisions.sorted { $0.time < $1.time }
            #expect(decisions.contains { $0.desired > $0.current })
            let down = try #require(decisions.first { $0.desired < $0.current && $0.time >= stoppedAt.timeIntervalSince1970 - 1 })
            let lastHigh = try #require(decisions.last { $0.time < down.time && $0.recommended > down.desired })
            #expect(down.time - lastHigh.time >= 2, "scaled down \(down.time - lastHigh.time)s after the last higher recommendation; the window is 2s")

            // The endpoint moves to another feature source (a service over another view): its
            // replicas are replaced like a rollout, under load, and apply returns once the new ones serve.
            load.setConcurrency(2)
            let before = Set(s.versions.flatMap(\.replicas).map(\.pid))
            try Self.spec(port: port, aliasVersion: "v2", features: "${feature_service.scoring.id}")
                .write(to: dir.appendingPathComponent("main.yaml"), atomically: true, encoding: .utf8)
            let rebind = try await cli.run("apply", "--auto-approve")
            #expect(rebind.status == 0, "\(rebind.out)\(rebind.err)")
            #expect(rebind.out.contains("endpoint.scorer will be updated in-place"), "\(rebind.out)")
            let recent = try await Self.predictEntities(client, port: port, [1])
            #expect(recent["predictions"] as? [Double] == [170], "\(recent)")
            s = try await Self.waitStatus(cli, "old-binding replicas stopped", timeout: 20) { s, _ in
                s.ready && s.versions.first?.replicas.count == 2
            }
            seenPIDs.formUnion(s.versions.flatMap(\.replicas).map(\.pid))
            #expect(before.isDisjoint(with: s.versions.flatMap(\.replicas).map(\.pid)))

            await load.stop()
            let counts = load.snapshot
            #expect(counts.failures.isEmpty, "client errors: \(counts.failures.prefix(5))")
            #expect(counts.ok > 100)
            #expect((counts.versions["scorer/1"] ?? 0) > 0 && (counts.versions["scorer/2"] ?? 0) > 0)

            let stop = try await cli.run("agent", "--stop")
            #expect(stop.status == 0 && stop.out.contains("stopped"), "\(stop.out)\(stop.err)")
            // A graceful stop is not an error: the agent's last words are its own.
            let log = (try? String(contentsOf: dir.appendingPathComponent(".mlinfra/serving/agent.log"), encoding: .utf8)) ?? ""
            #expect(log.contains("serving agent stopped") && !log.contains("Error:"), "\(log.split(separator: "\n").suffix(5))")
        } catch {
            Issue.record("end-to-end through the CLI failed: \(error)")
        }
        await load.stop()
        // Whatever happened: no agent and no replica outlives the test.
        let data = dir.appendingPathComponent(".mlinfra")
        let agent = AgentProcess(dataDirectory: data)
        if let pid = agent.runningPID() {
            if (try? agent.stop(timeout: 15)) == nil { kill(pid, SIGKILL) }
        }
        if let doc = try? await Self.status(cli), let s = doc.status { seenPIDs.formUnion(s.versions.flatMap(\.replicas).map(\.pid)) }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline && seenPIDs.contains(where: { $0 > 0 && kill($0, 0) == 0 }) { try await Task.sleep(nanoseconds: 100_000_000) }
        let survivors = seenPIDs.filter { $0 > 0 && kill($0, 0) == 0 && Self.isReplica($0) }
        #expect(survivors.isEmpty, "replicas still running after the agent stopped: \(survivors)")
        for pid in survivors { kill(pid, SIGKILL) }
        if ProcessInfo.processInfo.environment["MLINFRA_E2E_LOG"] != nil, let log = try? String(contentsOf: agent.logFile, encoding: .utf8) {
            print("---- agent log (last 80 lines) ----\n" + log.split(separator: "\n").suffix(80).joined(separator: "\n"))
        }
        print("CLI end-to-end: \(String(format: "%.1f", Date().timeIntervalSince(started)))s, \(load.snapshot.ok) requests ok, \(load.snapshot.failures.count) failed")
        client.closeIdle()
        try? FileManager.default.removeItem(at: dir)
    }

    /// A dead agent is drift: `endpoints status` says the endpoint is not served, the plan
    /// proposes restoring it (not "no changes"), and apply brings it back.
    @Test func aKilledAgentShowsAsDriftAndApplyRestoresIt() async throws {
        let scratch = AgentScratch()
        defer { scratch.cleanUp() }
        let (dir, cli, port, client, agent) = (scratch.dir, scratch.cli, scratch.port, scratch.client, scratch.agent)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("models"), withIntermediateDirectories: true)
        _ = try EndToEndTests.writeLinear(dir.appendingPathComponent("models"), "v1.json", intercept: 0)
        let apply = try await scratch.apply(scratch.spec(project: "liveness", model: "scorer",
                                                              version: #"{ model: "${model.scorer}", artifact: models/v1.json, format: linear-json }"#))
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        guard apply.status == 0, let pid = agent.runningPID() else { throw CancellationError() }
        #expect(try await cli.run("plan", "--detailed-exitcode").status == 0)

        kill(pid, SIGKILL)
        try await EndToEndTests.waitUntil("the agent is gone", timeout: 10) { agent.runningPID() == nil }
        let status = try await cli.run("endpoints", "status", "scorer")
        #expect(status.out.contains("not served: no agent runs"), "\(status.out)\(status.err)")
        let list = try await cli.run("endpoints", "list")
        #expect(list.out.contains("not served"), "\(list.out)")
        let plan = try await cli.run("plan", "--detailed-exitcode")
        #expect(plan.status == 2, "a dead agent must not plan as no changes: \(plan.out)\(plan.err)")
        #expect(plan.out.contains("ready_replicas") && plan.err.contains("not served"), "\(plan.out)\(plan.err)")

        let restore = try await cli.run("apply", "--auto-approve")
        #expect(restore.status == 0, "\(restore.out)\(restore.err)")
        #expect(agent.runningPID() != nil)
        let reply = try await client.execute(port: port, path: "/predict", body: ByteBuffer(string: #"{"instances": [[1, 1]]}"#), timeout: 10)
        #expect(reply.status == 200, "\(String(buffer: reply.body))")
        #expect(try await cli.run("plan", "--detailed-exitcode").status == 0)
    }

    /// An MLflow model folder (`MLmodel` as `mlflow.xgboost.save_model` writes it, the model as
    /// `model.ubj`) is a model version in the spec; the agent serves it, and the answers equal
    /// XGBoost's own predictions (the parity fixture's), in JSON and in binary tensors.
    @Test func anMLflowXGBoostDirectoryIsServedFromTheSpec() async throws {
        let scratch = AgentScratch()
        defer { scratch.cleanUp() }
        let (dir, cli, port, client, agent) = (scratch.dir, scratch.cli, scratch.port, scratch.client, scratch.agent)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ModelServingTests/Fixtures")
        let folder = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("binary.model.ubj"), to: folder.appendingPathComponent("model.ubj"))
        try """
            flavors:
              python_function:
                data: model.ubj
                env:
                  conda: conda.yaml
                  virtualenv: python_env.yaml
                loader_module: mlflow.xgboost
                python_version: 3.11.7
              xgboost:
                code: null
                data: model.ubj
                model_class: xgboost.core.Booster
                model_format: ubj
                xgb_version: 3.2.0
            mlflow_version: 3.17.2
            model_id: null
            model_uuid: 60c5324c37f941f09337969c4d336726
            utc_time_created: '2026-12-01 22:35:53.098775'

            """.write(to: folder.appendingPathComponent("MLmodel"), atomically: true, encoding: .utf8)
        try "xgboost==3.2.0\n".write(to: folder.appendingPathComponent("requirements.txt"), atomically: true, encoding: .utf8)
        let apply = try await scratch.apply(scratch.spec(project: "mlflow-dir", model: "fraud", version: #"{ model: "${model.fraud}", artifact: model }"#))
        #expect(apply.status == 0, "\(apply.out)\(apply.err)")
        guard apply.status == 0 else { throw CancellationError() }

        struct Cases: Decodable {
            var inputs: [[Float?]]
            var prediction: [[Double]]
        }
        let cases = try JSONDecoder().decode(Cases.self, from: Data(contentsOf: fixtures.appendingPathComponent("binary.cases.json")))
        let rows = Array(cases.inputs.prefix(8))
        let expected = cases.prediction.prefix(8).map { $0[0] }
        let data = rows.flatMap { $0.map { $0.map { "\($0)" } ?? "null" } }.joined(separator: ",")
        let json = #"{"inputs": [{"name": "x", "shape": [\#(rows.count), 6], "datatype": "FP32", "data": [\#(data)]}]}"#
        let reply = try await client.execute(port: port, path: "/v2/models/fraud/infer", body: ByteBuffer(string: json), timeout: 10)
        let answer = try JSONSerialization.jsonObject(with: Data(reply.body.readableBytesView)) as? [String: Any]
        let got = ((answer?["outputs"] as? [[String: Any]])?.first?["data"] as? [Double]) ?? []
        #expect(got.count == expected.count && zip(got, expected).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(String(buffer: reply.body)) vs \(expected)")

        let header = #"{"inputs": [{"name": "x", "shape": [\#(rows.count), 6], "datatype": "FP32", "parameters": {"binary_data_size": \#(rows.count * 24)}}], "parameters": {"binary_data_output": true}}"#
        var body = ByteBuffer(string: header)
        for v in rows.joined() { body.writeInteger((v ?? .nan).bitPattern, endianness: .little) }
        let binary = try await client.execute(port: port, path: "/v2/models/fraud/infer", body: body, contentType: "application/octet-stream",
                                              headers: [("Inference-Header-Content-Length", String(header.utf8.count))], timeout: 10)
        let length = try #require(binary.headers.first(name: "Inference-Header-Content-Length").flatMap { Int($0) }, "\(String(buffer: binary.body))")
        var tensor = binary.body
        tensor.moveReaderIndex(forwardBy: length)
        var floats: [Double] = []
        while let bits = tensor.readInteger(endianness: .little, as: UInt32.self) { floats.append(Double(Float(bitPattern: bits))) }
        #expect(floats.count == expected.count && zip(floats, expected).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(floats) vs \(expected)")
        let config = try await client.execute(port: port, method: .GET, path: "/v2/models/fraud/versions/1/config", timeout: 10)
        #expect(config.status == 200 && String(buffer: config.body).contains(#""platform":"xgboost-ubj""#), "\(String(buffer: config.body))")
    }

    /// A scratch directory for a spec, its `mlinfra` CLI, a free endpoint port and the agent that
    /// apply starts; `cleanUp` stops the agent (SIGKILL if it will not stop) and removes the directory.
    struct AgentScratch {
        let dir = temporaryDirectory()
        let port = freePort()
        let client = HTTPClientPool()
        var cli: CLI { CLI(binary: TestBinary.path!, directory: dir) }
        var agent: AgentProcess { AgentProcess(dataDirectory: dir.appendingPathComponent(".mlinfra")) }

        /// A spec of a registry, one model with `version` (a model_version's attributes) and an endpoint of one replica serving it on `port`.
        func spec(project: String, model: String, version: String) -> String {
            """
            mlinfra: 1
            project: \(project)
            providers:
              local: { data_dir: .mlinfra }
            resources:
              registry.main: {}
              model.\(model): { registry: "${registry.main}" }
              model_version.v1: \(version)
              endpoint.\(model):
                model: ${model_version.v1.uri}
                port: \(port)
                replicas: { min: 1, max: 1 }
                ready_timeout: 60s
            """
        }

        /// Writes `spec` as main.yaml and applies it.
        func apply(_ spec: String) async throws -> CLI.Run {
            try spec.write(to: dir.appendingPathComponent("main.yaml"), atomically: true, encoding: .utf8)
            return try await cli.run("apply", "--auto-approve")
        }

        func cleanUp() {
            if let pid = agent.runningPID(), (try? agent.stop(timeout: 15)) == nil { kill(pid, SIGKILL) }
            client.closeIdle()
            try? FileManager.default.removeItem(at: dir)
        }
    }

    /// Whether a pid is still an `endpoints replica` process (not a recycled pid).
    static func isReplica(_ pid: Int32) -> Bool {
        guard let cmdline = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")) else { return false }
        return String(decoding: cmdline, as: UTF8.self).contains("replica")
    }
}
